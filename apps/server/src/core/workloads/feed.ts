/**
 * One live picture of a context's workloads (per namespace, or all), shared by every subscriber:
 * one list-then-watch per kind feeds a map of rows; each subscriber gets a snapshot, then batches
 * of changes. A subscriber's queue is bounded: changes are coalesced per object (at most one
 * pending entry per row) and when more than `maxPending` rows are pending, the queue is dropped
 * and the subscriber gets a fresh snapshot instead (a slow browser never grows server memory).
 */
import type * as k8s from "@kubernetes/client-node";
import { kubeConfigFor, type KubeconfigOptions } from "../contexts";
import type { GefyraError } from "../errors";
import { watchResource } from "./informer";
import type { WorkloadKind, WorkloadRow } from "./rows";

export const WORKLOAD_KINDS: WorkloadKind[] = ["Namespace", "Deployment", "StatefulSet", "Pod", "Service"];

export interface FeedError {
  kind: WorkloadKind;
  code: string;
  message: string;
}

export interface FeedStatus {
  /** Every kind has been listed once (or failed). */
  synced: boolean;
  errors: FeedError[];
}

export type FeedMessage =
  | { type: "snapshot"; context: string; namespace: string; rows: WorkloadRow[]; status: FeedStatus }
  | { type: "changes"; upserts: WorkloadRow[]; deletes: string[]; status: FeedStatus | null };

interface Subscriber {
  pending: Map<string, WorkloadRow | null>;
  statusChanged: boolean;
  resync: boolean;
  maxPending: number;
  wake: (() => void) | null;
}

export interface WorkloadFeedOptions {
  context: string;
  /** "" for all namespaces */
  namespace: string;
  kubeConfig: k8s.KubeConfig;
  /** How long the feed keeps watching after its last subscriber left (a reload re-subscribes). */
  lingerMs?: number;
  onIdle?: () => void;
  /** The list-then-watch per kind (tests pass a fake). */
  watch?: typeof watchResource;
}

export class WorkloadFeed {
  readonly context: string;
  readonly namespace: string;
  readonly rows = new Map<string, WorkloadRow>();
  private readonly errors = new Map<WorkloadKind, GefyraError>();
  private readonly synced = new Set<WorkloadKind>();
  private readonly subscribers = new Set<Subscriber>();
  private disposers: Array<() => void> = [];
  private lingerTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: WorkloadFeedOptions) {
    this.context = options.context;
    this.namespace = options.namespace;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  status(): FeedStatus {
    return {
      synced: WORKLOAD_KINDS.every((k) => this.synced.has(k) || this.errors.has(k)),
      errors: [...this.errors].map(([kind, e]) => ({ kind, code: e.code, message: e.message })),
    };
  }

  private start(): void {
    if (this.disposers.length > 0) return;
    for (const kind of WORKLOAD_KINDS) {
      this.disposers.push(
        (this.options.watch ?? watchResource)(
          { kubeConfig: this.options.kubeConfig, context: this.context, kind, namespace: this.namespace },
          {
            onSync: (rows) => {
              const fresh = new Map(rows.map((r) => [r.key, r]));
              for (const [key, row] of this.rows) if (row.kind === kind && !fresh.has(key)) this.remove(key);
              for (const row of rows) this.put(row);
              this.synced.add(kind);
              this.statusChanged();
            },
            onChange: (type, row) => (type === "delete" ? this.remove(row.key) : this.put(row)),
            onError: (error) => {
              if (error) this.errors.set(kind, error);
              else if (!this.errors.delete(kind)) return;
              this.statusChanged();
            },
          },
        ),
      );
    }
  }

  stop(): void {
    clearTimeout(this.lingerTimer);
    for (const dispose of this.disposers) dispose();
    this.disposers = [];
    this.rows.clear();
    this.synced.clear();
    this.errors.clear();
  }

  private put(row: WorkloadRow): void {
    const old = this.rows.get(row.key);
    if (old && sameRow(old, row)) return; // resync and status-only updates that change nothing we show
    this.rows.set(row.key, row);
    this.fanOut(row.key, row);
  }

  private remove(key: string): void {
    if (!this.rows.delete(key)) return;
    this.fanOut(key, null);
  }

  private fanOut(key: string, row: WorkloadRow | null): void {
    for (const sub of this.subscribers) {
      if (sub.resync) continue;
      sub.pending.set(key, row);
      if (sub.pending.size > sub.maxPending) {
        sub.pending.clear();
        sub.resync = true;
      }
      sub.wake?.();
    }
  }

  private statusChanged(): void {
    for (const sub of this.subscribers) {
      sub.statusChanged = true;
      sub.wake?.();
    }
  }

  /**
   * Snapshot, then batches of changes, until `signal` aborts. `flushMs` coalesces bursts
   * (a rollout touching hundreds of pods is one message, not hundreds).
   */
  async *subscribe(signal: AbortSignal | undefined, opts: { flushMs?: number; maxPending?: number } = {}): AsyncGenerator<FeedMessage> {
    const flushMs = opts.flushMs ?? 100;
    const sub: Subscriber = { pending: new Map(), statusChanged: false, resync: false, maxPending: opts.maxPending ?? 5000, wake: null };
    clearTimeout(this.lingerTimer);
    this.subscribers.add(sub);
    this.start();
    const wait = () =>
      new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const done = () => {
          sub.wake = null;
          signal?.removeEventListener("abort", done);
          resolve();
        };
        sub.wake = done;
        signal?.addEventListener("abort", done, { once: true });
      });
    const snapshot = (): FeedMessage => {
      sub.pending.clear();
      sub.resync = false;
      sub.statusChanged = false;
      return { type: "snapshot", context: this.context, namespace: this.namespace, rows: [...this.rows.values()], status: this.status() };
    };
    try {
      while (!signal?.aborted && !this.status().synced) await wait();
      if (signal?.aborted) return;
      yield snapshot();
      while (!signal?.aborted) {
        if (!sub.resync && sub.pending.size === 0 && !sub.statusChanged) await wait();
        if (signal?.aborted) break;
        await delay(flushMs, signal);
        if (signal?.aborted) break;
        if (sub.resync) {
          yield snapshot();
          continue;
        }
        const upserts: WorkloadRow[] = [];
        const deletes: string[] = [];
        for (const [key, row] of sub.pending) {
          if (row) upserts.push(row);
          else deletes.push(key);
        }
        sub.pending.clear();
        const status = sub.statusChanged ? this.status() : null;
        sub.statusChanged = false;
        yield { type: "changes", upserts, deletes, status };
      }
    } finally {
      this.subscribers.delete(sub);
      if (this.subscribers.size === 0) {
        this.lingerTimer = setTimeout(() => {
          if (this.subscribers.size > 0) return;
          this.stop();
          this.options.onIdle?.();
        }, this.options.lingerMs ?? 10_000);
        this.lingerTimer.unref();
      }
    }
  }
}

function sameRow(a: WorkloadRow, b: WorkloadRow): boolean {
  return (
    a.ready === b.ready &&
    a.healthy === b.healthy &&
    a.status === b.status &&
    a.ip === b.ip &&
    a.created === b.created &&
    a.bridge === b.bridge &&
    a.ports.join() === b.ports.join() &&
    a.images.join() === b.images.join()
  );
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

const feeds = new Map<string, WorkloadFeed>();

/** The shared feed for (kubeconfig, context, namespace); created on first use, stopped when idle. */
export function workloadFeed(kube: KubeconfigOptions, context: string | undefined, namespace: string, options: { lingerMs?: number } = {}): WorkloadFeed {
  const { kubeConfig, context: name } = kubeConfigFor(context, kube);
  const key = JSON.stringify([kube.kubeconfig ?? null, kube.env?.KUBECONFIG ?? null, kube.home ?? null, name, namespace]);
  let feed = feeds.get(key);
  if (!feed) {
    feed = new WorkloadFeed({ context: name, namespace, kubeConfig, ...options, onIdle: () => feeds.delete(key) });
    feeds.set(key, feed);
  }
  return feed;
}

/** Stops every feed (server shutdown, tests). */
export function stopAllFeeds(): void {
  for (const feed of feeds.values()) feed.stop();
  feeds.clear();
}
