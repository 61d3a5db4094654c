/// <reference lib="dom" />
/**
 * Requests through a bridge to rows on the traffic inspector's screen, under load.
 *
 *   npx tsx bench/record-to-screen.ts [--rate 1000] [--seconds 60] [--replicas 2] [--tsx] [--profile] [--trace] [--browser-nice N]
 *
 * Sets up a namespace with an echo Deployment (N replicas, NodePort Service), a connection, a
 * local container and a personal bridge (header x-user=me; 1 request in 10 carries it and goes to
 * the local container, the rest to the shadow copy), starts the server as `npm start` does (the
 * bundle on plain node; --tsx: through tsx) in its own process, opens the Traffic screen in
 * Debian's Chromium on that bridge, then sends `rate` requests per second through the NodePort for
 * `seconds` seconds (open loop: a request is started every 1/rate s whatever the answers do, up to
 * 256 in flight; raw keep-alive sockets, bench/raw-load.ts, so the load takes little of the CPUs the
 * page needs). Prints:
 *  - requests sent / answered, the rate reached;
 *  - what Carrier kept (it samples above its 200/s per pod, and says so) and what reached the page;
 *  - record-to-row time (the target): from Carrier's record of a request (its start plus its duration:
 *    the moment the response was done) to the moment its row was in the page's DOM (a
 *    MutationObserver in the page; one machine, one clock), p50 / p95 / p99 / max; and the same from
 *    the moment the bench sent the request, which adds the request's own way through the cluster;
 *  - the page's main-thread time by kind (script, style, layout) and the CPU time of each part of
 *    the machine (browser, Carrier, server, apps, the bench itself) during the load;
 *  - --profile: where the page's CPU time went (10 s CPU profile); --trace: its main thread's
 *    events and what its layouts touched (3 s trace; tracing itself slows the page);
 *  - long tasks in the page (PerformanceObserver): count over 50 ms, over 200 ms, the longest;
 *  - the server's RSS (with children) before, at the peak (sampled every second) and after, and
 *    where it goes at the end (health.info).
 * Everything it made is removed at the end, also on Ctrl-C.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { chromium } from "@playwright/test";
import { bridge, unbridge } from "../apps/server/src/core/bridge";
import { down, up } from "../apps/server/src/core/connection";
import { removeLocal, runLocal } from "../apps/server/src/core/run/local-container";
import { SERVER_NODE_FLAGS, bundleServer } from "../apps/server/src/http/bundle";
import { ensureFixtureImage } from "../e2e/support/devcluster";
import { RawLoad } from "./raw-load";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const KUBECONFIG = join(ROOT, ".devcluster", "kubeconfig");
const NODE_IP = process.env.GEFYRA_E2E_NODE_IP ?? "10.87.0.1";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}
const RATE = arg("rate", 1000);
const SECONDS = arg("seconds", 60);
const REPLICAS = arg("replicas", 2);
const VIA_TSX = process.argv.includes("--tsx");
/** Extra node flags for the server, after those npm start gives it (a later flag wins), e.g. --server-node-args "--max-old-space-size=4096". */
const SERVER_NODE_ARGS = (() => {
  const i = process.argv.indexOf("--server-node-args");
  return i >= 0 ? (process.argv[i + 1] ?? "").split(" ").filter(Boolean) : [];
})();

/** --trace: a 3 s trace of the page's main thread in the middle of the load; prints its events by total time and what its layouts touched. */
const TRACE = process.argv.includes("--trace");

interface TraceEvent { name: string; ph: string; dur?: number; tid: number; pid: number; args?: { beginData?: { dirtyObjects?: number; totalObjects?: number; partialLayout?: boolean }; data?: { elementCount?: number } } }
function summarizeTrace(events: TraceEvent[]): string[] {
  const main = events.find((e) => e.name === "thread_name" && (e.args as { name?: string } | undefined)?.name === "CrRendererMain");
  const mine = events.filter((e) => e.ph === "X" && e.dur !== undefined && (!main || (e.pid === main.pid && e.tid === main.tid)));
  const byName = new Map<string, { n: number; us: number }>();
  for (const e of mine) {
    const x = byName.get(e.name) ?? { n: 0, us: 0 };
    x.n++;
    x.us += e.dur!;
    byName.set(e.name, x);
  }
  const layouts = mine.filter((e) => e.name === "Layout");
  const avg = (f: (e: TraceEvent) => number) => (layouts.length ? layouts.reduce((a, e) => a + f(e), 0) / layouts.length : 0);
  const lines = [...byName]
    .filter(([n]) => n !== "ThreadControllerImpl::RunTask" && n !== "RunTask")
    .sort((a, b) => b[1].us - a[1].us)
    .slice(0, 14)
    .map(([n, x]) => `${(x.us / 1000).toFixed(0).padStart(6)} ms in ${String(x.n).padStart(5)}  ${n}`);
  lines.push(`layouts: ${layouts.length}, ${(avg((e) => e.dur!) / 1000).toFixed(1)} ms each, ${avg((e) => e.args?.beginData?.dirtyObjects ?? 0).toFixed(0)} of ${avg((e) => e.args?.beginData?.totalObjects ?? 0).toFixed(0)} objects dirty on average`);
  const longest = [...layouts].sort((a, b) => b.dur! - a.dur!).slice(0, 5);
  lines.push(`longest layouts: ${longest.map((e) => `${(e.dur! / 1000).toFixed(0)} ms (${e.args?.beginData?.dirtyObjects ?? "?"} of ${e.args?.beginData?.totalObjects ?? "?"} dirty)`).join(", ")}`);
  const styles = mine.filter((e) => e.name === "UpdateLayoutTree").sort((a, b) => b.dur! - a.dur!).slice(0, 5);
  lines.push(`longest style recalcs: ${styles.map((e) => `${(e.dur! / 1000).toFixed(0)} ms (${e.args?.data?.elementCount ?? "?"} elements)`).join(", ")}`);
  return lines;
}

/** --profile: a CPU profile of the page over 10 s in the middle of the load; prints where its time went. */
const PROFILE = process.argv.includes("--profile");
/**
 * --browser-nice N: the browser runs at this nice value (-20..19). For telling CPU contention from
 * the page's own work: here the cluster, the load and the dashboard share the same CPUs, while in
 * real use the cluster and the clients are elsewhere.
 */
const BROWSER_NICE = (() => {
  const i = process.argv.indexOf("--browser-nice");
  if (i < 0) return undefined;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < -20 || v > 19) throw new Error("--browser-nice needs a whole number from -20 to 19");
  return v;
})();

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; hitCount?: number }
function topOfProfile(profile: { nodes: ProfileNode[]; samples?: number[]; timeDeltas?: number[] }): string[] {
  const byNode = new Map<number, number>();
  const samples = profile.samples ?? [];
  samples.forEach((id, i) => byNode.set(id, (byNode.get(id) ?? 0) + (profile.timeDeltas?.[i] ?? 0)));
  const byFrame = new Map<string, number>();
  for (const n of profile.nodes) {
    const f = n.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop() ?? ""}:${f.lineNumber + 1}:${f.columnNumber + 1}`;
    byFrame.set(key, (byFrame.get(key) ?? 0) + (byNode.get(n.id) ?? 0));
  }
  const total = [...byFrame.values()].reduce((a, b) => a + b, 0);
  return [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k, us]) => `${(us / 1000).toFixed(0).padStart(6)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`);
}

const kc = new k8s.KubeConfig();
kc.loadFromFile(KUBECONFIG);
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);

/** `pid` and every process below it. */
function processTree(pid: number): number[] {
  const tree: number[] = [];
  const visit = (p: number) => {
    tree.push(p);
    try {
      for (const task of readdirSync(`/proc/${p}/task`)) {
        for (const child of readFileSync(`/proc/${p}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) visit(Number(child));
      }
    } catch {
      // the process ended meanwhile
    }
  };
  visit(pid);
  return tree;
}

function rssMb(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const line = readFileSync(`/proc/${p}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:")) ?? "VmRSS: 0 kB";
      kb += Number(line.split(/\s+/)[1]);
    } catch {
      // the process ended meanwhile
    }
  }
  return Math.round(kb / 1024);
}

/** CPU seconds so far of every process, by a group name: where the machine's CPUs go during the load. */
function cpuByGroup(serverPid: number): Map<string, number> {
  const serverTree = new Set(processTree(serverPid));
  const groups = new Map<string, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const seconds = (Number(fields[11]) + Number(fields[12])) / 100;
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? -1);
      const group =
        pid === process.pid ? "bench (load + Playwright)" : serverTree.has(pid) ? "server" : comm === "chromium" || comm.startsWith("chrom") ? `browser ${/--type=(\S+)/.exec(readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " "))?.[1] ?? "main"}` : comm === "node" && uid === 10001 ? "Carrier (all pods)" : comm === "node" ? "other node (apps, operator)" : comm;
      groups.set(group, (groups.get(group) ?? 0) + seconds);
    } catch {
      // the process ended meanwhile
    }
  }
  return groups;
}

const pct = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const ms = (v: number) => `${v.toFixed(0)} ms`;

async function main(): Promise<void> {
  const suffix = Math.random().toString(36).slice(2, 7);
  const ns = `bench-r2s-${suffix}`;
  const connection = `bench-r2s-${suffix}`;
  const local = `bench-r2s-local-${suffix}`;
  const bridgeName = `bench-r2s-${suffix}`;
  const dataDir = mkdtempSync(join(tmpdir(), "gefyra-bench-r2s-"));
  let server: ReturnType<typeof spawn> | undefined;
  const cleanup = async () => {
    server?.kill("SIGTERM");
    await unbridge({ kubeconfig: KUBECONFIG, connection, all: true }).catch(() => undefined);
    await removeLocal(local).catch(() => undefined);
    await down({ kubeconfig: KUBECONFIG, name: connection }).catch(() => undefined);
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  };
  const interrupted = () => void cleanup().finally(() => process.exit(130));
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  let executablePath = chromiumPath;
  if (BROWSER_NICE !== undefined) {
    executablePath = join(dataDir, "chromium-niced");
    writeFileSync(executablePath, `#!/bin/sh\nexec nice -n ${BROWSER_NICE} ${chromiumPath} "$@"\n`, { mode: 0o755 });
    console.log(`browser at nice ${BROWSER_NICE}`);
  }
  const browser = await chromium.launch({ executablePath, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  try {
    // ---- the bridge --------------------------------------------------------------------------
    const echo = await ensureFixtureImage("echo");
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const labels = { app: "api" };
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "api" },
        spec: {
          replicas: REPLICAS,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { terminationGracePeriodSeconds: 2, containers: [{ name: "app", image: echo, imagePullPolicy: "IfNotPresent", ports: [{ containerPort: 8080 }], env: [{ name: "IDENTITY", value: "original" }] }] } },
        },
      },
    });
    const svc = await core.createNamespacedService({ namespace: ns, body: { metadata: { name: "api" }, spec: { type: "NodePort", selector: labels, ports: [{ port: 8080, targetPort: 8080 }] } } });
    const nodePort = svc.spec!.ports![0]!.nodePort!;
    for (;;) {
      const d = await apps.readNamespacedDeployment({ namespace: ns, name: "api" });
      if ((d.status?.readyReplicas ?? 0) >= REPLICAS) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await up({ kubeconfig: KUBECONFIG, name: connection });
    await runLocal({ name: local, connection, namespace: ns, kubeConfig: kc, image: echo, env: { IDENTITY: "local" } });
    await bridge({ kubeconfig: KUBECONFIG, connection, name: bridgeName, target: "deploy/api", namespace: ns, local, ports: [{ remote: 8080, local: 8080 }], match: [{ kind: "header", name: "x-user", op: "exact", value: "me" }] });
    console.log(`bridge ${bridgeName}: ${REPLICAS} replica(s) of deploy/api in ${ns}, NodePort ${nodePort}`);

    // ---- the server and the page -------------------------------------------------------------
    const serverArgs = ["--port", "0", "--data-dir", dataDir];
    const [command, cmdArgs] = VIA_TSX ? [join(ROOT, "node_modules", ".bin", "tsx"), ["apps/server/src/http/main.ts", ...serverArgs]] : [process.execPath, [...SERVER_NODE_FLAGS, ...SERVER_NODE_ARGS, await bundleServer(), ...serverArgs]];
    server = spawn(command, cmdArgs, { cwd: ROOT, env: { ...process.env, KUBECONFIG, NEXT_TELEMETRY_DISABLED: "1" }, stdio: ["ignore", "pipe", "inherit"] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      server?.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
        const m = /dashboard: (\S+)/.exec(out);
        if (m?.[1]) resolve(m[1]);
      });
      server?.once("exit", (code) => reject(new Error(`the server exited (${code}) before printing its URL`)));
    });
    const pid = server.pid ?? 0;
    const origin = new URL(url).origin;
    const token = new URL(url).searchParams.get("token") ?? "";
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.addInitScript(() => {
      const w = window as unknown as { __seen: Map<string, number>; __recorded: number[]; __long: Array<[number, number]>; __frames: Array<[number, string]> };
      w.__seen = new Map();
      w.__recorded = [];
      w.__long = [];
      w.__frames = [];
      new MutationObserver((mutations) => {
        const t = performance.timeOrigin + performance.now();
        for (const m of mutations) {
          for (const n of Array.from(m.addedNodes)) {
            if (!(n instanceof Element)) continue;
            const rows = n.matches("[data-path]") ? [n] : Array.from(n.querySelectorAll("[data-path]"));
            for (const r of rows) {
              const p = r.getAttribute("data-path") ?? "";
              if (w.__seen.has(p)) continue;
              w.__seen.set(p, t);
              w.__recorded.push(t - Number(r.getAttribute("data-recorded")));
            }
          }
        }
      }).observe(document, { subtree: true, childList: true });
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.__long.push([e.startTime, e.duration]);
      }).observe({ type: "longtask", buffered: true });
      // what the long frames spent their time on (Long Animation Frames: scripts, style and layout;
      // the rest of a frame is rendering, or GC, which no entry names)
      interface FrameScript { duration: number; invoker: string; sourceFunctionName: string; sourceURL: string; forcedStyleAndLayoutDuration: number }
      interface Frame { duration: number; startTime: number; renderStart: number; styleAndLayoutStart: number; scripts: FrameScript[] }
      new PerformanceObserver((list) => {
        for (const e of list.getEntries() as unknown as Frame[]) {
          if (e.duration <= 200) continue;
          const scripts = e.scripts
            .filter((x) => x.duration >= 20)
            .map((x) => `${x.invoker || "?"} ${x.sourceFunctionName || ""}@${x.sourceURL.split("/").pop() ?? ""} ${Math.round(x.duration)} ms${x.forcedStyleAndLayoutDuration ? ` (forced layout ${Math.round(x.forcedStyleAndLayoutDuration)})` : ""}`);
          const render = e.renderStart ? Math.round(e.startTime + e.duration - e.renderStart) : 0;
          const layout = e.styleAndLayoutStart ? Math.round(e.startTime + e.duration - e.styleAndLayoutStart) : 0;
          w.__frames.push([e.startTime, `${Math.round(e.duration)} ms: scripts ${Math.round(e.scripts.reduce((n, x) => n + x.duration, 0))} ms [${scripts.join("; ")}], render ${render} ms (style+layout ${layout} ms)`]);
        }
      }).observe({ type: "long-animation-frame", buffered: true });
    });
    await page.goto(url);
    await page.getByRole("tab", { name: "Traffic" }).click();
    await page.getByLabel("Bridge", { exact: true }).selectOption(bridgeName);
    await page.getByRole("list", { name: "Feed status" }).filter({ hasText: `${bridgeName}: ${REPLICAS}/${REPLICAS} pod(s) live` }).waitFor({ timeout: 60_000 });
    const rssBefore = rssMb(pid);
    // the page's main-thread time by kind over the load (Chrome's own counters, through CDP)
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const pageMetrics = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((x) => [x.name, x.value])) as Record<string, number>;
    const metricsBefore = await pageMetrics();
    const cpuBefore = cpuByGroup(pid);

    // ---- load --------------------------------------------------------------------------------
    const load = new RawLoad(NODE_IP, nodePort, 256);
    const sentAt = new Map<string, number>();
    let skipped = 0;
    let peakRss = rssBefore;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(pid))), 1000);
    const total = Math.round(RATE * SECONDS);
    const pageT0 = await page.evaluate(() => performance.now());
    const t0 = performance.now();
    const profiled = PROFILE
      ? (async () => {
          await new Promise((r) => setTimeout(r, (SECONDS * 1000) / 2 - 5000));
          await cdp.send("Profiler.enable");
          await cdp.send("Profiler.start");
          await new Promise((r) => setTimeout(r, 10_000));
          const { profile } = await cdp.send("Profiler.stop");
          return topOfProfile(profile);
        })()
      : Promise.resolve([]);
    const traced = TRACE
      ? (async () => {
          await new Promise((r) => setTimeout(r, (SECONDS * 1000) / 2 + 6000));
          const events: TraceEvent[] = [];
          cdp.on("Tracing.dataCollected", (d: { value: object[] }) => events.push(...(d.value as TraceEvent[])));
          const complete = new Promise<void>((r) => cdp.once("Tracing.tracingComplete", () => r()));
          await cdp.send("Tracing.start", { categories: "devtools.timeline,blink,__metadata", transferMode: "ReportEvents" });
          await new Promise((r) => setTimeout(r, 3000));
          await cdp.send("Tracing.end");
          await complete;
          return summarizeTrace(events);
        })()
      : Promise.resolve([]);
    await new Promise<void>((resolve) => {
      let i = 0;
      const tick = () => {
        const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE));
        for (; i < due; i++) {
          const path = `/b/${i}`;
          if (!load.send(path, i % 10 === 0 ? { "x-user": "me" } : {})) {
            skipped++;
            continue;
          }
          sentAt.set(path, Date.now());
        }
        if (i >= total) resolve();
        else setTimeout(tick, 2);
      };
      tick();
    });
    const sendSeconds = (performance.now() - t0) / 1000;
    const metricsAfter = await pageMetrics();
    const cpuAfter = cpuByGroup(pid);
    while (load.inFlight > 0 && performance.now() - t0 < (SECONDS + 15) * 1000) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 3000)); // the last records travel
    clearInterval(sampler);
    load.close();

    // ---- figures -----------------------------------------------------------------------------
    const seen = new Map(await page.evaluate(() => [...(window as unknown as { __seen: Map<string, number> }).__seen.entries()]));
    const recordToDom = await page.evaluate(() => (window as unknown as { __recorded: number[] }).__recorded);
    // the target is about the page under load: long tasks of loading the page itself (hydration)
    // are before `pageT0`, and printed apart
    const pageLong = await page.evaluate(() => (window as unknown as { __long: Array<[number, number]> }).__long);
    const longTasks = pageLong.filter(([at]) => at >= pageT0).map(([, d]) => d);
    const loadingLong = pageLong.filter(([at]) => at < pageT0).map(([, d]) => d);
    const longFrames = (await page.evaluate(() => (window as unknown as { __frames: Array<[number, string]> }).__frames)).filter(([at]) => at >= pageT0).map(([, f]) => f);
    const pageHeapMb = await page.evaluate(() => Math.round(((performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0) / 1048576));
    const delays: number[] = [];
    for (const [path, at] of sentAt) {
      const t = seen.get(path);
      if (t !== undefined) delays.push(t - at);
    }
    const status = (await (await fetch(`${origin}/api/trpc/traffic.status?input=${encodeURIComponent(JSON.stringify({ context: kc.getCurrentContext() }))}`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      result: { data: { lagMs?: { p50: number; p95: number; max: number }; bridges: Array<{ name: string; counts: { records: number; sampled: number; dropped: number; missed: number; notStored: number } }> } };
    };
    const counts = status.result.data.bridges.find((b) => b.name === bridgeName)?.counts;
    const health = (await (await fetch(`${origin}/api/trpc/health.info`, { headers: { authorization: `Bearer ${token}` } })).json()) as { result: { data: { memory: { rss: number; heapUsed: number; heapTotal: number; external: number } } } };
    const m = health.result.data.memory;
    const mb = (b: number) => Math.round(b / 1024 / 1024);
    const rssAfter = rssMb(pid);

    console.log(`load: ${sentAt.size} requests sent in ${sendSeconds.toFixed(1)} s (${(sentAt.size / sendSeconds).toFixed(0)}/s of ${RATE}/s asked; ${skipped} not sent: 256 in flight), ${load.answered} answered, ${load.failed} failed`);
    if (counts) {
      console.log(
        `Carrier: ${counts.records} records sent in full (${counts.sampled} of them samples), ${counts.dropped} counted but not kept (sampling above 200/s per pod), ${counts.missed} missed, ${counts.notStored} not stored`,
      );
    }
    console.log(`page: ${delays.length} rows appeared for the ${sentAt.size} requests (the rest were not kept in full by Carrier, or went by in the same frame below the fold)`);
    // the target is from Carrier's record (made when the response is done) to the row; from the
    // moment the bench sent the request adds the request's own time through the NodePort and Carrier
    if (recordToDom.length) console.log(`Carrier's record (response done) to row in the DOM: p50 ${ms(pct(recordToDom, 50))}, p95 ${ms(pct(recordToDom, 95))}, p99 ${ms(pct(recordToDom, 99))}, max ${ms(Math.max(...recordToDom))} (target p95 <= 500 ms)`);
    if (delays.length) console.log(`request sent to row in the DOM (adds the request's own time): p50 ${ms(pct(delays, 50))}, p95 ${ms(pct(delays, 95))}, p99 ${ms(pct(delays, 99))}, max ${ms(Math.max(...delays))}`);
    const lag = status.result.data.lagMs;
    if (lag) console.log(`of which Carrier to the server's feed (last 1000 records, through the API's port-forward): p50 ${ms(lag.p50)}, p95 ${ms(lag.p95)}, max ${ms(lag.max)}`);
    console.log(`long tasks in the page during the load: ${longTasks.filter((d) => d > 50).length} over 50 ms, ${longTasks.filter((d) => d > 200).length} over 200 ms, longest ${ms(Math.max(0, ...longTasks))} (target: none over 200 ms); page JS heap ${pageHeapMb} MB at the end`);
    console.log(`long tasks while the page loaded, before the load: ${loadingLong.length}, longest ${ms(Math.max(0, ...loadingLong))}`);
    const spent = (k: string) => (metricsAfter[k] ?? 0) - (metricsBefore[k] ?? 0);
    console.log(
      `page main thread during the ${sendSeconds.toFixed(0)} s of load: busy ${spent("TaskDuration").toFixed(1)} s (script ${spent("ScriptDuration").toFixed(1)} s, style ${spent("RecalcStyleDuration").toFixed(1)} s in ${spent("RecalcStyleCount")} recalcs, layout ${spent("LayoutDuration").toFixed(1)} s in ${spent("LayoutCount")} layouts)`,
    );
    const cpu = [...cpuAfter].map(([g, s]) => [g, s - (cpuBefore.get(g) ?? 0)] as const).sort((a, b) => b[1] - a[1]);
    console.log(`CPU during the load (${sendSeconds.toFixed(0)} s on ${availableParallelism()} CPUs): ${cpu.slice(0, 9).map(([g, s]) => `${g} ${s.toFixed(1)} s`).join(", ")}`);
    const trace = await traced;
    if (trace.length) console.log(`page trace, 3 s in the middle of the load, main thread:\n  ${trace.join("\n  ")}`);
    const top = await profiled;
    if (top.length) console.log(`page CPU profile, 10 s in the middle of the load, self time:\n  ${top.join("\n  ")}`);
    for (const f of longFrames.slice(0, 8)) console.log(`  long frame ${f}`);
    console.log(`server (${VIA_TSX ? "tsx" : "bundle on node, as npm start"}) RSS: before ${rssBefore} MB, peak ${peakRss} MB, after ${rssAfter} MB; at the end V8 heap ${mb(m.heapTotal)} MB (${mb(m.heapUsed)} used), external ${mb(m.external)} MB, the rest ${mb(m.rss - m.heapTotal - m.external)} MB`);
  } finally {
    await browser.close();
    await cleanup();
  }
}

await main();
