/**
 * The live records of every bridge in one context, merged (decision 0023).
 *
 * Bridges on one container of one workload form a group with one Carrier per pod and one token
 * (decision 0017). For each group the hub follows the pods the operator lists in the bridges'
 * status: a pod's stream starts once its Carrier is configured (the pod is reported ready), runs
 * while the pod is listed (a rollout adds and removes pods), and is given a few seconds after the
 * pod left to hand on its last records. Every record is attributed to the bridge that took it, or
 * to all bridges of its group when none did (requests to the original, probes), then
 * - kept in a bounded ring (count and bytes) for details, replays and a new subscriber's backlog,
 * - handed to the store writer (ingest.ts) under each attributed bridge's session,
 * - sent to subscribers in batches (every 50 ms).
 * Carrier's own counts travel with it: samples, per-second aggregates of what it did not keep,
 * and `missed` ranges; they are added up per bridge in the status, never dropped silently.
 */
import { bridgeGroupId, type TrafficRecord } from "@gefyra/shared";
import type { BridgeInfo } from "../bridge";
import type { GefyraError } from "../errors";
import type { PodCursor, PodStreamEvent } from "./carrier-stream";
import type { TrafficIngest } from "./ingest";
import type { BridgeFeedStatus, FeedCounts, FeedRecord, PodFeedState, TrafficEvent, TrafficStatus } from "./types";

/** Where the hub gets bridges, tokens and records from; the cluster's in source.ts, fakes in tests. */
export interface HubSource {
  /** List, then watch: the whole list on every change. Returns a stop function. */
  watchBridges(onChange: (bridges: BridgeInfo[]) => void, onError: (error: GefyraError) => void): () => void;
  /** Carrier's control token of a bridge group. */
  token(group: string): Promise<string>;
  /** One pod's records stream from the cursor (undefined: from the start of Carrier's buffer). */
  podEvents(pod: { namespace: string; name: string }, token: () => Promise<string>, cursor: PodCursor | undefined, signal: AbortSignal): AsyncIterable<PodStreamEvent>;
  /** Cuts the pod's current connection; the stream reconnects and resumes (tests). */
  dropConnections?(pod: { namespace: string; name: string }): void;
  close?(): Promise<void>;
}

export interface HubOptions {
  context: string;
  source: HubSource;
  ingest?: TrafficIngest | null;
  /**
   * Records kept for details, replays and backlogs. Default 2000 and 16 MiB: older ones are opened
   * from the store (`storedAs`), so the ring only needs to cover what is not stored yet and what a
   * new tab's backlog shows; at 400 full records/s a larger ring was most of the server's growth.
   */
  ringSize?: number;
  ringBytes?: number;
  batchMs?: number;
  /** How long a pod that left the list keeps streaming. Default 3 s. */
  leaveGraceMs?: number;
  /** How long after a bridge disappeared its session is ended (its own unbridge usually ends it first). Default 10 s. */
  detachGraceMs?: number;
  /** Retry after the bridges cannot be watched. Default 5 s. */
  retryMs?: number;
  /**
   * Which bridges to follow (default: all). The dashboard follows the bridges of connections that
   * run on this machine: other developers' traffic is theirs, and pulling it costs everyone.
   */
  follows?: (bridge: BridgeInfo) => boolean;
  log?: (line: string) => void;
}

export interface SubscribeFilter {
  bridge?: string | undefined;
  /** Records from the ring to start with (newest). Default 500. */
  backlog?: number;
}

interface PodFeed {
  name: string;
  group: Group;
  controller: AbortController;
  state: PodFeedState;
  message?: string;
  instance?: string;
  /** Last seq handed on live (duplicates after a rewind are recognised against it). */
  seq: number;
  caughtUp: boolean;
  leaveTimer?: NodeJS.Timeout;
}

interface Group {
  id: string;
  namespace: string;
  bridges: BridgeInfo[];
  pods: Map<string, PodFeed>;
  /** Ready pods that have not started yet (their Carrier waits for its configuration). */
  waiting: Map<string, string>;
}

/** Live ids remembered after their record left the ring (about 100 bytes each). */
const EVICTED_IDS = 50_000;

const emptyCounts = (): FeedCounts => ({ records: 0, sampled: 0, dropped: 0, missed: 0, notStored: 0 });

function recordBytes(r: TrafficRecord): number {
  let n = 400 + (r.path?.length ?? 0);
  for (const m of [r.request, r.response]) {
    if (!m) continue;
    n += m.body.data.length;
    for (const [k, v] of m.headers) n += k.length + v.length + 8;
  }
  return n;
}

export class TrafficHub {
  readonly context: string;
  private readonly source: HubSource;
  private readonly ingest: TrafficIngest | null;
  private bridgeList: BridgeInfo[] = [];
  private readonly groups = new Map<string, Group>();
  private readonly counts = new Map<string, FeedCounts>();
  private readonly detachTimers = new Map<string, NodeJS.Timeout>();
  private readonly ring = new Map<number, { record: FeedRecord; bytes: number }>();
  /** Live ids that left the ring, and where the store keeps their record. */
  private readonly evicted = new Map<number, { sessionId: string; seq: number }>();
  private ringBytes = 0;
  private counter = 0;
  private readonly listeners = new Set<{ filter: SubscribeFilter; fn: (e: TrafficEvent) => void }>();
  private batch: FeedRecord[] = [];
  /** Record time to hand-on, last 1000 (status.lagMs). */
  private readonly lags: number[] = [];
  private followedNames = new Set<string>();
  private batchTimer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private error: string | undefined;
  private stopWatch: () => void = () => undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private listed = false;

  constructor(private readonly options: HubOptions) {
    this.context = options.context;
    this.source = options.source;
    this.ingest = options.ingest ?? null;
  }

  start(): this {
    const begin = () => {
      this.stopWatch = this.source.watchBridges(
        (bridges) => {
          this.error = undefined;
          this.listed = true;
          this.sync(bridges);
        },
        (error) => {
          this.error = error.message;
          this.statusChanged();
          this.stopWatch();
          if (this.closed) return;
          this.retryTimer = setTimeout(begin, this.options.retryMs ?? 5000);
          this.retryTimer.unref();
        },
      );
    };
    begin();
    return this;
  }

  /** The bridges as last listed. */
  bridges(): BridgeInfo[] {
    return this.bridgeList;
  }

  /** Whether the bridges have been listed at least once. */
  get ready(): boolean {
    return this.listed;
  }

  // ---- bridges, groups and pods ------------------------------------------------------------

  /** Applies `follows` again to the last list (its answer changed, e.g. a connection came up here). */
  refollow(): void {
    if (this.listed) this.sync(this.bridgeList);
  }

  private isFollowed(b: BridgeInfo): boolean {
    return b.state !== "Failed" && (this.options.follows?.(b) ?? true);
  }

  private sync(bridges: BridgeInfo[]): void {
    if (this.closed) return;
    const followed = bridges.filter((b) => this.isFollowed(b));
    const before = this.followedNames;
    this.bridgeList = bridges;
    const now = new Set(followed.map((b) => b.name));
    this.followedNames = now;
    for (const b of followed) {
      if (!this.counts.has(b.name)) this.counts.set(b.name, emptyCounts());
      const timer = this.detachTimers.get(b.name);
      if (timer) {
        clearTimeout(timer);
        this.detachTimers.delete(b.name);
      }
      if (!before.has(b.name) || !this.ingestAttached.has(b.name)) this.attach(b);
    }
    for (const name of before) {
      if (now.has(name) || this.detachTimers.has(name)) continue;
      // gone from the cluster: its session ends; only no longer followed here: it stays open for whoever records it
      const gone = !bridges.some((b) => b.name === name);
      const t = setTimeout(() => {
        this.detachTimers.delete(name);
        this.counts.delete(name);
        this.ingestAttached.delete(name);
        void this.ingest?.detach(name, gone ? "bridge removed" : null);
      }, gone ? (this.options.detachGraceMs ?? 10_000) : 0);
      t.unref();
      this.detachTimers.set(name, t);
    }

    const wanted = new Map<string, BridgeInfo[]>();
    for (const b of followed) {
      const id = bridgeGroupId({ namespace: b.namespace, kind: b.target.kind, name: b.target.name, container: b.target.container });
      wanted.set(id, [...(wanted.get(id) ?? []), b]);
    }
    for (const [id, members] of wanted) {
      let group = this.groups.get(id);
      if (!group) {
        group = { id, namespace: members[0]!.namespace, bridges: members, pods: new Map(), waiting: new Map() };
        this.groups.set(id, group);
      }
      group.bridges = members;
      const listed = new Map<string, boolean>();
      for (const b of members) for (const p of b.pods) listed.set(p.name, (listed.get(p.name) ?? false) || p.ready);
      group.waiting.clear();
      for (const [pod, ready] of listed) {
        const feed = group.pods.get(pod);
        if (feed) {
          if (feed.leaveTimer) {
            clearTimeout(feed.leaveTimer);
            delete feed.leaveTimer;
            feed.state = feed.caughtUp ? "live" : "connecting";
          }
          continue;
        }
        if (ready) this.startPod(group, pod);
        else group.waiting.set(pod, members.flatMap((b) => b.pods.filter((p) => p.name === pod && p.message).map((p) => p.message!))[0] ?? "Carrier is being set up in this pod");
      }
      for (const feed of group.pods.values()) if (!listed.has(feed.name)) this.leavePod(feed);
    }
    for (const group of this.groups.values()) {
      if (wanted.has(group.id)) continue;
      group.bridges = [];
      group.waiting.clear();
      for (const feed of group.pods.values()) this.leavePod(feed);
    }
    this.statusChanged();
  }

  private readonly ingestAttached = new Map<string, Promise<void>>();

  private attach(b: BridgeInfo): void {
    if (!this.ingest) {
      this.ingestAttached.set(b.name, Promise.resolve());
      return;
    }
    const ready = this.ingest.attach({ name: b.name, namespace: b.namespace, target: `${b.target.kind}/${b.target.name}/${b.target.container}` }).then(() => this.statusChanged());
    this.ingestAttached.set(b.name, ready);
  }

  /** The store writer took over a session: ask the group's Carriers again from what is stored. */
  rewind(bridge: string): void {
    for (const group of this.groups.values()) {
      if (!group.bridges.some((b) => b.name === bridge)) continue;
      for (const feed of [...group.pods.values()]) {
        if (feed.leaveTimer) continue;
        feed.controller.abort();
        group.pods.delete(feed.name);
        this.startPod(group, feed.name, feed);
      }
    }
  }

  private startPod(group: Group, name: string, previous?: PodFeed): void {
    const feed: PodFeed = { name, group, controller: new AbortController(), state: "connecting", seq: previous?.seq ?? 0, caughtUp: false, ...(previous?.instance ? { instance: previous.instance } : {}) };
    group.pods.set(name, feed);
    void this.runPod(feed);
  }

  private leavePod(feed: PodFeed): void {
    if (feed.leaveTimer) return;
    feed.state = "leaving";
    feed.leaveTimer = setTimeout(() => {
      feed.controller.abort();
      if (feed.group.pods.get(feed.name) === feed) feed.group.pods.delete(feed.name);
      if (feed.group.pods.size === 0 && feed.group.bridges.length === 0) this.groups.delete(feed.group.id);
      this.statusChanged();
    }, this.options.leaveGraceMs ?? 3000);
    feed.leaveTimer.unref();
  }

  /** Where to start a pod: the oldest of what its bridges' sessions stored (undefined: Carrier's whole buffer). */
  private cursorFor(group: Group, pod: string): PodCursor | undefined {
    if (!this.ingest) return undefined;
    let cursor: PodCursor | undefined;
    for (const b of group.bridges) {
      const c = this.ingest.cursor(b.name, pod);
      if (!c) return this.ingest.state(b.name).recording ? undefined : cursor;
      if (cursor && cursor.instance !== c.instance) return undefined;
      if (!cursor || c.seq < cursor.seq) cursor = c;
    }
    return cursor;
  }

  private async runPod(feed: PodFeed): Promise<void> {
    const { group } = feed;
    const signal = feed.controller.signal;
    try {
      await Promise.all(group.bridges.map((b) => this.ingestAttached.get(b.name) ?? Promise.resolve()));
      if (signal.aborted) return;
      const cursor = this.cursorFor(group, feed.name);
      // read per connection attempt: after a 401 (the token was replaced) the stream asks again
      const readToken = () => this.source.token(group.id);
      for await (const e of this.source.podEvents({ namespace: group.namespace, name: feed.name }, readToken, cursor, signal)) {
        if (signal.aborted) break;
        this.onPodEvent(feed, e);
      }
    } catch (error) {
      if (!signal.aborted) {
        feed.state = "retrying";
        feed.message = (error as Error).message;
        this.statusChanged();
      }
    }
  }

  private onPodEvent(feed: PodFeed, e: PodStreamEvent): void {
    switch (e.type) {
      case "connected":
        if (feed.instance !== undefined && e.hello.instance !== feed.instance) feed.seq = 0;
        feed.instance = e.hello.instance;
        feed.caughtUp = false;
        if (!feed.leaveTimer) feed.state = "connecting";
        delete feed.message;
        this.statusChanged();
        return;
      case "caught-up":
        feed.caughtUp = true;
        if (!feed.leaveTimer) feed.state = "live";
        this.statusChanged();
        return;
      case "disconnected":
        feed.caughtUp = false;
        if (!feed.leaveTimer) feed.state = "retrying";
        feed.message = `${e.reason}; reconnecting in ${(e.retryInMs / 1000).toFixed(1)} s`;
        this.statusChanged();
        return;
      case "missed":
        for (const b of feed.group.bridges) this.count(b.name).missed += e.count;
        feed.seq = Math.max(feed.seq, e.toSeq);
        this.statusChanged();
        return;
      case "aggregate": {
        const names = feed.group.bridges.map((b) => b.name);
        for (const n of names) {
          this.count(n).dropped += e.dropped;
          this.ingest?.noteSampled(n, e.dropped);
        }
        feed.seq = Math.max(feed.seq, e.seq);
        this.emit({ type: "aggregate", aggregate: { bridges: names, pod: feed.name, time: e.time, count: e.count, errors: e.errors, kept: e.kept, dropped: e.dropped, latencyMs: e.latencyMs } }, names);
        this.statusChanged();
        return;
      }
      case "record":
        this.onRecord(feed, e);
        return;
    }
  }

  private count(bridge: string): FeedCounts {
    let c = this.counts.get(bridge);
    if (!c) this.counts.set(bridge, (c = emptyCounts()));
    return c;
  }

  private onRecord(feed: PodFeed, r: TrafficRecord & { type: "record" }): void {
    const { group } = feed;
    const taker = r.route?.bridge;
    const bridges = taker && group.bridges.some((b) => b.name === taker) ? [taker] : group.bridges.map((b) => b.name);
    const stored: FeedRecord["stored"] = [];
    if (this.ingest && feed.instance) {
      for (const b of bridges) {
        const at = this.ingest.accept(b, feed.name, feed.instance, r);
        if (at) stored.push(at);
      }
    }
    // a rewind (another writer's cursor) repeats records this feed already showed
    if (r.seq <= feed.seq) return;
    feed.seq = r.seq;
    const { type: _type, ...record } = r;
    const id = ++this.counter;
    const fr: FeedRecord = {
      ...record,
      id: `L${id}`,
      bridge: taker ?? (bridges.length === 1 ? bridges[0]! : ""),
      bridges,
      namespace: group.namespace,
      pod: feed.name,
      carrierSeq: r.seq,
      stored,
    };
    for (const b of bridges) {
      const c = this.count(b);
      c.records++;
      if (r.sampled) c.sampled++;
    }
    const bytes = recordBytes(r);
    this.ring.set(id, { record: fr, bytes });
    this.ringBytes += bytes;
    const maxCount = this.options.ringSize ?? 2000;
    const maxBytes = this.options.ringBytes ?? 16 * 1024 * 1024;
    while (this.ring.size > maxCount || (this.ringBytes > maxBytes && this.ring.size > 1)) {
      const oldest = this.ring.keys().next().value as number;
      const gone = this.ring.get(oldest)!;
      this.ringBytes -= gone.bytes;
      this.ring.delete(oldest);
      // the page still lists it: its id keeps leading to the stored copy
      const at = gone.record.stored[0];
      if (at) {
        this.evicted.set(oldest, at);
        if (this.evicted.size > EVICTED_IDS) this.evicted.delete(this.evicted.keys().next().value as number);
      }
    }
    this.batch.push(fr);
    this.batchTimer ??= setTimeout(() => this.flushBatch(), this.options.batchMs ?? 50);
  }

  private flushBatch(): void {
    this.batchTimer = undefined;
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return;
    const now = Date.now();
    for (const r of batch) {
      const t = Date.parse(r.time) + r.durationMs;
      if (Number.isFinite(t)) this.lags.push(now - t);
    }
    if (this.lags.length > 1000) this.lags.splice(0, this.lags.length - 1000);
    for (const l of this.listeners) {
      const mine = l.filter.bridge ? batch.filter((r) => r.bridges.includes(l.filter.bridge!)) : batch;
      if (mine.length) l.fn({ type: "records", records: mine });
    }
  }

  private emit(e: TrafficEvent, bridges: string[]): void {
    for (const l of this.listeners) if (!l.filter.bridge || bridges.includes(l.filter.bridge)) l.fn(e);
  }

  private statusChanged(): void {
    if (this.statusTimer || this.closed) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      const status = this.status();
      for (const l of this.listeners) l.fn({ type: "status", status });
    }, 200);
    this.statusTimer.unref();
  }

  // ---- what subscribers, queries and tests see ---------------------------------------------

  status(): TrafficStatus {
    const out: BridgeFeedStatus[] = [];
    for (const b of this.bridgeList) {
      if (!this.isFollowed(b)) continue;
      const id = bridgeGroupId({ namespace: b.namespace, kind: b.target.kind, name: b.target.name, container: b.target.container });
      const group = this.groups.get(id);
      const rec = this.ingest?.state(b.name);
      const pods = [
        ...[...(group?.pods.values() ?? [])].map((p) => ({ name: p.name, state: p.state, seq: p.seq, ...(p.message ? { message: p.message } : {}) })),
        ...[...(group?.waiting.entries() ?? [])].map(([name, message]) => ({ name, state: "connecting" as const, seq: 0, message })),
      ];
      out.push({
        name: b.name,
        namespace: b.namespace,
        target: `${b.target.kind}/${b.target.name}/${b.target.container}`,
        group: id,
        state: b.state,
        pods,
        counts: { ...(this.counts.get(b.name) ?? emptyCounts()), notStored: rec?.notStored ?? 0 },
        sessionId: rec?.sessionId ?? null,
        recording: rec?.recording ?? false,
        ...(rec?.message ? { recordingMessage: rec.message } : !this.ingest ? { recordingMessage: "not recorded: no store" } : {}),
      });
    }
    const lags = [...this.lags].sort((a, b) => a - b);
    const at = (p: number) => lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))]!;
    return {
      context: this.context,
      bridges: out,
      ...(this.error ? { error: this.error } : {}),
      ...(lags.length ? { lagMs: { p50: Math.round(at(50)), p95: Math.round(at(95)), max: Math.round(lags[lags.length - 1]!) } } : {}),
    };
  }

  /** The newest records in the ring (oldest first), optionally of one bridge. */
  recent(filter: SubscribeFilter = {}, limit = 500): FeedRecord[] {
    const out: FeedRecord[] = [];
    const all = [...this.ring.values()];
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      const r = all[i]!.record;
      if (!filter.bridge || r.bridges.includes(filter.bridge)) out.push(r);
    }
    return out.reverse();
  }

  /** A live record by id ("L<n>"), while the ring holds it. */
  find(id: string): FeedRecord | undefined {
    const m = /^L(\d+)$/.exec(id);
    return m ? this.ring.get(Number(m[1]))?.record : undefined;
  }

  /** Where the store keeps a live record that left the ring (undefined: still held, or never stored). */
  storedAs(id: string): { sessionId: string; seq: number } | undefined {
    const m = /^L(\d+)$/.exec(id);
    return m ? this.evicted.get(Number(m[1])) : undefined;
  }

  /** Records, status and aggregates from now on; starts with the backlog and the status. */
  subscribe(filter: SubscribeFilter, fn: (e: TrafficEvent) => void): () => void {
    const entry = { filter, fn };
    const backlog = this.recent(filter, filter.backlog ?? 500);
    if (backlog.length) fn({ type: "records", records: backlog });
    fn({ type: "status", status: this.status() });
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** True once every started pod of every bridge (or of `bridge`) has handed on what its Carrier held. */
  caughtUp(bridge?: string): boolean {
    if (!this.listed) return false;
    for (const group of this.groups.values()) {
      if (bridge && !group.bridges.some((b) => b.name === bridge)) continue;
      if (group.bridges.length && group.pods.size === 0 && group.waiting.size === 0) continue;
      for (const p of group.pods.values()) if (!p.leaveTimer && !p.caughtUp) return false;
    }
    return true;
  }

  async waitCaughtUp(timeoutMs: number, bridge?: string): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && !this.closed) {
      if (this.caughtUp(bridge)) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.caughtUp(bridge);
  }

  /** Cuts the records connections of a bridge's pods (or all); each resumes from its last seq. */
  forceReconnect(bridge?: string): number {
    let n = 0;
    for (const group of this.groups.values()) {
      if (bridge && !group.bridges.some((b) => b.name === bridge)) continue;
      for (const p of group.pods.values()) {
        this.source.dropConnections?.({ namespace: group.namespace, name: p.name });
        n++;
      }
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopWatch();
    clearTimeout(this.retryTimer);
    clearTimeout(this.statusTimer);
    if (this.batchTimer) {
      clearTimeout(this.batchTimer);
      this.flushBatch();
    }
    for (const group of this.groups.values()) {
      for (const p of group.pods.values()) {
        clearTimeout(p.leaveTimer);
        p.controller.abort();
      }
    }
    for (const [name, t] of this.detachTimers) {
      clearTimeout(t);
      await this.ingest?.detach(name, "bridge removed");
    }
    this.detachTimers.clear();
    this.listeners.clear();
    await this.ingest?.close();
    await this.source.close?.();
  }
}
