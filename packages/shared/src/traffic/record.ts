/**
 * The request record as the traffic inspector, filters and exports see it. It is the shape Carrier
 * streams (packages/carrier/src/records.ts, decision 0012), written out here so that the server,
 * the dashboard and the CLI do not depend on the Carrier package; a test checks that Carrier's
 * RequestRecord stays assignable to it.
 */
export type TrafficRecordKind = "http" | "ws" | "h2" | "tcp";
export type TrafficRoute = "local" | "original" | "carrier";

export interface TrafficBody {
  /** Bytes that passed, whole. */
  bytes: number;
  /** Only the first bytes (Carrier's bodyCapBytes) were kept. */
  truncated: boolean;
  encoding: "utf8" | "base64";
  data: string;
}

export interface TrafficMessage {
  /** In wire order, names as sent; secrets already redacted by Carrier. */
  headers: readonly (readonly [string, string])[];
  body: TrafficBody;
}

export interface TrafficRecord {
  seq: number;
  kind: TrafficRecordKind;
  /** The Carrier port the connection came in on. */
  port: number;
  /** ISO time the request (or connection) started. */
  time: string;
  client: string;
  method?: string;
  /** Path and query as sent. */
  path?: string;
  status?: number;
  ttfbMs: number | null;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  route: { to: TrafficRoute; bridge?: string; rule?: string; destination?: string } | null;
  error?: string;
  request?: TrafficMessage;
  response?: TrafficMessage;
  sampled?: true;
}

/** A record counts as an error when it failed outright or the answer was a 5xx (as Carrier's aggregates count). */
export function isErrorRecord(r: Pick<TrafficRecord, "status" | "error">): boolean {
  return Boolean(r.error) || (r.status !== undefined && r.status >= 500);
}
