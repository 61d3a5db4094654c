// Bridge setup and teardown on the devcluster, images present:
//   npx tsx bench/bridge-setup.ts [RUNS=5] [REPLICAS=1]
// Per run: from bridge() being called to the first request through the NodePort answered by the
// local container, and from unbridge() to the original answering again with every replica Ready.
// Baseline in the same run: deleting one pod of the workload and waiting for its replacement to
// be Ready (what a bridge that restarts pods pays at least).
import http from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { bridge, unbridge } from "../apps/server/src/core/bridge";
import { down, up } from "../apps/server/src/core/connection";
import { removeLocal, runLocal } from "../apps/server/src/core/run/local-container";
import { ensureFixtureImage } from "../e2e/support/devcluster";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..");
const kubeconfig = process.env.GEFYRA_E2E_KUBECONFIG ?? join(root, ".devcluster", "kubeconfig");
const nodeIp = process.env.GEFYRA_E2E_NODE_IP ?? "10.87.0.1";
const runs = Number(process.argv[2] ?? 5);
const replicas = Number(process.argv[3] ?? 1);
const ns = `bench-bridge-${Math.random().toString(36).slice(2, 7)}`;
const connection = "bench-bridge";

const kc = new k8s.KubeConfig();
kc.loadFromFile(kubeconfig);
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function identity(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: nodeIp, port, path: "/bench", agent: false, timeout: 2000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve((/"identity":"([^"]+)"/.exec(body) ?? [])[1]));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const allReady = async () => {
  const d = await apps.readNamespacedDeployment({ namespace: ns, name: "api" });
  const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: "app=api" })).items;
  return (d.status?.readyReplicas ?? 0) === replicas && pods.length === replicas && pods.every((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
};

const echo = await ensureFixtureImage("echo");
await core.createNamespace({ body: { metadata: { name: ns } } });
try {
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: "api" },
      spec: {
        replicas,
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
  const port = svc.spec!.ports![0]!.nodePort!;
  await up({ kubeconfig, name: connection });
  await runLocal({ name: "bench-local", connection, namespace: ns, kubeConfig: kc, image: echo, env: { IDENTITY: "local" } });
  await until("the workload", async () => (await allReady()) && (await identity(port)) === "original");

  const setups: number[] = [];
  const teardowns: number[] = [];
  const restarts: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t = Date.now();
    await bridge({ kubeconfig, connection, target: "deploy/api", namespace: ns, local: "bench-local", ports: [{ remote: 8080, local: 8080 }], name: "bench" });
    await until("the local answer", async () => (await identity(port)) === "local");
    setups.push(Date.now() - t);
    t = Date.now();
    await unbridge({ kubeconfig, name: "bench" });
    await until("the original answer", async () => (await allReady()) && (await identity(port)) === "original");
    teardowns.push(Date.now() - t);
    // baseline: one pod deleted, its replacement Ready and answering
    const victim = (await core.listNamespacedPod({ namespace: ns, labelSelector: "app=api" })).items[0]!.metadata!.name!;
    t = Date.now();
    await core.deleteNamespacedPod({ namespace: ns, name: victim });
    await until("the replacement", async () => {
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: "app=api" })).items;
      return !pods.some((p) => p.metadata!.name === victim) && (await allReady());
    });
    restarts.push(Date.now() - t);
    process.stderr.write(`  run ${i + 1}/${runs}: bridge ${fmt(setups.at(-1)!)}, unbridge ${fmt(teardowns.at(-1)!)}, pod replaced ${fmt(restarts.at(-1)!)}\n`);
  }
  console.log(`bridge setup, ${replicas} replica(s) (n=${runs}): median ${fmt(median(setups))}, min ${fmt(Math.min(...setups))}, max ${fmt(Math.max(...setups))} (target median <= 5 s)`);
  console.log(`unbridge to restored (n=${runs}): median ${fmt(median(teardowns))}, min ${fmt(Math.min(...teardowns))}, max ${fmt(Math.max(...teardowns))} (target median <= 5 s)`);
  console.log(`baseline pod replacement (n=${runs}): median ${fmt(median(restarts))}; bridge setup / pod replacement = ${(median(setups) / median(restarts)).toFixed(2)}`);
} finally {
  await unbridge({ kubeconfig, name: "bench" }).catch(() => undefined);
  await removeLocal("bench-local").catch(() => undefined);
  await down({ kubeconfig, name: connection }).catch(() => undefined);
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
}
