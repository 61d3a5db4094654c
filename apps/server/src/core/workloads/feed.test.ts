import * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { GefyraError } from "../errors";
import { WORKLOAD_KINDS, WorkloadFeed, type FeedMessage } from "./feed";
import type { ResourceWatchHandlers, WatchResourceOptions } from "./informer";
import { rowKey, type WorkloadKind, type WorkloadRow } from "./rows";

/** A fake cluster: the test drives each kind's list-then-watch through its handlers. */
function fakeCluster() {
  const handlers = new Map<WorkloadKind, ResourceWatchHandlers>();
  let stopped = 0;
  const watch = (options: WatchResourceOptions, h: ResourceWatchHandlers) => {
    handlers.set(options.kind, h);
    return () => void stopped++;
  };
  return { handlers, watch, stopped: () => stopped, kind: (k: WorkloadKind) => handlers.get(k)! };
}

const row = (kind: WorkloadKind, name: string, status = "Available"): WorkloadRow => ({
  key: rowKey(kind, "shop", name),
  kind,
  namespace: "shop",
  name,
  ready: "1/1",
  healthy: true,
  status,
  ports: [],
  images: [],
  ip: "",
  created: "",
  bridge: null,
});

function feedWith(cluster: ReturnType<typeof fakeCluster>) {
  return new WorkloadFeed({ context: "dev", namespace: "shop", kubeConfig: new k8s.KubeConfig(), watch: cluster.watch, lingerMs: 0 });
}

async function take(it: AsyncGenerator<FeedMessage>, n: number): Promise<FeedMessage[]> {
  const out: FeedMessage[] = [];
  for (let i = 0; i < n; i++) {
    const next = await it.next();
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}

function syncAll(cluster: ReturnType<typeof fakeCluster>, rows: WorkloadRow[] = []) {
  for (const kind of WORKLOAD_KINDS) cluster.kind(kind).onSync(rows.filter((r) => r.kind === kind));
}

describe("WorkloadFeed", () => {
  it("yields a snapshot once every kind is listed, then coalesced batches of changes", async () => {
    const cluster = fakeCluster();
    const feed = feedWith(cluster);
    const controller = new AbortController();
    const sub = feed.subscribe(controller.signal, { flushMs: 5 });
    const first = sub.next();
    syncAll(cluster, [row("Deployment", "api"), row("Service", "api")]);
    const snapshot = (await first).value as FeedMessage;
    expect(snapshot).toMatchObject({ type: "snapshot", status: { synced: true, errors: [] } });
    expect(snapshot.type === "snapshot" && snapshot.rows.map((r) => r.key).sort()).toEqual(["Deployment/shop/api", "Service/shop/api"]);

    const next = sub.next();
    cluster.kind("Deployment").onChange("upsert", row("Deployment", "api", "Progressing"));
    cluster.kind("Deployment").onChange("upsert", row("Deployment", "api", "Available2"));
    cluster.kind("Service").onChange("delete", row("Service", "api"));
    const batch = (await next).value as FeedMessage;
    expect(batch).toEqual({ type: "changes", upserts: [row("Deployment", "api", "Available2")], deletes: ["Service/shop/api"], status: null });
    controller.abort();
    await sub.return(undefined);
  });

  it("a relist removes what disappeared and sends only what changed", async () => {
    const cluster = fakeCluster();
    const feed = feedWith(cluster);
    const controller = new AbortController();
    const sub = feed.subscribe(controller.signal, { flushMs: 5 });
    const first = sub.next();
    syncAll(cluster, [row("Pod", "a"), row("Pod", "b")]);
    await first;
    const next = sub.next();
    cluster.kind("Pod").onSync([row("Pod", "a"), row("Pod", "c")]);
    const batch = (await next).value as FeedMessage;
    expect(batch).toMatchObject({ type: "changes", upserts: [row("Pod", "c")], deletes: ["Pod/shop/b"] });
    controller.abort();
    await sub.return(undefined);
  });

  it("gives a slow subscriber a fresh snapshot instead of an unbounded queue, without slowing the others", async () => {
    const cluster = fakeCluster();
    const feed = feedWith(cluster);
    const slowCtl = new AbortController();
    const fastCtl = new AbortController();
    const slow = feed.subscribe(slowCtl.signal, { flushMs: 1, maxPending: 10 });
    const fast = feed.subscribe(fastCtl.signal, { flushMs: 1, maxPending: 1000 });
    const s0 = slow.next();
    const f0 = fast.next();
    syncAll(cluster);
    await Promise.all([s0, f0]);
    // 50 objects appear while neither has asked for more
    for (let i = 0; i < 50; i++) cluster.kind("Pod").onChange("upsert", row("Pod", `p${i}`));
    const [fastBatch] = await take(fast, 1);
    expect(fastBatch).toMatchObject({ type: "changes" });
    expect(fastBatch?.type === "changes" && fastBatch.upserts).toHaveLength(50);
    const [slowNext] = await take(slow, 1);
    expect(slowNext?.type).toBe("snapshot");
    expect(slowNext?.type === "snapshot" && slowNext.rows).toHaveLength(50);
    slowCtl.abort();
    fastCtl.abort();
    await Promise.all([slow.return(undefined), fast.return(undefined)]);
  });

  it("reports a kind's error in the status and stops watching after the last subscriber leaves", async () => {
    const cluster = fakeCluster();
    const feed = feedWith(cluster);
    const controller = new AbortController();
    const sub = feed.subscribe(controller.signal, { flushMs: 1 });
    const first = sub.next();
    for (const kind of WORKLOAD_KINDS) {
      if (kind === "Namespace") cluster.kind(kind).onError(new GefyraError("CLUSTER_FORBIDDEN", "may not list namespaces"));
      else cluster.kind(kind).onSync([]);
    }
    expect((await first).value).toMatchObject({ type: "snapshot", status: { synced: true, errors: [{ kind: "Namespace", code: "CLUSTER_FORBIDDEN" }] } });
    controller.abort();
    await sub.return(undefined);
    await new Promise((r) => setTimeout(r, 10));
    expect(cluster.stopped()).toBe(WORKLOAD_KINDS.length);
  });
});
