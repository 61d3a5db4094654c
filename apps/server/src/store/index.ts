/**
 * The local SQLite store: session history, session events, request records, profiles, settings.
 * `openStore()` applies migrations, then hands out a Prisma client (Rust-free, better-sqlite3 adapter).
 */
import fs from "node:fs";
import path from "node:path";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import { GefyraError, describeCause } from "../core/errors";
import { PrismaClient, type Profile, type RequestRecord, type Session, type SessionEvent } from "./generated/client";
import { migrateStore, readMigrations } from "./migrate";
import { MIGRATIONS_DIR, STORE_FILE_NAME, resolveDataDir } from "./paths";
import { openRequestWriter, type RequestRecordInput, type RequestWriter, type SettingWrite } from "./request-writer";
import { openSeriesReader, type SeriesCell, type SeriesQuery, type SeriesReader } from "./series-reader";
import { statsView, type SessionStatsView } from "./stats";

export type { Profile, RequestRecord, Session, SessionEvent } from "./generated/client";
export { resolveDataDir, STORE_FILE_NAME } from "./paths";
export type { SessionStatsView } from "./stats";
export type { RequestRecordInput, SettingWrite } from "./request-writer";

export type SessionKind = "connection" | "run" | "bridge";

export interface OpenStoreOptions {
  /** Directory of gefyra.db; default GEFYRA_DATA_DIR or $XDG_DATA_HOME/gefyra-ts. */
  dataDir?: string;
  /** Override for tests. */
  migrationsDir?: string;
}

export interface StartSessionInput {
  kind: SessionKind;
  context?: string | null;
  namespace?: string | null;
  target?: string | null;
  user?: string | null;
}

export interface SessionEventInput {
  type: string;
  message: string;
  data?: unknown;
  at?: Date;
}

export interface ListSessionsInput {
  kind?: SessionKind;
  limit?: number;
  /** Only sessions that have not ended. */
  activeOnly?: boolean;
}

export interface ProfileInput {
  name: string;
  description?: string | null;
  /** validated by the caller (zod schema in @gefyra/shared) */
  spec: unknown;
}

export interface Store {
  readonly file: string;
  readonly prisma: PrismaClient;
  startSession(input: StartSessionInput): Promise<Session>;
  endSession(id: string, stopReason?: string): Promise<Session>;
  recordSessionEvent(sessionId: string, event: SessionEventInput): Promise<SessionEvent>;
  listSessions(input?: ListSessionsInput): Promise<Session[]>;
  listSessionEvents(sessionId: string): Promise<SessionEvent[]>;
  /**
   * Idempotent per (sessionId, seq): a replayed record is ignored. Returns how many were new.
   * `settings` are written in the same transaction (a writer's cursor moves with its rows).
   */
  recordRequests(records: readonly RequestRecordInput[], settings?: readonly SettingWrite[]): Promise<number>;
  listRequests(input: { sessionId?: string; bridge?: string; afterSeq?: number; limit?: number }): Promise<RequestRecord[]>;
  /** Request counts, errors and latency buckets over time, aggregated in SQLite (./series-reader). */
  seriesCells(query: SeriesQuery): SeriesCell[];
  /** Traffic figures of sessions that stored request records (others are absent from the map). */
  sessionStats(sessionIds: readonly string[]): Promise<Map<string, SessionStatsView>>;
  saveProfile(input: ProfileInput): Promise<Profile>;
  listProfiles(): Promise<Profile[]>;
  deleteProfile(name: string): Promise<boolean>;
  getSetting(key: string): Promise<string | null>;
  setSetting(key: string, value: string): Promise<void>;
  close(): Promise<void>;
}

export async function openStore(options: OpenStoreOptions = {}): Promise<Store> {
  const dir = resolveDataDir(options.dataDir);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (cause) {
    throw new GefyraError("STORE_OPEN_FAILED", `Cannot create the data directory ${dir} (${describeCause(cause)}): check its permissions or set GEFYRA_DATA_DIR.`, { cause });
  }
  const file = path.join(dir, STORE_FILE_NAME);
  migrateStore(file, readMigrations(options.migrationsDir ?? MIGRATIONS_DIR));

  const prisma = new PrismaClient({ adapter: new PrismaBetterSQLite3({ url: `file:${file}`, timeout: 5000 }) });
  await prisma.$connect();
  return createStore(file, prisma, openRequestWriter(file), openSeriesReader(file));
}

function createStore(file: string, prisma: PrismaClient, writer: RequestWriter, seriesReader: SeriesReader): Store {
  return {
    file,
    prisma,
    startSession: (input) =>
      prisma.session.create({
        data: { kind: input.kind, context: input.context ?? null, namespace: input.namespace ?? null, target: input.target ?? null, user: input.user ?? null },
      }),
    endSession: (id, stopReason) => prisma.session.update({ where: { id }, data: { endedAt: new Date(), stopReason: stopReason ?? null } }),
    recordSessionEvent: (sessionId, event) =>
      prisma.sessionEvent.create({
        data: {
          sessionId,
          type: event.type,
          message: event.message,
          data: event.data === undefined ? null : JSON.stringify(event.data),
          ...(event.at ? { at: event.at } : {}),
        },
      }),
    listSessions: (input = {}) =>
      prisma.session.findMany({
        where: { ...(input.kind ? { kind: input.kind } : {}), ...(input.activeOnly ? { endedAt: null } : {}) },
        orderBy: { startedAt: "desc" },
        take: Math.min(Math.max(input.limit ?? 100, 1), 1000),
      }),
    listSessionEvents: (sessionId) => prisma.sessionEvent.findMany({ where: { sessionId }, orderBy: [{ at: "asc" }, { id: "asc" }] }),
    recordRequests: (records, settings) => writer.write(records, settings),
    seriesCells: (query) => seriesReader.read(query),
    listRequests: (input) =>
      prisma.requestRecord.findMany({
        where: {
          ...(input.sessionId ? { sessionId: input.sessionId } : {}),
          ...(input.bridge ? { bridge: input.bridge } : {}),
          ...(input.afterSeq !== undefined ? { seq: { gt: input.afterSeq } } : {}),
        },
        orderBy: [{ at: "asc" }, { seq: "asc" }],
        take: Math.min(Math.max(input.limit ?? 500, 1), 5000),
      }),
    sessionStats: async (sessionIds) => {
      const rows = sessionIds.length ? await prisma.sessionStats.findMany({ where: { sessionId: { in: [...sessionIds] } } }) : [];
      return new Map(rows.map((row) => [row.sessionId, statsView(row)]));
    },
    saveProfile: (input) => {
      const data = { description: input.description ?? null, spec: JSON.stringify(input.spec) };
      return prisma.profile.upsert({ where: { name: input.name }, create: { name: input.name, ...data }, update: data });
    },
    listProfiles: () => prisma.profile.findMany({ orderBy: { name: "asc" } }),
    deleteProfile: async (name) => (await prisma.profile.deleteMany({ where: { name } })).count > 0,
    getSetting: async (key) => (await prisma.setting.findUnique({ where: { key } }))?.value ?? null,
    setSetting: async (key, value) => {
      await prisma.setting.upsert({ where: { key }, create: { key, value }, update: { value } });
    },
    close: async () => {
      writer.close();
      seriesReader.close();
      await prisma.$disconnect();
    },
  };
}
