/**
 * The local SQLite store: session history, session events, request records, profiles, settings.
 * `openStore()` applies migrations, then hands out a Prisma client (Rust-free, better-sqlite3 adapter).
 */
import fs from "node:fs";
import path from "node:path";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import { GefyraError, describeCause } from "../core/errors";
import { PrismaClient, type Prisma, type Profile, type RequestRecord, type Session, type SessionEvent } from "./generated/client";
import { migrateStore, readMigrations } from "./migrate";
import { MIGRATIONS_DIR, STORE_FILE_NAME, resolveDataDir } from "./paths";
import { addLatency, parseHistogram, percentile, recordSize, statsView, type SessionStatsView } from "./stats";

export type { Profile, RequestRecord, Session, SessionEvent } from "./generated/client";
export { resolveDataDir, STORE_FILE_NAME } from "./paths";
export type { SessionStatsView } from "./stats";

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

/** One request seen on a bridge; headers/bodies must already be capped and redacted by the caller. */
export interface RequestRecordInput {
  sessionId: string;
  bridge: string;
  seq: number;
  at: Date;
  method: string;
  path: string;
  status?: number | null;
  ttfbMs?: number | null;
  durationMs?: number | null;
  bytesIn?: number;
  bytesOut?: number;
  /** Carrier's route.to (local, original, carrier); "cluster" and "tcp" are older spellings. */
  route: "local" | "original" | "carrier" | "cluster" | "tcp";
  error?: string | null;
  /** Pairs in wire order (as Carrier records them), or a name → value(s) map. */
  requestHeaders?: Record<string, string | string[]> | readonly (readonly [string, string])[] | null;
  responseHeaders?: Record<string, string | string[]> | readonly (readonly [string, string])[] | null;
  requestBody?: Uint8Array | null;
  responseBody?: Uint8Array | null;
  bodyTruncated?: boolean;
  kind?: "http" | "ws" | "h2" | "tcp";
  port?: number | null;
  client?: string | null;
  rule?: string | null;
  destination?: string | null;
  sampled?: boolean;
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
  /** Idempotent per (sessionId, seq): a replayed record is ignored. Returns how many were new. */
  recordRequests(records: RequestRecordInput[]): Promise<number>;
  listRequests(input: { sessionId?: string; bridge?: string; afterSeq?: number; limit?: number }): Promise<RequestRecord[]>;
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
  return createStore(file, prisma);
}

function createStore(file: string, prisma: PrismaClient): Store {
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
    recordRequests: async (records) => {
      // one short transaction per batch: the new rows and the figures of their sessions move together
      return prisma.$transaction(async (tx) => {
        const touched = new Map<string, { requests: number; errors: number; bytesIn: number; bytesOut: number; latencies: number[]; first: Date; last: Date; size: number }>();
        // replays (same session and seq) are skipped: one lookup per session, one insert for all new rows
        const seen = new Set<string>();
        const bySession = new Map<string, number[]>();
        for (const r of records) {
          const seqs = bySession.get(r.sessionId) ?? [];
          seqs.push(r.seq);
          bySession.set(r.sessionId, seqs);
        }
        for (const [sessionId, seqs] of bySession) {
          for (let i = 0; i < seqs.length; i += 500) {
            const existing = await tx.requestRecord.findMany({ where: { sessionId, seq: { in: seqs.slice(i, i + 500) } }, select: { seq: true } });
            for (const e of existing) seen.add(`${sessionId}\u0000${e.seq}`);
          }
        }
        const rows: Prisma.RequestRecordCreateManyInput[] = [];
        for (const r of records) {
          const key = `${r.sessionId}\u0000${r.seq}`;
          if (seen.has(key)) continue;
          seen.add(key);
          const data = {
            sessionId: r.sessionId,
            bridge: r.bridge,
            seq: r.seq,
            at: r.at,
            method: r.method,
            path: r.path,
            status: r.status ?? null,
            ttfbMs: r.ttfbMs ?? null,
            durationMs: r.durationMs ?? null,
            bytesIn: r.bytesIn ?? 0,
            bytesOut: r.bytesOut ?? 0,
            route: r.route,
            error: r.error ?? null,
            requestHeaders: r.requestHeaders ? JSON.stringify(r.requestHeaders) : null,
            responseHeaders: r.responseHeaders ? JSON.stringify(r.responseHeaders) : null,
            requestBody: r.requestBody ? new Uint8Array(r.requestBody) : null,
            responseBody: r.responseBody ? new Uint8Array(r.responseBody) : null,
            bodyTruncated: r.bodyTruncated ?? false,
            kind: r.kind ?? "http",
            port: r.port ?? null,
            client: r.client ?? null,
            rule: r.rule ?? null,
            destination: r.destination ?? null,
            sampled: r.sampled ?? false,
          };
          const size = recordSize(data);
          rows.push({ ...data, size });
          const t = touched.get(r.sessionId) ?? { requests: 0, errors: 0, bytesIn: 0, bytesOut: 0, latencies: [], first: r.at, last: r.at, size: 0 };
          t.requests++;
          if (r.error || (r.status ?? 0) >= 500) t.errors++;
          t.bytesIn += data.bytesIn;
          t.bytesOut += data.bytesOut;
          if (typeof r.durationMs === "number" && Number.isFinite(r.durationMs)) t.latencies.push(r.durationMs);
          if (r.at < t.first) t.first = r.at;
          if (r.at > t.last) t.last = r.at;
          t.size += size;
          touched.set(r.sessionId, t);
        }
        if (rows.length) await tx.requestRecord.createMany({ data: rows });
        for (const [sessionId, t] of touched) {
          const current = await tx.sessionStats.findUnique({ where: { sessionId } });
          const histogram = parseHistogram(current?.latencyHistogram);
          for (const ms of t.latencies) addLatency(histogram, ms);
          const figures = {
            requests: (current?.requests ?? 0) + t.requests,
            errors: (current?.errors ?? 0) + t.errors,
            bytesIn: (current?.bytesIn ?? 0n) + BigInt(t.bytesIn),
            bytesOut: (current?.bytesOut ?? 0n) + BigInt(t.bytesOut),
            p50Ms: percentile(histogram, 50),
            p95Ms: percentile(histogram, 95),
            p99Ms: percentile(histogram, 99),
            latencyHistogram: JSON.stringify(histogram),
            firstAt: current?.firstAt && current.firstAt < t.first ? current.firstAt : t.first,
            lastAt: current?.lastAt && current.lastAt > t.last ? current.lastAt : t.last,
            storedRequests: (current?.storedRequests ?? 0) + t.requests,
            storedBytes: (current?.storedBytes ?? 0n) + BigInt(t.size),
          };
          await tx.sessionStats.upsert({ where: { sessionId }, create: { sessionId, ...figures }, update: figures });
        }
        return rows.length;
      });
    },
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
    close: () => prisma.$disconnect(),
  };
}
