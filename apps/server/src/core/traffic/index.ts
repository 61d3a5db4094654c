/**
 * The traffic inspector's core: live records of bridges (hub.ts, through port-forwards to each
 * bridged pod's Carrier), stored under the bridges' history sessions (ingest.ts), history queries
 * (query.ts), replay and compare (replay.ts, diff.ts). Used by the `traffic` tRPC router and by
 * `gefyra traffic`.
 *
 * In a long-running process (the dashboard) there is one hub per kubeconfig and context, shared by
 * every tab; it follows the bridges of connections that run on this machine, stays while anyone
 * uses it or while it follows bridges (so their requests keep being recorded), and goes a minute
 * after neither is true.
 */
import type { KubeconfigOptions } from "../contexts";
import type { Store } from "../../store";
import { TrafficHub } from "./hub";
import { TrafficIngest } from "./ingest";
import { clusterSource, localConnections, type ClusterSource } from "./source";

export { TrafficHub, type HubSource, type SubscribeFilter } from "./hub";
export { TrafficIngest, toInput } from "./ingest";
export { clusterSource, localConnections, type ClusterSource } from "./source";
export { podRecords, type PodCursor, type PodStreamEvent, type CarrierAggregate, type CarrierHello, type CarrierMissed, type CarrierRecord } from "./carrier-stream";
export { openPodStream, forwardPodPort, apiDialer, type PodDialer, type PortForwarder } from "./port-forward";
export { replay, compare, requestToSend, execDial, REPLAY_BODY_CAP, type ReplayDeps, type ReplayInput } from "./replay";
export { compareAnswers, diffLines, prettyJson } from "./diff";
export { queryStored, storedRecord, series, filterOrThrow, storedToFeed, type StoredQuery, type StoredPage, type Series, type SeriesPoint } from "./query";
export type * from "./types";

export interface SharedHub {
  hub: TrafficHub;
  source: ClusterSource;
  release(): void;
}

interface Entry {
  store: Store | null;
  stopFollowing: () => void;
  hub: TrafficHub;
  source: ClusterSource;
  refs: number;
  idleSince: number | null;
}

const hubs = new Map<string, Entry>();
const IDLE_MS = 60_000;
let sweeper: NodeJS.Timeout | undefined;

function clusterOptions(kube: KubeconfigOptions, context: string) {
  return { ...(kube.kubeconfig ? { kubeconfig: kube.kubeconfig } : {}), ...(kube.env ? { env: kube.env } : {}), context };
}

function sweep(): void {
  for (const [key, e] of hubs) {
    const idle = e.refs === 0 && e.hub.ready && e.hub.status().bridges.length === 0;
    if (!idle) {
      e.idleSince = null;
      continue;
    }
    e.idleSince ??= Date.now();
    if (Date.now() - e.idleSince >= IDLE_MS) {
      hubs.delete(key);
      e.stopFollowing();
      void e.hub.close();
    }
  }
  if (hubs.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/** The shared hub of a context (started on first use); `release()` when done with it. */
export function sharedHub(deps: { store: Store | null; kube: KubeconfigOptions; nudge?: () => void; log?: (line: string) => void }, context: string): SharedHub {
  // per store too: two servers in one process (tests) each record into their own
  const key = JSON.stringify([deps.store?.file ?? null, deps.kube.kubeconfig ?? null, deps.kube.env?.KUBECONFIG ?? null, context]);
  let entry = hubs.get(key);
  if (!entry) {
    const source = clusterSource(clusterOptions(deps.kube, context));
    const holder: { hub?: TrafficHub } = {};
    const ingest = deps.store
      ? new TrafficIngest({ store: deps.store, context, ...(deps.nudge ? { nudge: deps.nudge } : {}), ...(deps.log ? { log: deps.log } : {}), onRecordingGained: (bridge) => holder.hub?.rewind(bridge) })
      : null;
    // this machine's connections, asked of Docker every 10 s: unknown yet follows nothing, no
    // Docker follows every bridge (nothing to tell them apart by)
    let local: Set<string> | null | undefined;
    const follows = (b: { connection: string }) => local !== undefined && (local === null || local.has(b.connection));
    const hub = (holder.hub = new TrafficHub({ context, source, ingest, follows, ...(deps.log ? { log: deps.log } : {}) }).start());
    const refresh = async () => {
      const next = await localConnections();
      const changed = local === undefined || JSON.stringify([...(next ?? ["*"])].sort()) !== JSON.stringify([...(local ?? ["*"])].sort());
      local = next;
      if (changed) hub.refollow();
    };
    void refresh();
    const timer = setInterval(() => void refresh(), 10_000);
    timer.unref();
    entry = { store: deps.store, stopFollowing: () => clearInterval(timer), hub, source, refs: 0, idleSince: null };
    hubs.set(key, entry);
    sweeper ??= setInterval(sweep, 10_000);
    sweeper.unref();
  }
  const e = entry;
  e.refs++;
  let released = false;
  return {
    hub: e.hub,
    source: e.source,
    release: () => {
      if (released) return;
      released = true;
      e.refs--;
    },
  };
}

/**
 * Starts recording again after a restart of the dashboard's process: a hub for every context
 * with an open bridge session (it then follows that context's bridges for as long as they exist).
 */
export async function resumeRecording(deps: { store: Store; kube: KubeconfigOptions; nudge?: () => void; log?: (line: string) => void }): Promise<string[]> {
  // leases and cursors of sessions that are gone (a process killed before it let go, retention)
  const prisma = deps.store.prisma;
  const kept = await prisma.setting.findMany({ where: { key: { startsWith: "traffic." } }, select: { key: true } });
  const ids = [...new Set(kept.map((k) => k.key.replace(/^traffic\.(lease|cursor)\./, "")))];
  const existing = new Set((await prisma.session.findMany({ where: { id: { in: ids } }, select: { id: true } })).map((x) => x.id));
  const stale = kept.filter((k) => !existing.has(k.key.replace(/^traffic\.(lease|cursor)\./, ""))).map((k) => k.key);
  if (stale.length) await prisma.setting.deleteMany({ where: { key: { in: stale } } });
  const open = await deps.store.listSessions({ kind: "bridge", activeOnly: true, limit: 1000 });
  const contexts = [...new Set(open.map((s) => s.context).filter((c): c is string => Boolean(c)))];
  for (const context of contexts) sharedHub(deps, context).release();
  return contexts;
}

/** Closes the shared hubs of a store (server shutdown; all without one): their writers flush and give their leases back. */
export async function closeSharedHubs(store?: Store): Promise<void> {
  const closing: Entry[] = [];
  for (const [key, e] of hubs) {
    if (store && e.store !== store) continue;
    hubs.delete(key);
    closing.push(e);
  }
  if (hubs.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
  for (const e of closing) e.stopFollowing();
  await Promise.all(closing.map((e) => e.hub.close()));
}
