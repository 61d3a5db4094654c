/**
 * History: stored request records through the filter language, one record by its store id,
 * figures over time for the charts, and bridge sessions with their totals. Every scan in JavaScript
 * is bounded (rows read and rows returned), whatever the size of the store; the charts' figures are
 * aggregated by SQLite, so their size is the number of buckets.
 */
import { parseFilter, matchRecord, type TrafficFilter } from "@gefyra/shared";
import { GefyraError } from "../errors";
import type { Store } from "../../store";
import { percentile, type LatencyHistogram } from "../../store/stats";
import { toTrafficRecord } from "../../store/traffic";
import type { FeedRecord } from "./types";

export interface StoredQuery {
  /** Sessions to read (default: every bridge session). */
  sessionIds?: string[] | undefined;
  bridge?: string | undefined;
  filter?: string | undefined;
  /** Most records returned (newest first). Default 500, at most 5000. */
  limit?: number | undefined;
  /** Only records older than this time (paging back). */
  before?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  /** Most rows read. Default 50 000. */
  scanLimit?: number | undefined;
}

export interface StoredPage {
  records: FeedRecord[];
  /** Rows read to find them. */
  scanned: number;
  /** The scan stopped at its bound before the store was exhausted: older matches may exist. */
  more: boolean;
}

/** The filter as parsed, or a GefyraError with the column (the dashboard marks it). */
export function filterOrThrow(text: string | undefined): TrafficFilter | null {
  if (!text?.trim()) return null;
  const parsed = parseFilter(text);
  if (!parsed.ok) throw new GefyraError("FILTER_INVALID", parsed.error, { details: { column: String(parsed.column) } });
  return parsed.filter;
}

type Row = Awaited<ReturnType<Store["prisma"]["requestRecord"]["findMany"]>>[number];

export function storedToFeed(row: Row, namespace = ""): FeedRecord {
  return { ...toTrafficRecord(row), id: `S${row.sessionId}:${row.seq}`, bridge: row.bridge, bridges: [row.bridge], namespace, pod: "", carrierSeq: row.seq, stored: [{ sessionId: row.sessionId, seq: row.seq }] };
}

export async function queryStored(store: Store, q: StoredQuery): Promise<StoredPage> {
  const filter = filterOrThrow(q.filter);
  const limit = Math.min(Math.max(q.limit ?? 500, 1), 5000);
  const scanLimit = q.scanLimit ?? 50_000;
  const where = {
    ...(q.sessionIds ? { sessionId: { in: q.sessionIds } } : {}),
    ...(q.bridge ? { bridge: q.bridge } : {}),
    ...(q.before || q.from || q.to
      ? { at: { ...(q.before ? { lt: new Date(q.before) } : {}), ...(q.to && !q.before ? { lte: new Date(q.to) } : {}), ...(q.from ? { gte: new Date(q.from) } : {}) } }
      : {}),
  };
  const sessions = new Map<string, string>();
  const out: FeedRecord[] = [];
  let scanned = 0;
  let cursor: number | undefined;
  for (;;) {
    const page = await store.prisma.requestRecord.findMany({
      where,
      orderBy: [{ at: "desc" }, { id: "desc" }],
      take: 1000,
      ...(cursor !== undefined ? { cursor: { id: cursor }, skip: 1 } : {}),
    });
    for (const row of page) {
      scanned++;
      const rec = storedToFeed(row);
      if (filter && !matchRecord(filter, rec)) continue;
      if (!sessions.has(row.sessionId)) {
        const s = await store.prisma.session.findUnique({ where: { id: row.sessionId }, select: { namespace: true } });
        sessions.set(row.sessionId, s?.namespace ?? "");
      }
      rec.namespace = sessions.get(row.sessionId)!;
      out.push(rec);
      if (out.length >= limit) return { records: out, scanned, more: true };
    }
    if (page.length < 1000) return { records: out, scanned, more: false };
    if (scanned >= scanLimit) return { records: out, scanned, more: true };
    cursor = page[page.length - 1]!.id;
  }
}

/** One stored record by its id ("S<session>:<seq>"). */
export async function storedRecord(store: Store, id: string): Promise<FeedRecord | undefined> {
  const m = /^S(.+):(\d+)$/.exec(id);
  if (!m) return undefined;
  const row = await store.prisma.requestRecord.findUnique({ where: { sessionId_seq: { sessionId: m[1]!, seq: Number(m[2]) } } });
  if (!row) return undefined;
  const s = await store.prisma.session.findUnique({ where: { id: row.sessionId }, select: { namespace: true } });
  return storedToFeed(row, s?.namespace ?? "");
}

export interface SeriesPoint {
  /** Start of the bucket (ISO). */
  t: string;
  requests: number;
  perSecond: number;
  errors: number;
  errorRate: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface Series {
  bridge: string | null;
  from: string;
  to: string;
  bucketMs: number;
  points: SeriesPoint[];
  /** Records counted (all of the range). */
  scanned: number;
}

/** Requests per second, error rate and latency percentiles over time, from the store (aggregated in SQLite). */
export function series(store: Store, q: { bridge?: string | undefined; sessionIds?: string[] | undefined; from: Date; to: Date; buckets?: number }): Series {
  const buckets = Math.min(Math.max(q.buckets ?? 60, 1), 600);
  const span = Math.max(q.to.getTime() - q.from.getTime(), 1000);
  const bucketMs = Math.max(1000, Math.ceil(span / buckets / 1000) * 1000);
  const n = Math.ceil(span / bucketMs);
  const count = new Array<number>(n).fill(0);
  const errors = new Array<number>(n).fill(0);
  const latency: LatencyHistogram[] = Array.from({ length: n }, () => ({}));
  let scanned = 0;
  for (const cell of store.seriesCells({ bridge: q.bridge, sessionIds: q.sessionIds, from: q.from, to: q.to, bucketMs })) {
    // a record at `to` itself belongs to the last bucket
    const i = Math.min(n - 1, cell.bucket);
    if (i < 0) continue;
    scanned += cell.count;
    count[i]! += cell.count;
    errors[i]! += cell.errors;
    if (cell.latencyBucket !== null) latency[i]![cell.latencyBucket] = (latency[i]![cell.latencyBucket] ?? 0) + cell.count;
  }
  const points: SeriesPoint[] = [];
  for (let i = 0; i < n; i++) {
    points.push({
      t: new Date(q.from.getTime() + i * bucketMs).toISOString(),
      requests: count[i]!,
      perSecond: count[i]! / (bucketMs / 1000),
      errors: errors[i]!,
      errorRate: count[i]! ? errors[i]! / count[i]! : 0,
      p50: percentile(latency[i]!, 50),
      p95: percentile(latency[i]!, 95),
      p99: percentile(latency[i]!, 99),
    });
  }
  return { bridge: q.bridge ?? null, from: q.from.toISOString(), to: q.to.toISOString(), bucketMs, points, scanned };
}
