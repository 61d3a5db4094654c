/**
 * Per-session traffic figures (requests, errors, bytes, latency p50/p95/p99), kept up to date as
 * request records are stored, so the dashboard and `gefyra history` never scan a session's rows.
 *
 * Percentiles come from a log-scale histogram (buckets 2 % wide, stored sparse as JSON): merging
 * a batch costs O(batch), memory is bounded (under 1 200 buckets from 10 µs to a day) whatever the
 * session's length, and each percentile is within about 1 % of the exact value.
 */

/** Bucket i holds latencies in [MIN_MS·GROWTH^i, MIN_MS·GROWTH^(i+1)). */
export const MIN_MS = 0.01;
export const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);

export type LatencyHistogram = Record<string, number>;

export function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  return Math.floor(Math.log(ms / MIN_MS) / LOG_GROWTH);
}

/** The bucket's geometric middle: at most half a bucket (about 1 %) from any value in it. */
function bucketValue(bucket: number): number {
  if (bucket === 0) return MIN_MS;
  return MIN_MS * GROWTH ** (bucket + 0.5);
}

export function addLatency(histogram: LatencyHistogram, ms: number): void {
  const key = String(bucketOf(ms));
  histogram[key] = (histogram[key] ?? 0) + 1;
}

/** Nearest-rank percentile (p in 0..100) over the histogram; null when it is empty. */
export function percentile(histogram: LatencyHistogram, p: number): number | null {
  const buckets = Object.entries(histogram)
    .map(([k, n]) => [Number(k), n] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = buckets.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (const [bucket, n] of buckets) {
    seen += n;
    if (seen >= rank) return Math.round(bucketValue(bucket) * 1000) / 1000;
  }
  return Math.round(bucketValue(buckets[buckets.length - 1]![0]) * 1000) / 1000;
}

export function parseHistogram(json: string | null | undefined): LatencyHistogram {
  if (!json) return {};
  try {
    const value = JSON.parse(json) as unknown;
    return value && typeof value === "object" ? (value as LatencyHistogram) : {};
  } catch {
    // a damaged histogram only costs the percentiles; counting starts again
    return {};
  }
}

/** What the dashboard and the CLI show for a session. */
export interface SessionStatsView {
  requests: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
  firstAt: Date | null;
  lastAt: Date | null;
  /** What the store still holds for the session (retention may have removed older records). */
  storedRequests: number;
  storedBytes: number;
}

export function statsView(row: {
  requests: number;
  errors: number;
  bytesIn: bigint;
  bytesOut: bigint;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  firstAt: Date | null;
  lastAt: Date | null;
  storedRequests: number;
  storedBytes: bigint;
}): SessionStatsView {
  return {
    requests: row.requests,
    errors: row.errors,
    bytesIn: Number(row.bytesIn),
    bytesOut: Number(row.bytesOut),
    latencyMs: { p50: row.p50Ms, p95: row.p95Ms, p99: row.p99Ms },
    firstAt: row.firstAt,
    lastAt: row.lastAt,
    storedRequests: row.storedRequests,
    storedBytes: Number(row.storedBytes),
  };
}

const utf8Bytes = (s: string | null | undefined): number => (s ? Buffer.byteLength(s, "utf8") : 0);

/**
 * Bytes a stored record holds: a fixed 256 for the row and its indexes, plus its text and body
 * bytes. The migration that added the column computes the same for older rows.
 */
export function recordSize(r: {
  path: string;
  method: string;
  bridge: string;
  error: string | null;
  requestHeaders: string | null;
  responseHeaders: string | null;
  requestBody: Uint8Array | null;
  responseBody: Uint8Array | null;
}): number {
  return (
    256 +
    utf8Bytes(r.path) +
    utf8Bytes(r.method) +
    utf8Bytes(r.bridge) +
    utf8Bytes(r.error) +
    utf8Bytes(r.requestHeaders) +
    utf8Bytes(r.responseHeaders) +
    (r.requestBody?.byteLength ?? 0) +
    (r.responseBody?.byteLength ?? 0)
  );
}
