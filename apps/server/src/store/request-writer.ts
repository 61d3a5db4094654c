/**
 * The hot path of the store: request records and their sessions' figures, written with prepared
 * statements on a connection of its own instead of through the Prisma client (decision 0024).
 *
 * Why: a bridge under load hands the store hundreds of records a second. Through the Prisma
 * client (query compiler in JS, driver adapter) a row cost 0.3–0.8 ms of the event loop, which the
 * live feed, the dashboard's requests and Carrier's streams share. A prepared INSERT costs a few
 * tens of microseconds. Prisma still owns the schema, the migrations and every other query; the
 * columns written here are those of `RequestRecord` and `SessionStats` in prisma/schema.prisma,
 * in the encodings Prisma's SQLite adapter uses (ISO dates with `+00:00`, booleans as 0/1).
 *
 * The write is synchronous (better-sqlite3) and never waits for a lock on the event loop: the
 * connection's busy timeout is 0 and a busy database (a Prisma transaction of this process in
 * flight, another gefyra process writing) is retried after a short pause, asynchronously.
 */
import Database from "better-sqlite3";
import { addLatency, parseHistogram, percentile, recordSize } from "./stats";

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

/** A setting written in the same transaction as the rows (e.g. where a writer's cursor stands). */
export interface SettingWrite {
  key: string;
  value: string;
}

/** Prisma's SQLite adapter stores DateTime as ISO 8601 text with an explicit offset. */
export const sqliteDate = (d: Date): string => d.toISOString().replace("Z", "+00:00");

const COLUMNS = [
  "sessionId", "bridge", "seq", "at", "method", "path", "status", "ttfbMs", "durationMs", "bytesIn", "bytesOut", "route", "error",
  "requestHeaders", "responseHeaders", "requestBody", "responseBody", "bodyTruncated", "kind", "port", "client", "rule", "destination", "sampled", "size",
] as const;

interface StatsRow {
  requests: number;
  errors: number;
  bytesIn: bigint;
  bytesOut: bigint;
  latencyHistogram: string;
  firstAt: string | null;
  lastAt: string | null;
  storedRequests: number;
  storedBytes: bigint;
}

interface Touched {
  requests: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  latencies: number[];
  first: string;
  last: string;
  size: number;
}

export interface RequestWriter {
  /** Idempotent per (sessionId, seq): a replayed record is ignored. Returns how many were new. */
  write(records: readonly RequestRecordInput[], settings?: readonly SettingWrite[]): Promise<number>;
  close(): void;
}

export interface RequestWriterOptions {
  /** How long a busy database is retried before the write fails. Default 10 s. */
  busyForMs?: number;
}

const isBusy = (error: unknown): boolean => {
  const code = (error as { code?: unknown }).code;
  return code === "SQLITE_BUSY" || code === "SQLITE_BUSY_SNAPSHOT" || code === "SQLITE_LOCKED";
};

export function openRequestWriter(file: string, options: RequestWriterOptions = {}): RequestWriter {
  const db = new Database(file);
  db.pragma("busy_timeout = 0");
  db.pragma("foreign_keys = ON");
  db.pragma("synchronous = NORMAL");

  type WriteAll = (records: readonly RequestRecordInput[], settings: readonly SettingWrite[]) => number;
  // prepared at the first write, not at open: the statements name the newest schema's columns,
  // and a store opened on an older schema (before its migration, in tests) must still open
  let writeAll: WriteAll | undefined;
  const prepare = (): WriteAll => {
    const insert = db.prepare(
      `INSERT INTO "RequestRecord" (${COLUMNS.map((c) => `"${c}"`).join(", ")}) VALUES (${COLUMNS.map((c) => `@${c}`).join(", ")}) ON CONFLICT ("sessionId", "seq") DO NOTHING`,
    );
    const readStats = db.prepare(`SELECT "requests", "errors", "bytesIn", "bytesOut", "latencyHistogram", "firstAt", "lastAt", "storedRequests", "storedBytes" FROM "SessionStats" WHERE "sessionId" = ?`).safeIntegers(true);
    const writeStats = db.prepare(
      `INSERT INTO "SessionStats" ("sessionId", "requests", "errors", "bytesIn", "bytesOut", "p50Ms", "p95Ms", "p99Ms", "latencyHistogram", "firstAt", "lastAt", "storedRequests", "storedBytes")
       VALUES (@sessionId, @requests, @errors, @bytesIn, @bytesOut, @p50Ms, @p95Ms, @p99Ms, @latencyHistogram, @firstAt, @lastAt, @storedRequests, @storedBytes)
       ON CONFLICT ("sessionId") DO UPDATE SET "requests" = excluded."requests", "errors" = excluded."errors", "bytesIn" = excluded."bytesIn", "bytesOut" = excluded."bytesOut",
         "p50Ms" = excluded."p50Ms", "p95Ms" = excluded."p95Ms", "p99Ms" = excluded."p99Ms", "latencyHistogram" = excluded."latencyHistogram", "firstAt" = excluded."firstAt",
         "lastAt" = excluded."lastAt", "storedRequests" = excluded."storedRequests", "storedBytes" = excluded."storedBytes"`,
    );
    const writeSetting = db.prepare(`INSERT INTO "Setting" ("key", "value") VALUES (?, ?) ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value"`);

    const transaction = db.transaction((records: readonly RequestRecordInput[], settings: readonly SettingWrite[]): number => {
      const touched = new Map<string, Touched>();
      let inserted = 0;
      for (const r of records) {
        const at = sqliteDate(r.at);
        const row = {
          sessionId: r.sessionId,
          bridge: r.bridge,
          seq: r.seq,
          at,
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
          requestBody: r.requestBody ? Buffer.from(r.requestBody.buffer, r.requestBody.byteOffset, r.requestBody.byteLength) : null,
          responseBody: r.responseBody ? Buffer.from(r.responseBody.buffer, r.responseBody.byteOffset, r.responseBody.byteLength) : null,
          bodyTruncated: r.bodyTruncated ? 1 : 0,
          kind: r.kind ?? "http",
          port: r.port ?? null,
          client: r.client ?? null,
          rule: r.rule ?? null,
          destination: r.destination ?? null,
          sampled: r.sampled ? 1 : 0,
          size: 0,
        };
        row.size = recordSize(row);
        // a replay (same session and seq) inserts nothing and counts nothing
        if (insert.run(row).changes === 0) continue;
        inserted++;
        let t = touched.get(r.sessionId);
        if (!t) touched.set(r.sessionId, (t = { requests: 0, errors: 0, bytesIn: 0, bytesOut: 0, latencies: [], first: at, last: at, size: 0 }));
        t.requests++;
        if (r.error || (r.status ?? 0) >= 500) t.errors++;
        t.bytesIn += row.bytesIn;
        t.bytesOut += row.bytesOut;
        if (typeof r.durationMs === "number" && Number.isFinite(r.durationMs)) t.latencies.push(r.durationMs);
        // same offset everywhere, so the text compares as the time does
        if (at < t.first) t.first = at;
        if (at > t.last) t.last = at;
        t.size += row.size;
      }
      for (const [sessionId, t] of touched) {
        const current = readStats.get(sessionId) as StatsRow | undefined;
        const histogram = parseHistogram(current?.latencyHistogram);
        for (const ms of t.latencies) addLatency(histogram, ms);
        writeStats.run({
          sessionId,
          requests: Number(current?.requests ?? 0) + t.requests,
          errors: Number(current?.errors ?? 0) + t.errors,
          bytesIn: (current?.bytesIn ?? 0n) + BigInt(t.bytesIn),
          bytesOut: (current?.bytesOut ?? 0n) + BigInt(t.bytesOut),
          p50Ms: percentile(histogram, 50),
          p95Ms: percentile(histogram, 95),
          p99Ms: percentile(histogram, 99),
          latencyHistogram: JSON.stringify(histogram),
          firstAt: current?.firstAt && Date.parse(current.firstAt) < Date.parse(t.first) ? current.firstAt : t.first,
          lastAt: current?.lastAt && Date.parse(current.lastAt) > Date.parse(t.last) ? current.lastAt : t.last,
          storedRequests: Number(current?.storedRequests ?? 0) + t.requests,
          storedBytes: (current?.storedBytes ?? 0n) + BigInt(t.size),
        });
      }
      for (const s of settings) writeSetting.run(s.key, s.value);
      return inserted;
    });
    // BEGIN IMMEDIATE: the write lock is taken first, so a busy database fails before any row is written
    return (records, settings) => transaction.immediate(records, settings);
  };

  const busyForMs = options.busyForMs ?? 10_000;
  let closed = false;
  return {
    async write(records, settings = []) {
      const deadline = Date.now() + busyForMs;
      for (let pause = 2; ; pause = Math.min(pause * 2, 100)) {
        if (closed) throw new Error("the store is closed");
        try {
          writeAll ??= prepare();
          return writeAll(records, settings);
        } catch (error) {
          if (!isBusy(error) || Date.now() >= deadline) throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    },
    close() {
      closed = true;
      db.close();
    },
  };
}
