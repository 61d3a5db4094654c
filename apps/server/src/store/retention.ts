/**
 * History retention: the store keeps sessions for `days` (default 14) and request records up to
 * `mb` (default 200 MB), whichever limit is hit first. Limits come from GEFYRA_HISTORY_RETENTION_DAYS
 * / GEFYRA_HISTORY_RETENTION_MB, else the settings table (`gefyra history --keep-days/--keep-mb`),
 * else the defaults; 0 switches a limit off.
 *
 * Enforcement runs in the background in small batches, each its own short transaction with a
 * pause after it, so the dashboard and the record ingest never wait behind one long delete:
 * - a session nothing happened in for `days` goes whole (records, events, figures), oldest first;
 * - a session still in use keeps its row and events; its request records older than `days` go;
 * - over `mb`, the oldest sessions holding request records go first; a session that has not ended
 *   (a bridge still recording) loses its oldest records instead of the whole session.
 * Size is what the records hold (SessionStats.storedBytes: fields, headers, bodies). SQLite reuses
 * the freed pages for new records; the file itself does not shrink.
 */
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { GefyraError, describeCause } from "../core/errors";
import type { Store } from "./index";

export interface RetentionPolicy {
  /** 0: no age limit. */
  days: number;
  /** 0: no size limit. */
  mb: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { days: 14, mb: 200 };
export const RETENTION_SETTINGS = { days: "history.retentionDays", mb: "history.retentionMB" } as const;
export const RETENTION_ENV = { days: "GEFYRA_HISTORY_RETENTION_DAYS", mb: "GEFYRA_HISTORY_RETENTION_MB" } as const;
const MB = 1024 * 1024;
const DAY_MS = 86_400_000;

export interface ResolvedRetention extends RetentionPolicy {
  source: { days: "env" | "setting" | "default"; mb: "env" | "setting" | "default" };
  /** Values that were ignored (not a number, negative), one sentence each. */
  problems: string[];
}

function limit(raw: string | null | undefined): number | undefined {
  if (raw === null || raw === undefined || raw.trim() === "") return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : Number.NaN;
}

/** The limits in force and where each came from. */
export async function resolveRetention(store: Store, env: Readonly<Record<string, string | undefined>> = process.env): Promise<ResolvedRetention> {
  const problems: string[] = [];
  const resolved: ResolvedRetention = { ...DEFAULT_RETENTION, source: { days: "default", mb: "default" }, problems };
  for (const key of ["days", "mb"] as const) {
    const fromEnv = limit(env[RETENTION_ENV[key]]);
    if (fromEnv !== undefined && !Number.isNaN(fromEnv)) {
      resolved[key] = fromEnv;
      resolved.source[key] = "env";
      continue;
    }
    if (Number.isNaN(fromEnv)) problems.push(`${RETENTION_ENV[key]}="${env[RETENTION_ENV[key]]}" is not a number >= 0 and was ignored`);
    const stored = await store.getSetting(RETENTION_SETTINGS[key]).catch(() => null);
    const fromSetting = limit(stored);
    if (fromSetting !== undefined && !Number.isNaN(fromSetting)) {
      resolved[key] = fromSetting;
      resolved.source[key] = "setting";
    } else if (Number.isNaN(fromSetting)) problems.push(`the stored setting ${RETENTION_SETTINGS[key]}="${stored}" is not a number >= 0 and was ignored`);
  }
  return resolved;
}

/** Saves limits in the settings table (the environment variables still win when set). */
export async function setRetention(store: Store, change: Partial<RetentionPolicy>): Promise<void> {
  for (const key of ["days", "mb"] as const) {
    const value = change[key];
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value < 0) {
      throw new GefyraError("INVALID_RETENTION", `History retention ${key === "days" ? "days" : "MB"} must be a number >= 0 (0 = no limit), got ${value}.`);
    }
    await store.setSetting(RETENTION_SETTINGS[key], String(value));
  }
}

export interface RetentionResult {
  sessionsDeleted: number;
  requestsDeleted: number;
  eventsDeleted: number;
  bytesFreed: number;
  /** What request records hold after the run. */
  storedBytes: number;
  /** Delete statements run (each its own short transaction). */
  batches: number;
}

export interface EnforceOptions {
  policy?: RetentionPolicy;
  now?: Date;
  /** Rows per delete. Default 500. */
  batchSize?: number;
  signal?: AbortSignal;
  /** Runs after each batch; default yields to the event loop. */
  pause?: () => Promise<void>;
}

interface SessionRow {
  id: string;
  startedAt: Date;
  endedAt: Date | null;
  lastActivity: number;
  storedBytes: number;
  firstRecordAt: Date | null;
}

/** Applies the policy once; returns what it removed. Stops between batches when `signal` aborts. */
export async function enforceRetention(store: Store, options: EnforceOptions = {}): Promise<RetentionResult> {
  const { prisma } = store;
  const policy = options.policy ?? (await resolveRetention(store));
  const now = (options.now ?? new Date()).getTime();
  const batchSize = Math.max(1, options.batchSize ?? 500);
  const pause = options.pause ?? (() => yieldToEventLoop());
  const result: RetentionResult = { sessionsDeleted: 0, requestsDeleted: 0, eventsDeleted: 0, bytesFreed: 0, storedBytes: 0, batches: 0 };
  const aborted = () => options.signal?.aborted === true;

  const sessions = await loadSessions(store);

  async function step(): Promise<void> {
    result.batches++;
    await pause();
  }

  /** Deletes up to batchSize of the session's oldest records (before `before`, if given); returns the bytes freed, 0 when none were left. */
  async function trimBatch(sessionId: string, before?: Date): Promise<number> {
    const rows = await prisma.requestRecord.findMany({
      where: { sessionId, ...(before ? { at: { lt: before } } : {}) },
      orderBy: { at: "asc" },
      take: batchSize,
      select: { id: true, size: true },
    });
    if (!rows.length) return 0;
    const bytes = rows.reduce((sum, r) => sum + r.size, 0);
    await prisma.$transaction([
      prisma.requestRecord.deleteMany({ where: { id: { in: rows.map((r) => r.id) } } }),
      prisma.sessionStats.updateMany({ where: { sessionId }, data: { storedBytes: { decrement: BigInt(bytes) }, storedRequests: { decrement: rows.length } } }),
    ]);
    result.requestsDeleted += rows.length;
    result.bytesFreed += bytes;
    await step();
    return Math.max(bytes, 1);
  }

  async function deleteSession(s: SessionRow): Promise<void> {
    while (!aborted() && (await trimBatch(s.id)) > 0);
    while (!aborted()) {
      const events = await prisma.sessionEvent.findMany({ where: { sessionId: s.id }, orderBy: { id: "asc" }, take: batchSize, select: { id: true } });
      if (!events.length) break;
      await prisma.sessionEvent.deleteMany({ where: { id: { in: events.map((e) => e.id) } } });
      result.eventsDeleted += events.length;
      await step();
    }
    if (aborted()) return;
    // the records and events are gone: this removes the row and its figures only
    await prisma.session.deleteMany({ where: { id: s.id } });
    result.sessionsDeleted++;
    await step();
  }

  const kept: SessionRow[] = [];
  if (policy.days > 0) {
    const cutoff = new Date(now - policy.days * DAY_MS);
    for (const s of sessions) {
      if (aborted()) break;
      if (s.lastActivity < cutoff.getTime()) {
        await deleteSession(s);
        continue;
      }
      kept.push(s);
      if (s.firstRecordAt && s.firstRecordAt < cutoff) {
        let freed = 0;
        let n: number;
        while (!aborted() && (n = await trimBatch(s.id, cutoff)) > 0) freed += n;
        s.storedBytes = Math.max(0, s.storedBytes - freed);
      }
    }
  } else kept.push(...sessions);

  if (policy.mb > 0 && !aborted()) {
    const max = policy.mb * MB;
    let total = await storedBytes(store);
    for (const s of kept) {
      if (total <= max || aborted()) break;
      if (s.storedBytes <= 0) continue; // a session without records frees nothing
      if (s.endedAt) {
        const before = await sessionStoredBytes(store, s.id);
        await deleteSession(s);
        total -= before;
        continue;
      }
      // a session still recording: only its oldest records go, until the store is under the limit
      let n: number;
      while (total > max && !aborted() && (n = await trimBatch(s.id)) > 0) total -= n;
    }
  }
  result.storedBytes = await storedBytes(store);
  return result;
}

async function storedBytes(store: Store): Promise<number> {
  const sum = await store.prisma.sessionStats.aggregate({ _sum: { storedBytes: true } });
  return Number(sum._sum.storedBytes ?? 0n);
}

async function sessionStoredBytes(store: Store, sessionId: string): Promise<number> {
  const row = await store.prisma.sessionStats.findUnique({ where: { sessionId }, select: { storedBytes: true } });
  return Number(row?.storedBytes ?? 0n);
}

/** Every session, oldest first, with the time anything last happened in it. */
async function loadSessions(store: Store): Promise<SessionRow[]> {
  const { prisma } = store;
  const [sessions, lastEvents] = await Promise.all([
    prisma.session.findMany({
      orderBy: { startedAt: "asc" },
      select: { id: true, startedAt: true, endedAt: true, stats: { select: { lastAt: true, firstAt: true, storedBytes: true } } },
    }),
    prisma.sessionEvent.groupBy({ by: ["sessionId"], _max: { at: true } }),
  ]);
  const lastEvent = new Map(lastEvents.map((e) => [e.sessionId, e._max.at?.getTime() ?? 0]));
  return sessions.map((s) => ({
    id: s.id,
    startedAt: s.startedAt,
    endedAt: s.endedAt,
    lastActivity: Math.max(s.startedAt.getTime(), s.endedAt?.getTime() ?? 0, s.stats?.lastAt?.getTime() ?? 0, lastEvent.get(s.id) ?? 0),
    storedBytes: Number(s.stats?.storedBytes ?? 0n),
    firstRecordAt: s.stats?.firstAt ?? null,
  }));
}

export interface RetentionRunner {
  /** Runs now (or waits for the run in progress, then runs again). */
  runNow(): Promise<RetentionResult>;
  /** Asks for a run soon, e.g. after a large batch of records; several nudges make one run. */
  nudge(): void;
  stop(): Promise<void>;
}

export interface StartRetentionOptions {
  /** Between runs. Default 10 minutes. */
  intervalMs?: number;
  /** Before the first run (startup stays fast). Default 15 s. */
  firstRunMs?: number;
  /** Delay of a nudged run. Default 2 s. */
  nudgeMs?: number;
  env?: Readonly<Record<string, string | undefined>>;
  log?: (line: string) => void;
  batchSize?: number;
}

/** Enforces the policy in the background until stop(); failures are logged, never thrown. */
export function startRetention(store: Store, options: StartRetentionOptions = {}): RetentionRunner {
  const log = options.log ?? (() => undefined);
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<RetentionResult> | undefined;
  let reported = "";

  const schedule = (ms: number) => {
    if (controller.signal.aborted) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void run().catch(() => undefined), ms);
    timer.unref();
  };

  const once = async (): Promise<RetentionResult> => {
    const policy = await resolveRetention(store, options.env);
    const problems = policy.problems.join("; ");
    if (problems && problems !== reported) log(`history retention: ${problems}`);
    reported = problems;
    const r = await enforceRetention(store, { policy, signal: controller.signal, ...(options.batchSize ? { batchSize: options.batchSize } : {}) });
    if (r.sessionsDeleted || r.requestsDeleted) {
      log(
        `history retention (${policy.days || "no"} days, ${policy.mb || "no"} MB limit): removed ${r.sessionsDeleted} session(s), ${r.requestsDeleted} request record(s), ${(r.bytesFreed / MB).toFixed(1)} MB; ${(r.storedBytes / MB).toFixed(1)} MB kept`,
      );
    }
    return r;
  };

  const run = async (): Promise<RetentionResult> => {
    while (running) await running.catch(() => undefined);
    const current = once();
    running = current;
    try {
      return await current;
    } catch (error) {
      log(`history retention failed (${describeCause(error)}); it is retried at the next run`);
      throw error;
    } finally {
      running = undefined;
      schedule(options.intervalMs ?? 600_000);
    }
  };

  schedule(options.firstRunMs ?? 15_000);
  return {
    runNow: run,
    nudge: () => {
      if (!running) schedule(options.nudgeMs ?? 2000);
    },
    stop: async () => {
      controller.abort();
      if (timer) clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
