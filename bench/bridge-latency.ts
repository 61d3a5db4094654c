// What a bridge adds to a request, on the devcluster (images present):
//   npx tsx bench/bridge-latency.ts [--rate 200] [--requests 6000] [--warmup 1000] [--seconds 60]
//
// Set up like e2e/bridge/bridge.test.ts and bench/bridge-setup.ts: a Deployment "api" (the echo
// fixture) behind a NodePort Service in a namespace of its own, a connection (up()), the developer's
// container (runLocal(), the same echo image answering "local") and a personal bridge (bridge()
// with a header rule x-user=bench), so requests that carry the header reach the local container.
//
// Request streams run at the same time, each open-loop at --rate requests/s (request i of a stream
// goes out at start + i/rate whether or not earlier ones have answered, so a slow answer never
// slows the load down; its latency is counted from when it went out, so the client's own timer
// jitter is not counted), offset within each period so that they take turns:
//   via bridge  this host -> node IP:NodePort (kube-proxy) -> the pod, i.e. Carrier -> Carrier's
//               tunnel to this machine (Cargo) -> the local container
//   direct      this host -> the local container's address on the connection's Docker network
// "direct" is the fairest baseline for what the bridge adds: the same client process on the same
// host, the same container, the same keep-alive client, and no relay of its own in the path. The
// alternatives both add something the bridged path does not have: a port published on 127.0.0.1
// (runLocal's ports option) goes through Docker's NAT or its userland proxy, and a client in a
// container on the Docker network is a different client (its own CPU share, its own network
// namespace); the published port is measured too and printed as a third line, for reference.
// Both streams use keep-alive connections (the bridge keeps its upstream connections warm too).
// Printed: p50/p95/p99/max of each and the added latency (via bridge minus direct) at p50 and p99,
// against the targets (added p50 <= 2 ms, p99 <= 10 ms at 200 requests/s); then the same requests
// as Carrier's records saw them (read from its control port with the bridge's token), which
// splits the added time into what happens before Carrier (NodePort, the pod's network) and from
// Carrier on (Carrier, the tunnel, the local container and back).
import http from "node:http";
import net from "node:net";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { NAMESPACE, bridgeGroupId, carrierTokenSecretName } from "@gefyra/shared";
import { bridge, unbridge } from "../apps/server/src/core/bridge";
import { down, up } from "../apps/server/src/core/connection";
import { removeLocal, runLocal } from "../apps/server/src/core/run/local-container";
import { ensureFixtureImage } from "../e2e/support/devcluster";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}
const RATE = arg("rate", 200);
const REQUESTS = arg("requests", 6000);
const WARMUP = arg("warmup", 1000);
const SECONDS = arg("seconds", 60);

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..");
const kubeconfig = process.env.GEFYRA_E2E_KUBECONFIG ?? join(root, ".devcluster", "kubeconfig");
const nodeIp = process.env.GEFYRA_E2E_NODE_IP ?? "10.87.0.1";
const suffix = Math.random().toString(36).slice(2, 7);
const ns = `bench-latency-${suffix}`;
const connection = `bench-latency-${suffix}`;
const localName = `bench-latency-local-${suffix}`;
const bridgeName = `bench-latency-${suffix}`;
const HEADER = { "x-user": "bench" };

const kc = new k8s.KubeConfig();
kc.loadFromFile(kubeconfig);
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Target {
  name: string;
  host: string;
  port: number;
  headers: Record<string, string>;
}

/** One GET; resolves with the identity that answered (or undefined on any failure). */
function get(t: Target, agent: http.Agent | false, timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: t.host, port: t.port, path: "/bench", headers: t.headers, agent, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve(res.statusCode === 200 ? (/"identity":"([^"]+)"/.exec(body) ?? [])[1] : undefined));
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Stream {
  target: Target;
  agent: http.Agent;
  latencies: number[];
  failed: number;
  wrong: number;
}

/**
 * Open loop: every stream sends `count` requests at `rate`/s, the streams offset evenly within one
 * period; stops sending at the time cap and waits for what is in flight.
 */
async function openLoop(streams: Stream[], count: number, expect: string): Promise<number> {
  const period = 1000 / RATE;
  const start = performance.now() + 50;
  const deadline = start + SECONDS * 1000;
  const inFlight: Promise<void>[] = [];
  let sent = 0;
  for (let i = 0; i < count; i++) {
    for (const [k, s] of streams.entries()) {
      const due = start + i * period + (k * period) / streams.length;
      if (due > deadline) break;
      const wait = due - performance.now();
      if (wait > 0.5) await sleep(wait);
      sent++;
      const sentAt = performance.now();
      inFlight.push(
        get(s.target, s.agent).then((identity) => {
          if (identity === undefined) s.failed++;
          else if (identity !== expect) s.wrong++;
          else s.latencies.push(performance.now() - sentAt);
        }),
      );
    }
    if (performance.now() > deadline) break;
  }
  await Promise.all(inFlight);
  return sent;
}

/** GET JSON from a pod's Carrier control port (pod IPs are routable from the devcluster's host). */
function getJson<T>(host: string, port: number, path: string, token: string): Promise<T | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, headers: { authorization: `Bearer ${token}` }, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString()) as T);
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const echo = await ensureFixtureImage("echo");
await core.createNamespace({ body: { metadata: { name: ns } } });
try {
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: "api" },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "api" } },
        template: {
          metadata: { labels: { app: "api" } },
          spec: {
            terminationGracePeriodSeconds: 2,
            containers: [{ name: "app", image: echo, imagePullPolicy: "IfNotPresent", ports: [{ containerPort: 8080 }], readinessProbe: { httpGet: { path: "/healthz", port: 8080 }, periodSeconds: 1 } }],
          },
        },
      },
    },
  });
  const svc = await core.createNamespacedService({ namespace: ns, body: { metadata: { name: "api" }, spec: { type: "NodePort", selector: { app: "api" }, ports: [{ port: 8080 }] } } });
  const nodePort = svc.spec!.ports![0]!.nodePort!;
  await up({ kubeconfig, name: connection });
  const published = await freePort();
  const local = await runLocal({ name: localName, connection, namespace: ns, kubeConfig: kc, image: echo, env: { IDENTITY: "local" }, ports: [`127.0.0.1:${published}:8080`] });
  const viaBridge: Target = { name: "via bridge", host: nodeIp, port: nodePort, headers: HEADER };
  const direct: Target = { name: "direct", host: local.ip, port: 8080, headers: HEADER };
  const viaPublished: Target = { name: "published", host: "127.0.0.1", port: published, headers: HEADER };
  await until("the workload", async () => (await get(viaBridge, false)) === "original");
  await until("the local container", async () => (await get(direct, false)) === "local" && (await get(viaPublished, false)) === "local");

  const t0 = Date.now();
  await bridge({
    kubeconfig,
    connection,
    target: "deploy/api",
    namespace: ns,
    local: localName,
    ports: [{ remote: 8080, local: 8080 }],
    name: bridgeName,
    match: [{ kind: "header", name: "x-user", op: "exact", value: "bench" }],
  });
  await until("the local answer through the bridge", async () => (await get(viaBridge, false)) === "local");
  console.log(`bridge ${bridgeName} up in ${((Date.now() - t0) / 1000).toFixed(1)} s; local container ${localName} at ${local.ip} (published on 127.0.0.1:${published}); NodePort ${nodeIp}:${nodePort}`);
  const stranger = await get({ ...viaBridge, headers: {} }, false);
  if (stranger !== "original") throw new Error(`a request without the header was answered by ${stranger ?? "nobody"}, not the original`);

  const streams = (targets: Target[]): Stream[] => targets.map((target) => ({ target, agent: new http.Agent({ keepAlive: true, maxSockets: 64 }), latencies: [], failed: 0, wrong: 0 }));
  await openLoop(streams([viaBridge, direct, viaPublished]), WARMUP, "local");
  const measured = streams([viaBridge, direct, viaPublished]);
  const load0 = loadavg()[0]!;
  const measuredFrom = Date.now();
  const wall = performance.now();
  const sent = await openLoop(measured, REQUESTS, "local");
  const seconds = (performance.now() - wall) / 1000;
  for (const s of measured) s.agent.destroy();

  console.log(
    `open loop: ${RATE} requests/s per stream, ${measured.length} streams taking turns, ${sent} requests in ${seconds.toFixed(1)} s (warm-up ${WARMUP} per stream first); load average ${load0.toFixed(2)} -> ${loadavg()[0]!.toFixed(2)}`,
  );
  console.log(`  ${"stream".padEnd(12)} ${"ok".padStart(6)} ${"failed".padStart(7)} ${"wrong".padStart(6)} ${"p50 ms".padStart(8)} ${"p95 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"max ms".padStart(8)}`);
  const sorted = measured.map((s) => [...s.latencies].sort((a, b) => a - b));
  for (const [k, s] of measured.entries()) {
    const l = sorted[k]!;
    console.log(`  ${s.target.name.padEnd(12)} ${String(l.length).padStart(6)} ${String(s.failed).padStart(7)} ${String(s.wrong).padStart(6)} ${pct(l, 50).toFixed(3).padStart(8)} ${pct(l, 95).toFixed(3).padStart(8)} ${pct(l, 99).toFixed(3).padStart(8)} ${(l.at(-1) ?? NaN).toFixed(3).padStart(8)}`);
  }
  const [b, d] = sorted as [number[], number[]];
  const added50 = pct(b, 50) - pct(d, 50);
  const added99 = pct(b, 99) - pct(d, 99);
  console.log(`added by the bridge (via bridge - direct): p50 ${added50.toFixed(3)} ms (target <= 2) ${added50 <= 2 ? "MET" : "MISSED"}, p95 ${(pct(b, 95) - pct(d, 95)).toFixed(3)} ms, p99 ${added99.toFixed(3)} ms (target <= 10) ${added99 <= 10 ? "MET" : "MISSED"}`);
  if (measured.some((s) => s.failed || s.wrong)) console.log("some requests failed or were answered by the wrong container: see the table");

  // Carrier's own view of the same requests, from its records: request in -> response out, which
  // includes the round trip through the tunnel to the local container and back
  const token = Buffer.from(
    (await core.readNamespacedSecret({ namespace: NAMESPACE, name: carrierTokenSecretName(bridgeGroupId({ namespace: ns, kind: "deployment", name: "api", container: "app" })) })).data!.token!,
    "base64",
  ).toString();
  const durations: number[] = [];
  const ttfbs: number[] = [];
  let aggregated = 0;
  for (const pod of (await core.listNamespacedPod({ namespace: ns, labelSelector: "app=api" })).items) {
    const ip = pod.status?.podIP;
    if (!ip) continue;
    const snap = await getJson<{ entries: { type: string; kind?: string; path?: string; time: string; durationMs?: number; ttfbMs?: number | null; route?: { to: string } | null; count?: number }[] }>(ip, 8999, "/records?since=0", token);
    for (const e of snap?.entries ?? []) {
      if (Date.parse(e.time) < measuredFrom) continue;
      if (e.type === "aggregate") aggregated += e.count ?? 0;
      if (e.type !== "record" || e.kind !== "http" || e.path !== "/bench" || e.route?.to !== "local") continue;
      durations.push(e.durationMs!);
      if (e.ttfbMs != null) ttfbs.push(e.ttfbMs);
    }
  }
  durations.sort((a, c) => a - c);
  ttfbs.sort((a, c) => a - c);
  if (durations.length) {
    console.log(
      `inside Carrier (its records: request in -> response out, tunnel round trip included; ${durations.length} records${aggregated ? `, sampled in seconds above the record rate (${aggregated} requests in those)` : ""}): p50 ${pct(durations, 50).toFixed(3)} ms, p95 ${pct(durations, 95).toFixed(3)} ms, p99 ${pct(durations, 99).toFixed(3)} ms; to the response head p50 ${pct(ttfbs, 50).toFixed(3)} ms`,
    );
  } else console.log("inside Carrier: no records could be read from the bridged pods");
} finally {
  await unbridge({ kubeconfig, name: bridgeName }).catch(() => undefined);
  await removeLocal(localName).catch(() => undefined);
  await down({ kubeconfig, name: connection }).catch(() => undefined);
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
}
