/**
 * Request records: what Carrier saw for every HTTP request / WebSocket / h2 stream / TCP connection.
 *
 * Records get a sequence number and live in one bounded ring buffer. Consumers (WebSocket clients
 * of the control port) read from that ring with their own cursor, so a consumer costs O(1) memory
 * whatever its speed: when it falls further behind than `consumerQueue` entries, or asks for
 * entries the ring no longer holds, it is sent a `missed` message with the count and range.
 * Above `maxRatePerSecond`, records are sampled (1 in `sampleEvery` kept in full, marked
 * `sampled`) and each such second ends with an `aggregate` entry that counts everything, including
 * what was dropped. Nothing is dropped silently. Decision 0012.
 */
import { randomUUID } from "node:crypto";
import type { RecordsConfig } from "./config";

export type RecordKind = "http" | "ws" | "h2" | "tcp";

export interface RouteTaken {
  /** local: a bridge's destination; original: the original application; carrier: answered by Carrier (probe, no route). */
  to: "local" | "original" | "carrier";
  bridge?: string;
  /** The rule that matched, e.g. `header x-user exact "alice"`, or "global". */
  rule?: string;
  /** host:port the request went to. */
  destination?: string;
}

export interface CapturedBody {
  /** Bytes that passed, whole. */
  bytes: number;
  /** Only the first `bodyCapBytes` are kept. */
  truncated: boolean;
  encoding: "utf8" | "base64";
  data: string;
}

export interface CapturedMessage {
  /** In wire order, names as sent; secrets redacted. */
  headers: [string, string][];
  body: CapturedBody;
}

/** What a proxy handler reports; the recorder adds type and seq. */
export interface RecordDraft {
  kind: RecordKind;
  /** The Carrier port the connection came in on. */
  port: number;
  /** ISO time the request (or connection) started. */
  time: string;
  client: string;
  method?: string;
  /** Path and query as sent. */
  path?: string;
  status?: number;
  /** Request start to the destination's response head; null when none came. */
  ttfbMs: number | null;
  durationMs: number;
  /** Body bytes from the client (TCP/WS: all bytes client → destination). */
  bytesIn: number;
  /** Body bytes to the client (TCP/WS: all bytes destination → client). */
  bytesOut: number;
  route: RouteTaken | null;
  error?: string;
  request?: CapturedMessage;
  response?: CapturedMessage;
}

/** What the per-second aggregate needs from every record, kept or not. */
export type RecordSummary = Pick<RecordDraft, "status" | "error" | "bytesIn" | "bytesOut" | "durationMs">;

export interface RequestRecord extends RecordDraft {
  type: "record";
  seq: number;
  /** Kept as a sample while over the rate. */
  sampled?: true;
}

export interface AggregateRecord {
  type: "aggregate";
  seq: number;
  /** Start of the one-second window. */
  time: string;
  windowMs: 1000;
  /** Every record of the window, kept or not. */
  count: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** Kept in full (under the rate, plus samples). */
  kept: number;
  dropped: number;
}

export type StreamEntry = RequestRecord | AggregateRecord;

/** Messages on the records WebSocket besides entries. */
export interface HelloMessage {
  type: "hello";
  /** Random per Carrier process: a new value means Carrier restarted and seqs began again at 1. */
  instance: string;
  /** The oldest seq the buffer still holds and the seq the next record will get. */
  oldestSeq: number;
  nextSeq: number;
  bufferSize: number;
  maxRatePerSecond: number;
}
export interface MissedMessage {
  type: "missed";
  count: number;
  fromSeq: number;
  toSeq: number;
  reason: "not-in-buffer" | "slow-consumer";
}

// ---------------------------------------------------------------- capture

export const ALWAYS_REDACTED = ["authorization", "proxy-authorization", "cookie", "set-cookie"] as const;
export const REDACTED = "[redacted]";

export function redactionSet(extra: readonly string[]): ReadonlySet<string> {
  return new Set([...ALWAYS_REDACTED, ...extra.map((h) => h.toLowerCase())]);
}

/** rawHeaders-style flat list → pairs with secret values replaced. */
export function captureHeaders(raw: readonly string[], redact: ReadonlySet<string>): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    out.push([name, redact.has(name.toLowerCase()) ? REDACTED : raw[i + 1]!]);
  }
  return out;
}

/** Object-style headers (HTTP/2) → pairs; arrays become one pair per value. */
export function captureHeaderObject(h: Record<string, string | string[] | number | undefined>, redact: ReadonlySet<string>): [string, string][] {
  const out: [string, string][] = [];
  for (const [name, value] of Object.entries(h)) {
    if (value === undefined || name.startsWith(":")) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.push([name, redact.has(name.toLowerCase()) ? REDACTED : String(v)]);
  }
  return out;
}

/** Counts every byte, keeps the first `cap`. Never holds more than `cap` bytes. */
export class BodyTap {
  bytes = 0;
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.kept >= this.cap) return;
    const take = Math.min(chunk.length, this.cap - this.kept);
    // copy: the proxy's buffers are reused/freed by streams; a slice would pin the whole chunk
    this.chunks.push(Buffer.from(chunk.subarray(0, take)));
    this.kept += take;
  }

  result(): CapturedBody {
    const buf = Buffer.concat(this.chunks, this.kept);
    const truncated = this.bytes > this.kept;
    const text = utf8OrUndefined(buf, truncated);
    return text === undefined
      ? { bytes: this.bytes, truncated, encoding: "base64", data: buf.toString("base64") }
      : { bytes: this.bytes, truncated, encoding: "utf8", data: text };
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
function utf8OrUndefined(buf: Buffer, truncated: boolean): string | undefined {
  // a cut at the cap may split a multi-byte character: allow up to 3 trailing bytes to be dropped
  for (let cut = 0; cut <= (truncated ? 3 : 0) && cut <= buf.length; cut++) {
    try {
      return strictUtf8.decode(buf.subarray(0, buf.length - cut));
    } catch {
      // try a shorter cut
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- recorder

/**
 * One ring entry. It is kept as its JSON text: made in a batch just after the entry was added (or
 * earlier, when a consumer wants it first), after which the object is dropped. Thousands of
 * records held as object graphs would all be promoted to V8's old generation and traced by every
 * major GC; one string each is copied once and never traced, and consumers need the text anyway.
 */
interface Slot {
  seq: number;
  entry: StreamEntry | undefined;
  json: string | undefined;
  /** Approximate bytes held for this entry (the estimate until its JSON is made, then the JSON's length). */
  bytes: number;
}

interface Window {
  start: number;
  count: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  latencies: number[];
  kept: number;
  dropped: number;
}

const LATENCY_SAMPLE = 10_000;

export interface RecorderStats {
  nextSeq: number;
  oldestSeq: number;
  recorded: number;
  dropped: number;
  consumers: number;
  bytesHeld: number;
}

/** A sink a consumer writes to: the records WebSocket in production and tests. */
export interface ConsumerSocket {
  /** Bytes accepted but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  send(data: string, cb: (err?: Error) => void): void;
}

export class Recorder {
  readonly instance = randomUUID();
  private readonly ring: (Slot | undefined)[];
  private heldBytes = 0;
  /** Entries below this seq were evicted for the byte budget. */
  private oldestHeld = 1;
  private nextSeq = 1;
  private window: Window = newWindow(0);
  private windowTimer: NodeJS.Timeout | undefined;
  private readonly consumers = new Set<Consumer>();
  private recorded = 0;
  private droppedTotal = 0;
  /** Slots whose JSON is still to be made, by the next batch. */
  private unserialized: Slot[] = [];
  private batch: NodeJS.Immediate | undefined;

  constructor(
    readonly config: RecordsConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.ring = new Array<Slot | undefined>(config.bufferSize);
  }

  get oldestSeq(): number {
    return Math.max(1, this.nextSeq - this.config.bufferSize, this.oldestHeld);
  }

  /** Bytes the ring holds now (approximate). */
  get bytesHeld(): number {
    return this.heldBytes;
  }

  /** The entry's JSON (made now if the batch has not come yet). */
  serialized(slot: Slot): string {
    if (slot.json === undefined) {
      slot.json = JSON.stringify(slot.entry);
      slot.entry = undefined;
      this.heldBytes += slot.json.length - slot.bytes;
      slot.bytes = slot.json.length;
      this.trim();
    }
    return slot.json;
  }

  /** The entry as an object (parsed again from its JSON once that is made: only snapshots need this). */
  entryOf(slot: Slot): StreamEntry {
    return slot.entry ?? (JSON.parse(slot.json!) as StreamEntry);
  }

  private readonly serializeBatch = () => {
    this.batch = undefined;
    const slots = this.unserialized;
    this.unserialized = [];
    for (const slot of slots) if (slot.json === undefined && this.ring[slot.seq % this.config.bufferSize] === slot) this.serialized(slot);
  };

  /** Evict the oldest entries until the ring is within `bufferBytes` (the newest always stays). */
  private trim(): void {
    while (this.heldBytes > this.config.bufferBytes && this.oldestHeld < this.nextSeq - 1) {
      const i = this.oldestHeld % this.config.bufferSize;
      const slot = this.ring[i];
      if (slot && slot.seq === this.oldestHeld) {
        this.heldBytes -= slot.bytes;
        this.ring[i] = undefined;
      }
      this.oldestHeld++;
    }
  }
  get next(): number {
    return this.nextSeq;
  }

  stats(): RecorderStats {
    return { nextSeq: this.nextSeq, oldestSeq: this.oldestSeq, recorded: this.recorded, dropped: this.droppedTotal, consumers: this.consumers.size, bytesHeld: this.heldBytes };
  }

  /** Entry with this seq while the ring still holds it. */
  get(seq: number): Slot | undefined {
    if (seq < this.oldestSeq || seq >= this.nextSeq) return undefined;
    return this.ring[seq % this.config.bufferSize];
  }

  /** Entries after `since` that are still held, and how many after it are gone. */
  since(since: number): { missed: MissedMessage | undefined; entries: StreamEntry[] } {
    const from = Math.max(since + 1, 1);
    const missed = from < this.oldestSeq ? missedMsg(from, this.oldestSeq - 1, "not-in-buffer") : undefined;
    const entries: StreamEntry[] = [];
    for (let s = Math.max(from, this.oldestSeq); s < this.nextSeq; s++) entries.push(this.entryOf(this.get(s)!));
    return { missed, entries };
  }

  /**
   * Count one finished request/connection; `build` makes the full record and is only called when
   * the record is kept (under the rate, or as a sample), so dropped records cost almost nothing.
   */
  add(summary: RecordSummary, build: () => RecordDraft): void {
    if (!this.config.enabled) return;
    const now = this.now();
    this.roll(now);
    const w = this.window;
    w.count++;
    if (summary.error || (summary.status !== undefined && summary.status >= 500)) w.errors++;
    w.bytesIn += summary.bytesIn;
    w.bytesOut += summary.bytesOut;
    if (w.latencies.length < LATENCY_SAMPLE) w.latencies.push(summary.durationMs);
    else {
      const k = Math.floor(Math.random() * w.count);
      if (k < LATENCY_SAMPLE) w.latencies[k] = summary.durationMs;
    }
    const over = w.count - this.config.maxRatePerSecond;
    if (over <= 0) {
      w.kept++;
      this.append({ ...build(), type: "record", seq: 0 });
      return;
    }
    // over the rate: make sure this window ends with an aggregate even if traffic stops now
    this.windowTimer ??= setTimeout(() => {
      this.windowTimer = undefined;
      this.roll(this.now());
    }, Math.max(1, w.start + 1000 - now + 5)).unref();
    if (over % this.config.sampleEvery === 0) {
      w.kept++;
      this.append({ ...build(), type: "record", seq: 0, sampled: true });
    } else {
      w.dropped++;
      this.droppedTotal++;
    }
  }

  /** Close the current window if time moved past it; emit its aggregate when it was sampled. */
  private roll(now: number): void {
    const start = now - (now % 1000);
    if (start === this.window.start) return;
    const w = this.window;
    this.window = newWindow(start);
    if (this.windowTimer) {
      clearTimeout(this.windowTimer);
      this.windowTimer = undefined;
    }
    if (w.count > this.config.maxRatePerSecond) {
      const lat = w.latencies.sort((a, b) => a - b);
      const pct = (p: number) => round(lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? 0);
      this.append({
        type: "aggregate",
        seq: 0,
        time: new Date(w.start).toISOString(),
        windowMs: 1000,
        count: w.count,
        errors: w.errors,
        bytesIn: w.bytesIn,
        bytesOut: w.bytesOut,
        latencyMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: round(lat[lat.length - 1] ?? 0) },
        kept: w.kept,
        dropped: w.dropped,
      });
    }
  }

  private append(entry: StreamEntry): void {
    entry.seq = this.nextSeq++;
    if (entry.type === "record") this.recorded++;
    const i = entry.seq % this.config.bufferSize;
    const old = this.ring[i];
    if (old) this.heldBytes -= old.bytes;
    const bytes = estimateBytes(entry);
    const slot: Slot = { seq: entry.seq, entry, json: undefined, bytes };
    this.ring[i] = slot;
    this.heldBytes += bytes;
    this.unserialized.push(slot);
    // after the I/O of this turn of the event loop: the response is out, the object not yet old
    this.batch ??= setImmediate(this.serializeBatch);
    if (this.oldestHeld < entry.seq - this.config.bufferSize + 1) this.oldestHeld = entry.seq - this.config.bufferSize + 1;
    this.trim();
    for (const c of this.consumers) c.pump();
  }

  /** Attach a consumer that starts after `since` (undefined: only new entries). */
  attach(socket: ConsumerSocket, since: number | undefined): Consumer {
    const c = new Consumer(this, socket, since === undefined ? this.nextSeq : Math.max(1, since + 1), this.nextSeq);
    this.consumers.add(c);
    c.send({ type: "hello", instance: this.instance, oldestSeq: this.oldestSeq, nextSeq: this.nextSeq, bufferSize: this.config.bufferSize, maxRatePerSecond: this.config.maxRatePerSecond } satisfies HelloMessage);
    c.pump();
    return c;
  }

  detach(c: Consumer): void {
    this.consumers.delete(c);
  }

  close(): void {
    if (this.windowTimer) clearTimeout(this.windowTimer);
    if (this.batch) clearImmediate(this.batch);
    this.consumers.clear();
  }
}

/**
 * One reader of the ring: a cursor and a socket. Its "queue" is the entries between its cursor and
 * the ring's head: at most `consumerQueue` entries recorded since it connected, else it skips ahead
 * and is told. Its socket holds at most `consumerHighWaterBytes` (+ one entry) unsent.
 */
export class Consumer {
  private pumping = false;
  constructor(
    private readonly recorder: Recorder,
    private readonly socket: ConsumerSocket,
    /** The next seq to send. */
    public cursor: number,
    /** nextSeq when it connected: replaying the buffer before it does not count as lag. */
    private readonly attachedAt: number,
  ) {}

  send(message: object): void {
    this.socket.send(JSON.stringify(message), this.onSent);
  }

  private readonly onSent = (err?: Error) => {
    if (!err) this.pump();
  };

  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const r = this.recorder;
      const { consumerQueue, consumerHighWaterBytes } = r.config;
      while (this.cursor < r.next && this.socket.bufferedAmount < consumerHighWaterBytes) {
        if (this.cursor < r.oldestSeq) {
          this.send(missedMsg(this.cursor, r.oldestSeq - 1, "not-in-buffer"));
          this.cursor = r.oldestSeq;
          continue;
        }
        const lag = r.next - Math.max(this.cursor, this.attachedAt);
        if (lag > consumerQueue) {
          // this consumer is further behind than it may be: skip ahead and say so
          const skipTo = r.next - consumerQueue;
          this.send(missedMsg(this.cursor, skipTo - 1, "slow-consumer"));
          this.cursor = skipTo;
          continue;
        }
        const slot = r.get(this.cursor)!;
        const json = r.serialized(slot);
        this.cursor++;
        this.socket.send(json, this.onSent);
      }
    } finally {
      this.pumping = false;
    }
  }
}

function estimateBytes(e: StreamEntry): number {
  if (e.type === "aggregate") return 256;
  let n = 512 + (e.path?.length ?? 0);
  for (const m of [e.request, e.response]) {
    if (!m) continue;
    n += m.body.data.length;
    for (const [k, v] of m.headers) n += k.length + v.length + 8;
  }
  return n;
}

function missedMsg(fromSeq: number, toSeq: number, reason: MissedMessage["reason"]): MissedMessage {
  return { type: "missed", count: toSeq - fromSeq + 1, fromSeq, toSeq, reason };
}

function newWindow(start: number): Window {
  return { start, count: 0, errors: 0, bytesIn: 0, bytesOut: 0, latencies: [], kept: 0, dropped: 0 };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
