// Tunnel figures on the devcluster:   npx tsx bench/tunnel.ts [SECONDS=5]
//  1. gefyra tunnel: a container on a connection's network (route + DNS via Cargo) -> a pod/Service
//  2. NodePort path without tunnel: a container on a plain Docker network -> NodePorts of the node
//  3. bare wireguard-go between two network namespaces (containers) made by the bench, same MTU
// For each: TCP throughput (iperf3, one stream), ICMP round trip (median of 50 pings) and HTTP
// request/response time (median of 100 curl GETs, new connection each).
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { down, up } from "../apps/server/src/core/connection";

const run = promisify(execFile);
const root = join(fileURLToPath(new URL(".", import.meta.url)), "..");
const kubeconfig = process.env.GEFYRA_E2E_KUBECONFIG ?? join(root, ".devcluster", "kubeconfig");
const seconds = Number(process.argv[2] ?? 5);
const IMAGE = "gefyra-ts-bench/tools:1";
const CONN = "bench-tunnel";
const PLAIN = "gefyra-ts-bench-plain";
const WGNET = "gefyra-ts-bench-wg";
const MTU = 1340;

const sh = async (args: string[], timeout = 120_000) => (await run(args[0]!, args.slice(1), { maxBuffer: 64 << 20, timeout })).stdout;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Runs a script in a throwaway client container; `pre` prepares routing inside it. */
async function client(network: string, script: string, extra: string[] = []): Promise<string> {
  return sh(["docker", "run", "--rm", "--network", network, "--cap-add", "NET_ADMIN", ...extra, IMAGE, "sh", "-c", script], 300_000);
}

interface Figures {
  mbps: number;
  pingMs: number;
  httpMs: number;
}

async function measure(network: string, pre: string, target: string, iperfPort: number, httpUrl: string, extra: string[] = []): Promise<Figures> {
  const iperf = JSON.parse(await client(network, `${pre} iperf3 -J -c ${target} -p ${iperfPort} -t ${seconds}`, extra)) as {
    end: { sum_received: { bits_per_second: number } };
  };
  const pingOut = await client(network, `${pre} ping -n -c 50 -i 0.02 ${target.split(":")[0]}`, extra);
  const pings = [...pingOut.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  const httpOut = await client(network, `${pre} for i in $(seq 100); do curl -s -o /dev/null -w '%{time_total}\\n' ${httpUrl}; done`, extra);
  const https = httpOut.split("\n").filter(Boolean).map((s) => Number(s) * 1000);
  return { mbps: iperf.end.sum_received.bits_per_second / 1e6, pingMs: median(pings), httpMs: median(https) };
}

const kc = new k8s.KubeConfig();
kc.loadFromFile(kubeconfig);
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const ns = `gts-bench-${Math.random().toString(36).slice(2, 7)}`;
const cleanup: Array<() => Promise<unknown>> = [];

try {
  process.stderr.write("building the bench tools image and loading it into the devcluster\n");
  await sh(["docker", "build", "-q", "-t", IMAGE, join(root, "bench", "connection-tools")], 600_000);
  await sh(["bash", join(root, "e2e", "devcluster", "load.sh"), IMAGE], 600_000);

  await core.createNamespace({ body: { metadata: { name: ns } } });
  cleanup.push(() => core.deleteNamespace({ name: ns }));
  const labels = { app: "perf" };
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: "perf" },
      spec: {
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            terminationGracePeriodSeconds: 0,
            containers: [{ name: "perf", image: IMAGE, imagePullPolicy: "Never", command: ["sh", "-c", "busybox httpd -p 8080 -h /www && exec iperf3 -s"] }],
          },
        },
      },
    },
  });
  const svc = await core.createNamespacedService({
    namespace: ns,
    body: { metadata: { name: "perf" }, spec: { type: "NodePort", selector: labels, ports: [{ name: "iperf", port: 5201 }, { name: "http", port: 8080 }] } },
  });
  const nodePort = (n: string) => svc.spec?.ports?.find((p) => p.name === n)?.nodePort ?? 0;
  let podIP = "";
  for (let i = 0; i < 240 && !podIP; i++) {
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: "app=perf" });
    const p = pods.items.find((x) => x.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
    podIP = p?.status?.podIP ?? "";
    if (!podIP) await new Promise((r) => setTimeout(r, 500));
  }
  if (!podIP) throw new Error("the perf pod did not become ready");

  // 1. through the gefyra tunnel
  process.stderr.write("1/3 gefyra tunnel\n");
  const info = await up({ kubeconfig, name: CONN });
  cleanup.push(() => down({ kubeconfig, name: CONN }));
  const viaCargo = `ip route replace default via ${info.cargoIp} &&`;
  const tunnel = await measure(info.network, viaCargo, podIP, 5201, `http://perf.${ns}.svc.cluster.local:8080/`, ["--dns", info.cargoIp]);

  // 2. NodePort from a plain Docker network, no tunnel
  process.stderr.write("2/3 NodePort without tunnel\n");
  await sh(["docker", "network", "create", PLAIN]);
  cleanup.push(() => sh(["docker", "network", "rm", PLAIN]));
  const node = "10.87.0.1";
  const plainIperf = JSON.parse(await client(PLAIN, `iperf3 -J -c ${node} -p ${nodePort("iperf")} -t ${seconds}`)) as { end: { sum_received: { bits_per_second: number } } };
  const plainPing = [...(await client(PLAIN, `ping -n -c 50 -i 0.02 ${node}`)).matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  const plainHttp = (await client(PLAIN, `for i in $(seq 100); do curl -s -o /dev/null -w '%{time_total}\\n' http://${node}:${nodePort("http")}/; done`))
    .split("\n")
    .filter(Boolean)
    .map((s) => Number(s) * 1000);
  const plain: Figures = { mbps: plainIperf.end.sum_received.bits_per_second / 1e6, pingMs: median(plainPing), httpMs: median(plainHttp) };

  // 3. bare wireguard-go between two containers (network namespaces) on their own Docker network
  process.stderr.write("3/3 bare wireguard-go\n");
  await sh(["docker", "network", "create", WGNET]);
  cleanup.push(() => sh(["docker", "network", "rm", WGNET]));
  const peers = ["gefyra-ts-bench-wg-a", "gefyra-ts-bench-wg-b"];
  for (const p of peers) {
    await sh(["docker", "run", "-d", "--name", p, "--network", WGNET, "--cap-add", "NET_ADMIN", "--device", "/dev/net/tun", IMAGE, "sleep", "infinity"]);
    cleanup.unshift(() => sh(["docker", "rm", "-f", p]));
  }
  const ipOf = async (c: string) => (await sh(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", c])).trim();
  const keys: Array<{ priv: string; pub: string; ip: string }> = [];
  for (const p of peers) {
    const priv = (await sh(["docker", "exec", p, "wg", "genkey"])).trim();
    const pub = (await sh(["docker", "exec", p, "sh", "-c", `echo ${priv} | wg pubkey`])).trim();
    keys.push({ priv, pub, ip: await ipOf(p) });
  }
  for (let i = 0; i < 2; i++) {
    const me = keys[i]!;
    const other = keys[1 - i]!;
    await sh([
      "docker", "exec", peers[i]!, "sh", "-c",
      `wireguard-go wg0 && echo ${me.priv} >/tmp/k && wg set wg0 private-key /tmp/k listen-port 51820 peer ${other.pub} endpoint ${other.ip}:51820 allowed-ips 10.213.99.${2 - i}/32 && ip addr add 10.213.99.${i + 1}/24 dev wg0 && ip link set wg0 mtu ${MTU} up`,
    ]);
  }
  await sh(["docker", "exec", "-d", peers[1]!, "sh", "-c", "busybox httpd -p 8080 -h /www && iperf3 -s"]);
  await new Promise((r) => setTimeout(r, 1000));
  const wgIperf = JSON.parse(await sh(["docker", "exec", peers[0]!, "iperf3", "-J", "-c", "10.213.99.2", "-t", String(seconds)])) as { end: { sum_received: { bits_per_second: number } } };
  const wgPing = [...(await sh(["docker", "exec", peers[0]!, "ping", "-n", "-c", "50", "-i", "0.02", "10.213.99.2"])).matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  const wgHttp = (await sh(["docker", "exec", peers[0]!, "sh", "-c", "for i in $(seq 100); do curl -s -o /dev/null -w '%{time_total}\\n' http://10.213.99.2:8080/; done"]))
    .split("\n")
    .filter(Boolean)
    .map((s) => Number(s) * 1000);
  const bare: Figures = { mbps: wgIperf.end.sum_received.bits_per_second / 1e6, pingMs: median(wgPing), httpMs: median(wgHttp) };

  const row = (name: string, f: Figures) => `${name.padEnd(40)} ${f.mbps.toFixed(0).padStart(8)} Mbit/s ${f.pingMs.toFixed(3).padStart(8)} ms ${f.httpMs.toFixed(2).padStart(8)} ms`;
  console.log(`${"path".padEnd(40)} ${"TCP (iperf3)".padStart(15)} ${"ping RTT".padStart(11)} ${"HTTP GET".padStart(11)}`);
  console.log(row("gefyra tunnel (Cargo -> Stowaway -> pod)", tunnel));
  console.log(row("NodePort, no tunnel", plain));
  console.log(row(`bare wireguard-go, 2 netns (mtu ${MTU})`, bare));
  console.log(`(median of 50 pings and 100 GETs; iperf3 ${seconds} s, one stream; 2-core machine, all endpoints on it)`);
} finally {
  for (const c of cleanup) await c().catch(() => undefined);
}
