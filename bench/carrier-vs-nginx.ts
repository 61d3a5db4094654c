/**
 * Carrier vs nginx in front of the same upstream, on loopback.
 *
 *   npx tsx bench/carrier-vs-nginx.ts [--requests 20000] [--concurrency 16] [--latency-requests 5000] [--seconds 30]
 *
 * Starts an upstream (Node http, keep-alive, small JSON answer), Carrier (its real entrypoint, in
 * its own process, recording every request, routing by a header rule to the upstream) and
 * Debian's nginx (own temp prefix/config, one worker, proxy_pass to a keepalive upstream block,
 * error_log to a temp file), then drives each with the same bounded keep-alive client: a fixed
 * number of requests at a fixed concurrency (throughput), then a fixed number one at a time
 * (latency), each run stopped early at the time cap. Prints requests/s, p50/p99, the latency each
 * proxy adds over calling the upstream directly, and the ratios against the targets (Carrier rps
 * >= 0.5 x nginx; Carrier's added p50 <= 1.5 x nginx's). Environment: CARRIER_BENCH_RECORDS=off
 * runs Carrier without records; CARRIER_BENCH_NODE_ARGS adds node flags (e.g. --cpu-prof).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const LOOPBACK = "127.0.0.1";
const TOKEN = "bench-token-0123456789abcdef";
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}
const REQUESTS = arg("requests", 20_000);
const CONCURRENCY = arg("concurrency", 16);
const SECONDS = arg("seconds", 30);
const LATENCY_REQUESTS = arg("latency-requests", 5000);
const WARMUP = Math.min(2000, Math.ceil(REQUESTS / 10));

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, LOOPBACK, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function waitForPort(port: number, what: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, LOOPBACK, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within 15 s: ${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startChild(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; log: () => string } {
  const out: string[] = [];
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.on("data", (d: Buffer) => out.length < 200 && out.push(String(d)));
  child.stderr?.on("data", (d: Buffer) => out.length < 200 && out.push(String(d)));
  return { child, log: () => out.join("").slice(-2000) };
}

const UPSTREAM_JS = `
const http = require("node:http");
const body = JSON.stringify({ ok: true, service: "upstream", pad: "x".repeat(64) });
const s = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => { res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }); res.end(body); });
});
s.keepAliveTimeout = 65000;
s.listen(Number(process.argv[1]), "127.0.0.1");
`;

interface Result {
  name: string;
  done: number;
  failed: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
}

/** Fixed count, fixed concurrency, keep-alive, time-capped. */
async function drive(name: string, port: number, count: number, concurrency: number): Promise<Result> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let next = 0;
  let failed = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = http.request({ host: LOOPBACK, port, path: "/api/items?page=1", headers: { "x-user": "alice" }, agent }, (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode === 200) latencies.push(performance.now() - t0);
          else failed++;
          resolve();
        });
      });
      req.on("error", () => {
        failed++;
        resolve();
      });
      req.end();
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count && performance.now() < deadline) {
        next++;
        await one();
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { name, done: latencies.length, failed, seconds, rps: latencies.length / seconds, p50: pct(50), p99: pct(99) };
}

async function main(): Promise<void> {
  const nginxBin = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => spawnSync("test", ["-x", p]).status === 0);
  if (!nginxBin) throw new Error("nginx is not installed; apt-get install nginx-light");
  const tmp = mkdtempSync(join(tmpdir(), "carrier-bench-"));
  const children: ChildProcess[] = [];
  try {
    const [upPort, carrierPort, controlPort, nginxPort] = [await freePort(), await freePort(), await freePort(), await freePort()];

    const up = startChild(process.execPath, ["-e", UPSTREAM_JS, String(upPort)]);
    children.push(up.child);
    await waitForPort(upPort, "upstream", up.child, up.log);

    const carrier = startChild(process.execPath, [...(process.env.CARRIER_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean), "--import", "tsx", join(ROOT, "packages/carrier/src/main.ts")], {
      CARRIER_TOKEN: TOKEN,
      CARRIER_CONFIG_JSON: JSON.stringify({
        listen: { host: LOOPBACK, ports: [carrierPort] },
        control: { host: LOOPBACK, port: controlPort },
        routes: {
          ports: [
            {
              port: carrierPort,
              original: { host: LOOPBACK, port: upPort },
              bridges: [{ name: "alice", local: { host: LOOPBACK, port: upPort }, match: [{ kind: "header", name: "x-user", op: "exact", value: "alice" }] }],
            },
          ],
        },
        records: { enabled: process.env.CARRIER_BENCH_RECORDS !== "off" },
      }),
    });
    children.push(carrier.child);
    await waitForPort(carrierPort, "carrier", carrier.child, carrier.log);

    for (const d of ["client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"]) mkdirSync(join(tmp, d), { recursive: true });
    const conf = join(tmp, "nginx.conf");
    writeFileSync(
      conf,
      `worker_processes 1;
daemon off;
pid ${tmp}/nginx.pid;
error_log ${tmp}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${tmp}/client_body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  keepalive_requests 1000000;
  upstream app { server ${LOOPBACK}:${upPort}; keepalive 64; }
  server {
    listen ${LOOPBACK}:${nginxPort};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
}
`,
    );
    const nginx = startChild(nginxBin, ["-p", tmp, "-c", conf, "-e", join(tmp, "error.log")]);
    children.push(nginx.child);
    await waitForPort(nginxPort, "nginx", nginx.child, () => nginx.log() + readFileSafe(join(tmp, "error.log")));

    console.log(
      `bench: throughput: ${REQUESTS} requests per target at concurrency ${CONCURRENCY}; latency: ${LATENCY_REQUESTS} requests one at a time; keep-alive; cap ${SECONDS} s per run; warm-up ${WARMUP}`,
    );
    const targets: [string, number][] = [
      ["direct", upPort],
      ["nginx", nginxPort],
      ["carrier", carrierPort],
    ];
    for (const [name, port] of targets) await drive(name, port, WARMUP, CONCURRENCY);
    // throughput: many requests in flight (p50/p99 include queueing in the proxy)
    const load: Result[] = [];
    for (const [name, port] of targets) load.push(await drive(name, port, REQUESTS, CONCURRENCY));
    // latency: one request at a time, so p50 is the time a request takes, not time spent queued
    const lat: Result[] = [];
    for (const [name, port] of targets) lat.push(await drive(name, port, LATENCY_REQUESTS, 1));

    const fmt = (n: number, d = 2) => n.toFixed(d).padStart(9);
    const table = (title: string, rows: Result[]) => {
      console.log(title);
      console.log(`  ${"target".padEnd(9)} ${"requests".padStart(9)} ${"failed".padStart(7)} ${"req/s".padStart(9)} ${"p50 ms".padStart(9)} ${"p99 ms".padStart(9)}`);
      for (const r of rows) console.log(`  ${r.name.padEnd(9)} ${String(r.done).padStart(9)} ${String(r.failed).padStart(7)} ${fmt(r.rps, 0)} ${fmt(r.p50, 3)} ${fmt(r.p99, 3)}`);
    };
    table(`throughput (concurrency ${CONCURRENCY})`, load);
    table("latency (concurrency 1)", lat);
    const [, ngx, car] = load as [Result, Result, Result];
    const [direct1, ngx1, car1] = lat as [Result, Result, Result];
    const rpsRatio = car.rps / ngx.rps;
    const addedCarrier = car1.p50 - direct1.p50;
    const addedNginx = ngx1.p50 - direct1.p50;
    const addedRatio = addedCarrier / addedNginx;
    console.log(`carrier/nginx requests/s ratio: ${rpsRatio.toFixed(2)} (target >= 0.5) ${rpsRatio >= 0.5 ? "MET" : "MISSED"}`);
    console.log(`carrier/nginx p50 ratio under load: ${(car.p50 / ngx.p50).toFixed(2)}, p99: ${(car.p99 / ngx.p99).toFixed(2)}; one at a time p50: ${(car1.p50 / ngx1.p50).toFixed(2)}`);
    console.log(
      `added p50 over direct (one at a time): carrier ${addedCarrier.toFixed(3)} ms, nginx ${addedNginx.toFixed(3)} ms, ratio ${addedRatio.toFixed(2)} (target <= 1.5) ${addedRatio <= 1.5 ? "MET" : "MISSED"}`,
    );
    const stats = await getJson(controlPort, "/stats");
    console.log(`carrier records: ${JSON.stringify((stats as { records: unknown }).records)}`);
    const errors = readFileSafe(join(tmp, "error.log")).trim();
    if (errors) console.log(`nginx error_log:\n${errors.split("\n").slice(-5).join("\n")}`);
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    rmSync(tmp, { recursive: true, force: true });
  }
}

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
}

function getJson(port: number, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: LOOPBACK, port, path, headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString()) as unknown));
      })
      .on("error", reject);
  });
}

main().catch((e: unknown) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
