/**
 * Writes bridged requests into the local store under each bridge's history session, so history
 * has request counts and percentiles (store/stats.ts), filters and HAR export.
 *
 * - Session: the open session of kind "bridge" whose target is the bridge's name in this context
 *   (what `gefyra bridge` and the dashboard's Start open), or a new one.
 * - One writer per session: the CLI and the dashboard may follow the same bridges at once. A lease
 *   in the settings table (`traffic.lease.<session>`, renewed every 5 s, taken over 15 s after its
 *   holder stopped renewing) decides who writes; the others only show records. Taking a lease is
 *   a compare-and-swap on the row, so two processes never both write.
 * - Where writing stands is saved with each batch (`traffic.cursor.<session>`: per pod the Carrier
 *   instance and the last seq written, and the next store seq), so a restarted writer asks Carrier
 *   for exactly what is not stored yet. Store seqs are the session's own (Carrier seqs restart per
 *   pod and per Carrier process).
 * - Bounded: at most `maxPending` records wait for the store; beyond that the oldest are not
 *   stored and counted (`notStored`), never silently.
 */
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import type { TrafficBody, TrafficRecord } from "@gefyra/shared";
import { findOpenSession } from "../sessions";
import type { RequestRecordInput, Store } from "../../store";
import type { PodCursor } from "./carrier-stream";

export interface IngestOptions {
  store: Store;
  context: string;
  /** Lease owner id; default random per instance. */
  owner?: string;
  leaseMs?: number;
  renewMs?: number;
  flushMs?: number;
  /**
   * Rows per write. Default 200: a write runs on the event loop (SQLite is synchronous) at about
   * 20 µs a row (store/request-writer.ts), so a batch holds the live feed back for ~4 ms at most.
   */
  batchSize?: number;
  maxPending?: number;
  /** Asked for a retention run after much was stored (throttled here). */
  nudge?: () => void;
  /** A session's writing moved to this process: the feed should ask Carrier again from the saved cursors. */
  onRecordingGained?: (bridge: string) => void;
  log?: (line: string) => void;
}

export interface BridgeRef {
  name: string;
  namespace: string;
  /** e.g. deployment/api/app, for the session event. */
  target: string;
}

export interface RecordingState {
  sessionId: string | null;
  recording: boolean;
  message?: string;
  notStored: number;
}

interface SavedCursor {
  nextSeq: number;
  pods: Record<string, PodCursor>;
}

interface BridgeSession {
  ref: BridgeRef;
  sessionId: string | null;
  recording: boolean;
  message?: string;
  lease: string | null;
  nextSeq: number;
  /** What was handed to the writer (duplicates are recognised against it). */
  accepted: Map<string, PodCursor>;
  /** What the store holds (saved as the cursor). */
  written: Map<string, PodCursor>;
  dirty: boolean;
  notStored: number;
  sampledDropped: number;
  ready: Promise<void>;
  detached: boolean;
}

interface Pending {
  session: BridgeSession;
  pod: string;
  instance: string;
  carrierSeq: number;
  input: RequestRecordInput;
}

const LEASE_KEY = (sessionId: string) => `traffic.lease.${sessionId}`;
const CURSOR_KEY = (sessionId: string) => `traffic.cursor.${sessionId}`;
const MAX_PODS_IN_CURSOR = 32;

function cursorValue(nextSeq: number, written: Map<string, PodCursor>): string {
  const saved: SavedCursor = { nextSeq, pods: Object.fromEntries([...written.entries()].slice(-MAX_PODS_IN_CURSOR)) };
  return JSON.stringify(saved);
}

export class TrafficIngest {
  private readonly sessions = new Map<string, BridgeSession>();
  private pending: Pending[] = [];
  private readonly owner: string;
  private readonly leaseMs: number;
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly renewTimer: NodeJS.Timeout;
  private writing: Promise<void> | null = null;
  private closed = false;
  private sinceNudge = { records: 0, bytes: 0, at: 0 };
  private lastSampledNote = 0;

  constructor(private readonly options: IngestOptions) {
    this.owner = options.owner ?? randomUUID();
    this.leaseMs = options.leaseMs ?? 15_000;
    this.renewTimer = setInterval(() => void this.renewLeases(), options.renewMs ?? 5000);
    this.renewTimer.unref();
  }

  /** Opens (or continues) the bridge's session and tries to become its writer. */
  attach(ref: BridgeRef): Promise<void> {
    const existing = this.sessions.get(ref.name);
    if (existing && !existing.detached) return existing.ready;
    const s: BridgeSession = {
      ref,
      sessionId: null,
      recording: false,
      lease: null,
      nextSeq: 1,
      accepted: new Map(),
      written: new Map(),
      dirty: false,
      notStored: 0,
      sampledDropped: 0,
      ready: Promise.resolve(),
      detached: false,
    };
    s.ready = this.open(s).catch((error: unknown) => {
      s.recording = false;
      s.message = `requests are not recorded: the store failed (${(error as Error).message})`;
    });
    this.sessions.set(ref.name, s);
    return s.ready;
  }

  private async open(s: BridgeSession): Promise<void> {
    const { store, context } = this.options;
    const open = await findOpenSession(store, { kind: "bridge", context, target: s.ref.name });
    if (open) s.sessionId = open.id;
    else {
      const created = await store.startSession({ kind: "bridge", context, namespace: s.ref.namespace, target: s.ref.name });
      s.sessionId = created.id;
      await store.recordSessionEvent(created.id, { type: "traffic", message: `recording the requests of bridge ${s.ref.name} (${s.ref.target} in ${s.ref.namespace})` }).catch(() => undefined);
    }
    await this.tryLease(s);
  }

  private async tryLease(s: BridgeSession): Promise<boolean> {
    if (!s.sessionId || s.detached) return false;
    const prisma = this.options.store.prisma;
    const key = LEASE_KEY(s.sessionId);
    const mine = JSON.stringify({ owner: this.owner, pid: process.pid, host: hostname(), until: Date.now() + this.leaseMs });
    const row = await prisma.setting.findUnique({ where: { key } });
    let won = false;
    if (!row) {
      won = await prisma.setting.create({ data: { key, value: mine } }).then(
        () => true,
        () => false, // someone created it first
      );
    } else {
      let holder: { owner?: string; pid?: number; host?: string; until?: number } = {};
      try {
        holder = JSON.parse(row.value) as typeof holder;
      } catch {
        // a damaged lease counts as expired
      }
      if (holder.owner === this.owner || !(typeof holder.until === "number" && holder.until > Date.now())) {
        won = (await prisma.setting.updateMany({ where: { key, value: row.value }, data: { value: mine } })).count === 1;
      } else if (s.recording || s.message === undefined) {
        s.message = `another gefyra process (pid ${holder.pid ?? "?"} on ${holder.host ?? "?"}) records these requests; this one only shows them`;
      }
    }
    if (!won) {
      if (s.recording) {
        s.recording = false;
        s.message = "another gefyra process took over recording these requests; this one only shows them";
      }
      s.lease = null;
      return false;
    }
    const gained = !s.recording;
    s.lease = mine;
    s.recording = true;
    delete s.message;
    if (gained) {
      await this.loadCursor(s);
      this.options.onRecordingGained?.(s.ref.name);
    }
    return true;
  }

  private async loadCursor(s: BridgeSession): Promise<void> {
    const { store } = this.options;
    const raw = await store.getSetting(CURSOR_KEY(s.sessionId!));
    let saved: SavedCursor | null = null;
    try {
      saved = raw ? (JSON.parse(raw) as SavedCursor) : null;
    } catch {
      saved = null;
    }
    const max = await store.prisma.requestRecord.aggregate({ where: { sessionId: s.sessionId! }, _max: { seq: true } });
    s.nextSeq = Math.max(saved?.nextSeq ?? 1, (max._max.seq ?? 0) + 1);
    s.written = new Map(Object.entries(saved?.pods ?? {}));
    s.accepted = new Map(s.written);
  }

  private async renewLeases(): Promise<void> {
    if (this.closed) return;
    for (const s of this.sessions.values()) {
      if (s.detached || !s.sessionId) continue;
      await this.tryLease(s).catch(() => undefined);
    }
    this.noteSampling();
  }

  state(bridge: string): RecordingState {
    const s = this.sessions.get(bridge);
    if (!s) return { sessionId: null, recording: false, notStored: 0 };
    return { sessionId: s.sessionId, recording: s.recording, ...(s.message ? { message: s.message } : {}), notStored: s.notStored };
  }

  /** Where to resume a pod's stream for this bridge: what the store holds (undefined: from Carrier's start). */
  cursor(bridge: string, pod: string): PodCursor | undefined {
    const s = this.sessions.get(bridge);
    return s?.recording ? s.written.get(pod) : undefined;
  }

  /**
   * Takes a record for the bridge's session when this process writes it and has not taken it
   * before; returns where it will be stored.
   */
  accept(bridge: string, pod: string, instance: string, record: TrafficRecord): { sessionId: string; seq: number } | undefined {
    const s = this.sessions.get(bridge);
    if (!s || !s.recording || !s.sessionId || s.detached) return undefined;
    const at = s.accepted.get(pod);
    if (at && at.instance === instance && record.seq <= at.seq) return undefined;
    s.accepted.set(pod, { instance, seq: record.seq });
    const seq = s.nextSeq++;
    this.pending.push({ session: s, pod, instance, carrierSeq: record.seq, input: toInput(s.sessionId, bridge, seq, record) });
    const max = this.options.maxPending ?? 20_000;
    while (this.pending.length > max) {
      const gone = this.pending.shift()!;
      gone.session.notStored++;
    }
    if (this.pending.length >= (this.options.batchSize ?? 200)) void this.flush();
    else this.flushTimer ??= setTimeout(() => void this.flush(), this.options.flushMs ?? 250);
    return { sessionId: s.sessionId, seq };
  }

  /** Requests Carrier counted but did not send in full (sampling): noted in the session's events. */
  noteSampled(bridge: string, dropped: number): void {
    const s = this.sessions.get(bridge);
    if (s?.recording) s.sampledDropped += dropped;
  }

  private noteSampling(): void {
    if (Date.now() - this.lastSampledNote < 10_000) return;
    this.lastSampledNote = Date.now();
    for (const s of this.sessions.values()) {
      if (!s.sampledDropped || !s.sessionId) continue;
      const n = s.sampledDropped;
      s.sampledDropped = 0;
      void this.options.store
        .recordSessionEvent(s.sessionId, { type: "traffic.sampled", message: `Carrier was over its rate and kept samples: ${n} request(s) were counted but not recorded in full`, data: { dropped: n } })
        .catch(() => undefined);
    }
  }

  /** Writes what waits (one write at a time). */
  async flush(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    while (this.writing) await this.writing;
    if (this.pending.length === 0) return;
    const batch = this.pending.splice(0, this.options.batchSize ?? 200);
    this.writing = this.write(batch).finally(() => {
      this.writing = null;
    });
    await this.writing;
    // a backlog (a catch-up of Carrier's buffer) is written with pauses, so the live feed and the
    // dashboard's requests get the event loop between writes
    if (this.pending.length) this.flushTimer ??= setTimeout(() => void this.flush(), 20);
  }

  private async write(batch: Pending[]): Promise<void> {
    // where each touched session's writing will stand once the batch is in: saved with the rows,
    // in one transaction, so a crash never leaves a cursor ahead of (or behind) what is stored
    const after = new Map<BridgeSession, Map<string, PodCursor>>();
    let bytes = 0;
    for (const p of batch) {
      let written = after.get(p.session);
      if (!written) after.set(p.session, (written = new Map(p.session.written)));
      const w = written.get(p.pod);
      if (!w || w.instance !== p.instance || p.carrierSeq > w.seq) written.set(p.pod, { instance: p.instance, seq: p.carrierSeq });
      bytes += (p.input.requestBody?.byteLength ?? 0) + (p.input.responseBody?.byteLength ?? 0) + 512;
    }
    const cursors = [...after].flatMap(([s, written]) => (s.sessionId && s.recording ? [{ key: CURSOR_KEY(s.sessionId), value: cursorValue(s.nextSeq, written) }] : []));
    try {
      await this.options.store.recordRequests(batch.map((p) => p.input), cursors);
    } catch (error) {
      // the store is busy or failing: keep the batch for the next attempt (the bound still holds)
      this.pending.unshift(...batch);
      this.options.log?.(`traffic: storing ${batch.length} request record(s) failed (${(error as Error).message}); retrying`);
      await new Promise((r) => setTimeout(r, 1000));
      return;
    }
    for (const [s, written] of after) s.written = written;
    this.sinceNudge.records += batch.length;
    this.sinceNudge.bytes += bytes;
    if ((this.sinceNudge.bytes > 2 * 1024 * 1024 || this.sinceNudge.records >= 2000) && Date.now() - this.sinceNudge.at > 30_000) {
      this.sinceNudge = { records: 0, bytes: 0, at: Date.now() };
      this.options.nudge?.();
    }
  }

  /**
   * The bridge is gone: write what waits, end its session (unless its own unbridge already did,
   * with its reason) and give the lease back.
   */
  async detach(bridge: string, reason: string | null): Promise<void> {
    const s = this.sessions.get(bridge);
    if (!s) return;
    await s.ready;
    await this.flush();
    s.detached = true;
    this.sessions.delete(bridge);
    if (!s.sessionId || !s.recording) return;
    const prisma = this.options.store.prisma;
    if (reason) {
      const ended = await prisma.session.updateMany({ where: { id: s.sessionId, endedAt: null }, data: { endedAt: new Date(), stopReason: reason } }).catch(() => ({ count: 0 }));
      if (ended.count) await this.options.store.recordSessionEvent(s.sessionId, { type: "traffic", message: `bridge ${bridge} is gone: ${reason}` }).catch(() => undefined);
      await prisma.setting.deleteMany({ where: { key: CURSOR_KEY(s.sessionId) } }).catch(() => undefined);
    }
    if (s.lease) await prisma.setting.deleteMany({ where: { key: LEASE_KEY(s.sessionId), value: s.lease } }).catch(() => undefined);
  }

  /** Writes what waits and gives every lease back (another process may take over at once). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.noteSampling();
    await this.flush();
    this.closed = true;
    clearInterval(this.renewTimer);
    for (const s of this.sessions.values()) {
      if (s.lease && s.sessionId) await this.options.store.prisma.setting.deleteMany({ where: { key: LEASE_KEY(s.sessionId), value: s.lease } }).catch(() => undefined);
    }
    this.sessions.clear();
  }
}

function bodyBytes(body: TrafficBody): Uint8Array | null {
  if (!body.data) return null;
  return body.encoding === "base64" ? Buffer.from(body.data, "base64") : Buffer.from(body.data, "utf8");
}

/** A Carrier record as a store row of the session. */
export function toInput(sessionId: string, bridge: string, seq: number, r: TrafficRecord): RequestRecordInput {
  return {
    sessionId,
    bridge,
    seq,
    at: new Date(r.time),
    method: r.method ?? "",
    path: r.path ?? "",
    status: r.status ?? null,
    ttfbMs: r.ttfbMs,
    durationMs: r.durationMs,
    bytesIn: r.bytesIn,
    bytesOut: r.bytesOut,
    route: r.route?.to ?? "carrier",
    error: r.error ?? null,
    requestHeaders: r.request ? r.request.headers.map(([k, v]) => [k, v] as [string, string]) : null,
    responseHeaders: r.response ? r.response.headers.map(([k, v]) => [k, v] as [string, string]) : null,
    requestBody: r.request ? bodyBytes(r.request.body) : null,
    responseBody: r.response ? bodyBytes(r.response.body) : null,
    bodyTruncated: Boolean(r.request?.body.truncated || r.response?.body.truncated),
    kind: r.kind,
    port: r.port,
    client: r.client,
    rule: r.route?.rule ?? null,
    destination: r.route?.destination ?? null,
    sampled: r.sampled === true,
  };
}
