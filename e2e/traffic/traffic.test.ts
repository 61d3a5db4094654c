// The traffic inspector's core against the real devcluster, Docker engine and tunnel: a personal
// bridge on a 2-replica Deployment, requests through the NodePort from this machine, the records
// of both pods' Carriers reached through the API's port-forward (this machine cannot route to pod
// addresses), resumed after a forced reconnect without gaps, stored under the bridge's session,
// replayed to the local container and to the original (the shadow copy), compared, exported as HAR,
// and printed by `gefyra traffic` while this process is the writer.
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toHar } from "@gefyra/shared";
import { bridge, unbridge } from "../../apps/server/src/core/bridge";
import { down, up } from "../../apps/server/src/core/connection";
import { removeLocal, runLocal } from "../../apps/server/src/core/run/local-container";
import { TrafficHub, TrafficIngest, clusterSource, compare, replay, type ClusterSource, type FeedRecord } from "../../apps/server/src/core/traffic";
import { openStore, type Store } from "../../apps/server/src/store";
import { clients, ensureFixtureImage, kubeconfigPath, repoRoot, testNamespace, waitFor } from "../support/devcluster";
import { HarSchema } from "../support/har-schema";

const run = promisify(execFile);
const NODE_IP = process.env.GEFYRA_E2E_NODE_IP ?? "10.87.0.1";

/** A request through the NodePort from this machine; resolves when the answer is complete. */
function send(port: number, p: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: NODE_IP, port, path: p, method: options.method ?? "GET", headers: options.headers ?? {}, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(options.body);
  });
}

describe("traffic inspector", () => {
  const { core, apps, kc } = clients();
  const suffix = Math.random().toString(36).slice(2, 7);
  const connection = `e2e-tr-${suffix}`;
  const local = `tr-local-${suffix}`;
  const bridgeName = `tr-${suffix}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-traffic-e2e-"));
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let nodePort = 0;
  let store: Store;
  let source: ClusterSource;
  let hub: TrafficHub;
  let ingest: TrafficIngest;
  const seen: Array<FeedRecord & { at: number }> = [];
  let sent = 0;
  /** Pods whose records connection was seen down (and then reconnecting). */
  const reconnects = new Set<string>();

  const arrived = (p: string) => seen.find((r) => r.path === p);

  beforeAll(async () => {
    const echo = await ensureFixtureImage("echo");
    ns = await testNamespace(core, "traffic");
    const labels = { app: "api" };
    // no probes: every request Carrier records is one this test sent
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: "api" },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { terminationGracePeriodSeconds: 2, containers: [{ name: "app", image: echo, imagePullPolicy: "IfNotPresent", ports: [{ containerPort: 8080 }], env: [{ name: "IDENTITY", value: "original" }] }] },
          },
        },
      },
    });
    const svc = await core.createNamespacedService({ namespace: ns.name, body: { metadata: { name: "api" }, spec: { type: "NodePort", selector: labels, ports: [{ port: 8080, targetPort: 8080 }] } } });
    nodePort = svc.spec!.ports![0]!.nodePort!;
    await waitFor("api ready", async () => ((await apps.readNamespacedDeployment({ namespace: ns.name, name: "api" })).status?.readyReplicas ?? 0) >= 2);
    await up({ kubeconfig: kubeconfigPath, name: connection });
    await runLocal({ name: local, connection, namespace: ns.name, kubeConfig: kc, image: echo, env: { IDENTITY: "local" } });
    await bridge({
      kubeconfig: kubeconfigPath,
      connection,
      name: bridgeName,
      target: "deploy/api",
      namespace: ns.name,
      local,
      ports: [{ remote: 8080, local: 8080 }],
      match: [{ kind: "header", name: "x-user", op: "exact", value: "me" }],
    });

    store = await openStore({ dataDir });
    const context = kc.getCurrentContext();
    source = clusterSource({ kubeconfig: kubeconfigPath });
    const holder: { hub?: TrafficHub } = {};
    ingest = new TrafficIngest({ store, context, onRecordingGained: (b) => holder.hub?.rewind(b) });
    // only this test's connection: other suites' bridges on the shared cluster are theirs
    hub = holder.hub = new TrafficHub({ context, source, ingest, follows: (b) => b.connection === connection }).start();
    hub.subscribe({ bridge: bridgeName }, (e) => {
      if (e.type === "records") for (const r of e.records) seen.push({ ...r, at: Date.now() });
      if (e.type === "status") for (const p of e.status.bridges.find((b) => b.name === bridgeName)?.pods ?? []) if (p.state === "retrying") reconnects.add(p.name);
    });
    await waitFor("both pods' records streams caught up", () => Promise.resolve(hub.status().bridges.find((b) => b.name === bridgeName)?.pods.filter((p) => p.state === "live").length === 2), 60_000);
  }, 600_000);

  afterAll(async () => {
    await hub?.close();
    await unbridge({ kubeconfig: kubeconfigPath, connection, all: true }).catch(() => undefined);
    await removeLocal(local).catch(() => undefined);
    await down({ kubeconfig: kubeconfigPath, name: connection }).catch(() => undefined);
    await ns?.dispose();
    await store?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 300_000);

  it("shows each request within a second with method, path, status and route", async () => {
    const latencies: number[] = [];
    for (let i = 0; i < 12; i++) {
      const mine = i % 2 === 0;
      const p = `/orders/${i}?mine=${mine}`;
      const t0 = Date.now();
      const r = await send(nodePort, p, { method: mine ? "POST" : "GET", headers: mine ? { "x-user": "me", "content-type": "application/json" } : {}, ...(mine ? { body: JSON.stringify({ n: i }) } : {}) });
      sent++;
      expect(r.status).toBe(200);
      expect((JSON.parse(r.body) as { identity: string }).identity).toBe(mine ? "local" : "original");
      const rec = await waitFor(`record of ${p}`, () => Promise.resolve(arrived(p)), 5000, 10);
      latencies.push(rec.at - t0);
      expect(rec).toMatchObject({ method: mine ? "POST" : "GET", status: 200, kind: "http", port: 8080, namespace: ns.name, bridges: [bridgeName] });
      expect(rec.route?.to).toBe(mine ? "local" : "original");
      if (mine) expect(rec.route).toMatchObject({ bridge: bridgeName, rule: 'header x-user exact "me"' });
      expect(rec.response?.headers.some(([k]) => k.toLowerCase() === "content-type")).toBe(true);
    }
    latencies.sort((a, b) => a - b);
    console.log(`request sent to record in the feed: median ${latencies[latencies.length >> 1]} ms, max ${latencies.at(-1)} ms (${latencies.length} requests)`);
    expect(latencies.at(-1)!).toBeLessThan(1000);
    expect(new Set(seen.map((r) => r.pod)).size).toBe(2); // both replicas' Carriers
  });

  it("resumes after a forced reconnect without a gap", async () => {
    const before = seen.length;
    expect(hub.forceReconnect(bridgeName)).toBe(2);
    // sent while the records connections are down
    for (let i = 0; i < 10; i++) {
      await send(nodePort, `/during-reconnect/${i}`);
      sent++;
    }
    await waitFor("every request sent during the reconnect", () => Promise.resolve(Array.from({ length: 10 }, (_, i) => `/during-reconnect/${i}`).every(arrived)), 15_000, 20);
    const status = hub.status().bridges.find((b) => b.name === bridgeName)!;
    expect(reconnects.size).toBe(2); // both connections really went down and came back
    expect(status.pods.every((p) => p.state === "live")).toBe(true);
    expect(status.counts.missed).toBe(0);
    expect(seen.length - before).toBe(10);
    // per pod, Carrier's seqs are consecutive from the first record this feed saw
    for (const pod of new Set(seen.map((r) => r.pod))) {
      const seqs = seen.filter((r) => r.pod === pod).map((r) => r.carrierSeq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
    }
  });

  it("stores every request under the bridge's session, with its figures", async () => {
    await ingest.flush();
    const sessionId = hub.status().bridges.find((b) => b.name === bridgeName)!.sessionId!;
    const session = (await store.listSessions({ kind: "bridge" })).find((s) => s.id === sessionId)!;
    expect(session).toMatchObject({ target: bridgeName, namespace: ns.name, endedAt: null });
    const stats = (await store.sessionStats([sessionId])).get(sessionId)!;
    expect(stats.requests).toBe(sent);
    expect(stats.latencyMs.p50).toBeGreaterThan(0);
    expect((await store.listRequests({ sessionId })).map((r) => r.path)).toContain("/during-reconnect/9");
  });

  it("replays a request to the local container and to the original, and compares both answers", async () => {
    const rec = arrived("/orders/0?mine=true")!;
    const b = hub.bridges().find((x) => x.name === bridgeName)!;
    const deps = { dialer: () => source.dialer(), core: async () => (await source.cluster()).core };
    const toLocal = await replay({ record: rec, bridge: b, target: "local" }, deps);
    expect(toLocal).toMatchObject({ status: 200, target: "local" });
    expect(JSON.parse(toLocal.body.data)).toMatchObject({ identity: "local", method: "POST", path: "/orders/0?mine=true", user: "me" });
    const toOriginal = await replay({ record: rec, bridge: b, target: "original" }, deps);
    expect(toOriginal.status).toBe(200);
    expect(JSON.parse(toOriginal.body.data)).toMatchObject({ identity: "original", method: "POST", user: "me" });
    expect(toOriginal.via).toMatch(/shadow/);
    const edited = await replay({ record: rec, bridge: b, target: "local", edit: { method: "PUT", path: "/edited", headers: [["x-user", "someone"]], body: null } }, deps);
    expect(JSON.parse(edited.body.data)).toMatchObject({ method: "PUT", path: "/edited", user: "someone" });

    const c = await compare({ record: rec, bridge: b }, deps);
    expect(c.status).toEqual({ local: 200, original: 200, same: true });
    expect(c.same).toBe(false);
    expect(c.body.json).toBe(true);
    expect(c.body.lines).toContainEqual({ op: "-", text: '  "identity": "original",' });
    expect(c.body.lines).toContainEqual({ op: "+", text: '  "identity": "local",' });
  });

  it("exports what it saw as valid HAR 1.2, and gefyra traffic prints it from the store", async () => {
    const har = toHar(seen, { version: "0.1.0" });
    const parsed = HarSchema.safeParse(har);
    expect(parsed.success, parsed.success ? "" : JSON.stringify(parsed.error.issues.slice(0, 3))).toBe(true);
    expect(har.log.entries).toHaveLength(seen.length);
    const post = har.log.entries.find((e) => e.request.url.endsWith("/orders/0?mine=true"))!;
    expect(post.request.postData?.text).toBe('{"n":0}');
    expect(post._route).toBe("local");

    // the CLI in its own process: this test's process writes the session, so the CLI only reads
    await ingest.flush();
    const harFile = path.join(dataDir, "cli.har");
    const { stdout, stderr } = await run("node", [path.join(repoRoot, "apps/server/bin/gefyra.js"), "traffic", "--kubeconfig", kubeconfigPath, "--bridge", bridgeName, "--filter", "route:local method:POST", "--json", "--har", harFile], {
      env: { ...process.env, GEFYRA_DATA_DIR: dataDir },
      timeout: 60_000,
    });
    const printed = JSON.parse(stdout) as FeedRecord[];
    expect(printed.map((r) => r.path)).toEqual(Array.from({ length: 6 }, (_, i) => `/orders/${i * 2}?mine=true`));
    expect(stderr).toMatch(/another gefyra process .* records these requests/);
    expect(HarSchema.safeParse(JSON.parse(fs.readFileSync(harFile, "utf8"))).success).toBe(true);
  }, 120_000);

  it("follows a rollout: the old replicas' streams end, the new replicas' Carriers are streamed", async () => {
    const old = hub.status().bridges.find((b) => b.name === bridgeName)!.pods.map((p) => p.name);
    await apps.patchNamespacedDeployment(
      { namespace: ns.name, name: "api", body: { spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": new Date().toISOString() } } } } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    const started = Date.now();
    await waitFor(
      "the new replicas' streams live",
      () => {
        const pods = hub.status().bridges.find((b) => b.name === bridgeName)?.pods ?? [];
        const fresh = pods.filter((p) => !old.includes(p.name) && p.state === "live");
        return Promise.resolve(fresh.length === 2 && pods.filter((p) => old.includes(p.name)).length === 0);
      },
      180_000,
      250,
    );
    console.log(`rollout: both new replicas streamed ${Date.now() - started} ms after the restart`);
    const fresh = hub.status().bridges.find((b) => b.name === bridgeName)!.pods.map((p) => p.name);
    // kube-proxy follows the new endpoints within about a second
    await waitFor("the NodePort answers", async () => (await send(nodePort, "/after-rollout/probe")).status === 200, 30_000);
    for (let i = 0; i < 6; i++) await send(nodePort, `/after-rollout/${i}`);
    await waitFor("the requests after the rollout", () => Promise.resolve(Array.from({ length: 6 }, (_, i) => `/after-rollout/${i}`).every(arrived)), 10_000, 20);
    for (let i = 0; i < 6; i++) expect(fresh).toContain(arrived(`/after-rollout/${i}`)!.pod);
    expect(hub.status().bridges.find((b) => b.name === bridgeName)!.counts.missed).toBe(0);
  }, 240_000);
});
