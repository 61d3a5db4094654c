/**
 * The traffic inspector's shapes, shared by the core, the tRPC router, the CLI and the dashboard
 * (type-only there). A record is Carrier's TrafficRecord plus where it came from.
 */
import type { TrafficBody, TrafficRecord } from "@gefyra/shared";

export interface FeedRecord extends TrafficRecord {
  /**
   * "L<n>": unique in this process while it runs (live records, details and replays);
   * "S<sessionId>:<seq>": a record read from the store.
   */
  id: string;
  /** The bridge that took it; for requests no bridge took (to the original, probes): the group's bridge, or "" when the group has several. */
  bridge: string;
  /** Every bridge the record is shown and stored with (the taker, or all bridges of the group). */
  bridges: string[];
  /** The target's namespace. */
  namespace: string;
  /** The bridged pod whose Carrier saw it ("" for records from the store). */
  pod: string;
  /** Carrier's own sequence number in that pod. */
  carrierSeq: number;
  /** Where the store keeps it (empty while another process records these bridges). */
  stored: Array<{ sessionId: string; seq: number }>;
  /** Body data left out (live lists carry sizes and headers only); the record by id has it. */
  partial?: true;
}

export type PodFeedState = "connecting" | "live" | "retrying" | "leaving";

export interface PodFeedStatus {
  name: string;
  state: PodFeedState;
  /** Why it is not live, one line. */
  message?: string;
  /** The last Carrier seq handed on. */
  seq: number;
}

/** What a bridge's feed has seen; nothing is dropped without being counted here. */
export interface FeedCounts {
  /** Records received in full (samples included). */
  records: number;
  /** Of those, kept by Carrier as 1-in-N samples while it was over its rate. */
  sampled: number;
  /** Requests Carrier counted in its per-second aggregates but did not send in full (sampling). */
  dropped: number;
  /** Records Carrier said this feed missed (fell out of its buffer, or this feed was too slow). */
  missed: number;
  /** Records received but not written to the store (the store fell behind its bound). */
  notStored: number;
}

export interface BridgeFeedStatus {
  name: string;
  namespace: string;
  target: string;
  group: string;
  state: string;
  pods: PodFeedStatus[];
  counts: FeedCounts;
  /** The history session the records are stored under. */
  sessionId: string | null;
  /** This process writes the records to the store (else another process does, or nobody could). */
  recording: boolean;
  /** Why records are not recorded, one line. */
  recordingMessage?: string;
}

export interface TrafficStatus {
  context: string;
  bridges: BridgeFeedStatus[];
  /** The bridges cannot be listed (not installed, cluster away); retried. */
  error?: string;
  /**
   * How long after Carrier saw a request its record was handed to subscribers here (the last 1000
   * records; includes any difference between the pods' clocks and this machine's).
   */
  lagMs?: { p50: number; p95: number; max: number };
}

export interface FeedAggregate {
  bridges: string[];
  pod: string;
  time: string;
  count: number;
  errors: number;
  kept: number;
  dropped: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

export type TrafficEvent =
  | { type: "records"; records: FeedRecord[] }
  | { type: "status"; status: TrafficStatus }
  | { type: "aggregate"; aggregate: FeedAggregate };

/** A request to send again, as recorded or edited. */
export interface ReplayRequest {
  method: string;
  path: string;
  headers: Array<[string, string]>;
  /** utf8 text, or base64 for binary bodies. */
  body: { encoding: "utf8" | "base64"; data: string } | null;
}

export type ReplayTarget = "local" | "original";

export interface ReplayResult {
  target: ReplayTarget;
  /** Where it went, e.g. "api-local (172.18.0.5:8080) through Cargo" or "pod api-gefyra-shadow-… port 8080". */
  via: string;
  request: ReplayRequest;
  /** Recorded headers that were not sent (redacted values, hop-by-hop), with why. */
  notSent: Array<{ name: string; reason: string }>;
  status: number | null;
  statusText: string;
  headers: Array<[string, string]>;
  body: TrafficBody;
  ttfbMs: number | null;
  durationMs: number;
  error?: string;
}

export type DiffOp = "=" | "-" | "+";

export interface CompareResult {
  local: ReplayResult;
  original: ReplayResult;
  status: { local: number | null; original: number | null; same: boolean };
  headers: Array<{ name: string; local: string | null; original: string | null; same: boolean; volatile: boolean }>;
  body: {
    same: boolean;
    /** Both bodies were JSON; the diff is of their pretty-printed form. */
    json: boolean;
    /** Line diff: "=" in both, "-" only in the original, "+" only in the local answer. */
    lines: Array<{ op: DiffOp; text: string }>;
    /** The bodies were too long to diff line by line: only the first differing line is shown. */
    truncated: boolean;
  };
  /** Nothing differs but volatile headers (date, …). */
  same: boolean;
}
