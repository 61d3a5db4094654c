/// <reference lib="dom" />
/**
 * The Workloads screen with thousands of objects, in Chromium against the real server and devcluster.
 *
 *   npx tsx bench/dashboard-workloads.ts [--deployments 2000] [--services 500] [--keep] [--tsx]
 *
 * Creates a namespace with N Deployments (replicas 0, so nothing is scheduled) and M Services
 * through the API, starts the server the way `npm start` does (the bundle of
 * apps/server/src/http/main.ts run by plain node; `--tsx`: through tsx, as before) in its own
 * process with the devcluster's kubeconfig, opens the dashboard in Debian's Chromium and prints:
 *  - time from navigation to the complete list on screen ("N+M of N+M"), with a cold feed (the
 *    server lists the namespace from the API server) and a warm one (reload: the feed is shared);
 *  - per-keystroke filtering time: input event to the last frame that changed the DOM (median, p95, max);
 *  - a live change: API create to the row on screen;
 *  - the server's RSS (with child processes) idle, after the snapshot, and after filtering, and
 *    where it goes (V8 heap, external, the rest: code, native modules, allocator).
 * The namespace is deleted at the end (unless --keep), also on Ctrl-C.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { chromium } from "@playwright/test";
import { SERVER_NODE_FLAGS, bundleServer } from "../apps/server/src/http/bundle";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const KUBECONFIG = join(ROOT, ".devcluster", "kubeconfig");

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a number`);
  return v;
}
const DEPLOYMENTS = arg("deployments", 2000);
const SERVICES = arg("services", 500);
const KEEP = process.argv.includes("--keep");
const VIA_TSX = process.argv.includes("--tsx");

const kc = new k8s.KubeConfig();
kc.loadFromFile(KUBECONFIG);
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const context = kc.getCurrentContext();

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

const deployment = (name: string): k8s.V1Deployment => ({
  metadata: { name },
  spec: {
    replicas: 0,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "app", image: "registry.k8s.io/pause:3.10", ports: [{ containerPort: 8080 }] }] } },
  },
});

/** RSS of a process and its descendants (the tsx CLI runs the server in a child node process). */
function rssMb(pid: number): number {
  let kb = 0;
  const visit = (p: number) => {
    const line = readFileSync(`/proc/${p}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:")) ?? "VmRSS: 0 kB";
    kb += Number(line.split(/\s+/)[1]);
    for (const task of readdirSync(`/proc/${p}/task`)) {
      for (const child of readFileSync(`/proc/${p}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) visit(Number(child));
    }
  };
  visit(pid);
  return Math.round(kb / 1024);
}

const pct = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const ms = (v: number) => `${v.toFixed(1)} ms`;

async function main(): Promise<void> {
  const ns = `bench-dash-${Math.random().toString(36).slice(2, 7)}`;
  await core.createNamespace({ body: { metadata: { name: ns } } });
  // Ctrl-C still removes the namespace (2500 objects left behind would slow every later list)
  const interrupted = () => {
    if (!KEEP) void core.deleteNamespace({ name: ns }).finally(() => process.exit(130));
    else process.exit(130);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  const dataDir = mkdtempSync(join(tmpdir(), "gefyra-bench-dash-"));
  let server: ReturnType<typeof spawn> | undefined;
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  try {
    let started = performance.now();
    await pool(
      Array.from({ length: DEPLOYMENTS }, (_, i) => `dep-${String(i).padStart(4, "0")}`),
      32,
      (name) => apps.createNamespacedDeployment({ namespace: ns, body: deployment(name) }),
    );
    await pool(
      Array.from({ length: SERVICES }, (_, i) => `svc-${String(i).padStart(4, "0")}`),
      32,
      (name) => core.createNamespacedService({ namespace: ns, body: { metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] } } }),
    );
    const total = DEPLOYMENTS + SERVICES;
    console.log(`namespace ${ns}: ${DEPLOYMENTS} Deployments (replicas 0) + ${SERVICES} Services created in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const serverArgs = ["--port", "0", "--data-dir", dataDir];
    const [command, args] = VIA_TSX
      ? [join(ROOT, "node_modules", ".bin", "tsx"), ["apps/server/src/http/main.ts", ...serverArgs]]
      : [process.execPath, [...SERVER_NODE_FLAGS, await bundleServer(), ...serverArgs]];
    server = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, KUBECONFIG, NEXT_TELEMETRY_DISABLED: "1" },
      stdio: ["ignore", "pipe", "inherit"],
    });
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
    /** The server's own view of its memory (health.info). */
    const breakdown = async (): Promise<string> => {
      const res = await fetch(`${origin}/api/trpc/health.info`, { headers: { authorization: `Bearer ${token}` } });
      const m = ((await res.json()) as { result: { data: { memory: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number } } } }).result.data.memory;
      const mb = (n: number) => Math.round(n / 1048576);
      return `rss ${mb(m.rss)} MB = V8 heap ${mb(m.heapTotal)} MB (${mb(m.heapUsed)} used) + external ${mb(m.external)} MB (array buffers ${mb(m.arrayBuffers)}) + code, native modules, allocator ${mb(m.rss - m.heapTotal - m.external)} MB`;
    };

    const page = await browser.newPage();
    // tsx keeps function names with a __name() helper that the page does not have
    await page.addInitScript({ content: "globalThis.__name = (f) => f;" });
    await page.goto(url);
    await page.evaluate(([c, n]) => localStorage.setItem("gefyra-ts.selection", JSON.stringify({ context: c, namespace: n, connectionName: null })), [context, ns]);
    const rssIdle = rssMb(pid);

    const firstPaint = async (): Promise<number> => {
      await page.goto("about:blank"); // a real load, not a same-document hash change
      await page.goto(`${origin}/#workloads`);
      await page.waitForFunction((n) => document.querySelector('[aria-label="Workloads count"]')?.textContent === `${n} of ${n}` && document.querySelectorAll('[role="table"][aria-label="Workloads"] [role="row"]').length > 1, total, { polling: "raf", timeout: 120_000 });
      return page.evaluate(() => performance.now());
    };
    const cold = await firstPaint();
    const rssSnapshot = rssMb(pid);
    const warm = await firstPaint();
    const domRows = await page.locator('[role="table"][aria-label="Workloads"] [role="row"]').count();

    // per keystroke: from the input event to the last frame that changed the page
    const queries = ["/dep-1999", "/svc-0499", "p-10"];
    const times = await page.evaluate(async (qs) => {
      const input = document.querySelector<HTMLInputElement>('input[aria-label="Filter workloads"]')!;
      // React tracks the value through the prototype setter: setting it there makes the input event count
      const descriptor = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value");
      const setter = (v: string) => descriptor?.set?.call(input, v);
      const root = document.querySelector("main")!;
      const frame = () => new Promise<number>((r) => requestAnimationFrame(r));
      const type = async (value: string): Promise<number> => {
        let mutated = false;
        const mo = new MutationObserver(() => (mutated = true));
        mo.observe(root, { subtree: true, childList: true, characterData: true });
        const t0 = performance.now();
        setter(value);
        input.dispatchEvent(new Event("input", { bubbles: true }));
        let last = t0;
        let quiet = 0;
        while (quiet < 3) {
          const t = await frame();
          if (mutated) {
            last = t;
            mutated = false;
            quiet = 0;
          } else quiet++;
        }
        mo.disconnect();
        return last - t0;
      };
      const out: number[] = [];
      for (const q of qs) {
        for (let i = 1; i <= q.length; i++) out.push(await type(q.slice(0, i)));
        for (let i = q.length - 1; i >= 0; i--) out.push(await type(q.slice(0, i)));
      }
      return out;
    }, queries);
    const rssFiltered = rssMb(pid);
    const where = await breakdown();

    // a live change with thousands of rows on screen
    started = performance.now();
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment("dep-live") });
    await page.waitForFunction((n) => document.querySelector('[aria-label="Workloads count"]')?.textContent === `${n} of ${n}`, total + 1, { polling: "raf", timeout: 60_000 });
    const live = performance.now() - started;

    console.log(`workloads screen, ${total} objects (${DEPLOYMENTS} Deployments + ${SERVICES} Services), Chromium headless:`);
    console.log(`  navigation -> complete list on screen: cold feed ${ms(cold)}, warm feed ${ms(warm)}; rows in the DOM: ${domRows - 1} of ${total}`);
    const changed = times.filter((t) => t > 0);
    console.log(`  filtering (typing and deleting ${queries.map((q) => JSON.stringify(q)).join(", ")}): ${times.length} keystrokes, ${changed.length} changed the list;`);
    console.log(`    input -> last changed frame: median ${ms(pct(changed, 50))}, p95 ${ms(pct(changed, 95))}, max ${ms(Math.max(...changed))}`);
    console.log(`  live change (API create -> row counted on screen): ${ms(live)}`);
    console.log(`  server (${VIA_TSX ? "tsx apps/server/src/http/main.ts" : "node apps/server/dist/http/main.mjs, as npm start"}) RSS: idle ${rssIdle} MB, after snapshot ${rssSnapshot} MB, after filtering ${rssFiltered} MB`);
    console.log(`    after filtering, seen by the server: ${where}`);
  } finally {
    await browser.close();
    if (server?.pid) {
      server.kill("SIGTERM");
      await new Promise((r) => server?.once("exit", r));
    }
    rmSync(dataDir, { recursive: true, force: true });
    if (!KEEP) await core.deleteNamespace({ name: ns }).catch(() => undefined);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
