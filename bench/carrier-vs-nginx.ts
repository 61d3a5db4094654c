/**
 * Carrier vs nginx in front of the same upstream, on loopback.
 *
 *   npx tsx bench/carrier-vs-nginx.ts [--requests 20000] [--concurrency 16] [--latency-requests 5000]
 *       [--seconds 30] [--rounds 3] [--carrier bundle|tsx|image] [--client node|wrk] [--wrk-seconds 5]
 *       [--latency interleaved|sequential] [--floors]
 *
 * Starts an upstream (Node http, keep-alive, small JSON answer), Carrier (recording every request,
 * routing by a header rule to the upstream), Debian's nginx (own temp prefix/config, one worker,
 * proxy_pass to a keepalive upstream block, error_log to a temp file) and, as a reference line,
 * `node-pipe`: a bare Node TCP relay (one upstream connection per client connection, bytes piped
 * both ways, no HTTP parsing) on the same Node as Carrier — the floor of any proxy written on
 * Node's sockets, so what Carrier adds above it is its own HTTP work.
 *
 * Each target is driven by the same bounded keep-alive client: a fixed number of requests at a
 * fixed concurrency (throughput), then a fixed number one at a time (latency), each run stopped
 * early at the time cap. Targets take turns within each of `--rounds` rounds, and for latency
 * request by request (direct, nginx, node-pipe, carrier, direct, …), so drift in the load of a
 * shared machine hits all of them alike; the median round of each target is printed.
 * Besides requests/s and p50/p99 it prints each proxy process's CPU time per request (from
 * /proc/<pid>/stat), which depends far less on the other processes on the machine than the rates
 * do, and the latency each proxy adds over calling the upstream directly, with the ratios against
 * the targets (Carrier rps >= 0.5 x nginx; Carrier's added p50 <= 1.5 x nginx's).
 *
 * --carrier: `bundle` (default) runs the file the image holds (images/carrier/bundle.mjs, made
 * afresh into a temp dir) on this host's node; `tsx` runs packages/carrier/src/main.ts through tsx;
 * `image` runs the built image (bash images/build.sh --no-load carrier) with --network host, so
 * Carrier and node-pipe run on the image's node (decision 0025) exactly as in a pod.
 * --client: `node` (default; node:http with a keep-alive Agent, what earlier figures used) or `wrk`
 * (time-bounded by --wrk-seconds; its C client leaves more of the machine to the proxies) for the
 * throughput runs; latency is always measured with the node client: `interleaved` (default) as
 * above, each target getting a request about every millisecond (its process mostly idle, as at
 * low rates in a cluster); `sequential` (how earlier figures were taken) drives one target after
 * the other back to back, keeping the proxy's process and caches hot.
 *
 * --floors adds three minimal HTTP proxies (no routing, records, validation or error handling;
 * GET-style requests without bodies, content-length responses, one keep-alive upstream connection
 * per request in flight) on the same Node as node-pipe, to show where the time goes between
 * node-pipe and Carrier: `http-node` is node:http's server with a minimal hand-written upstream
 * client, `http-raw` parses both heads itself on the raw socket into strings and writes them again
 * (what a hand-written server-side fast path would do at the least), `http-verb` only finds the
 * ends of the heads (and the response's content-length) with indexOf and forwards them byte for
 * byte (the floor of anything that knows where an HTTP message ends).
 *
 * Environment: CARRIER_BENCH_RECORDS=off runs Carrier without records; CARRIER_BENCH_NODE_ARGS adds
 * node flags (e.g. --cpu-prof; not with `image`); CARRIER_BENCH_BUNDLE=<file> runs that bundle
 * instead of making one, or (with `image`) instead of the image's own, on the image's node — to
 * compare two builds of Carrier in the same harness; CARRIER_BENCH_BASELINE=<file> adds a second
 * Carrier from that bundle (same runtime) as the target `baseline`, measured in the same rounds —
 * on a shared machine the fairest before/after.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { availableParallelism, loadavg, tmpdir } from "node:os";
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
function choice<T extends string>(name: string, options: readonly T[]): T {
  const i = process.argv.indexOf(`--${name}`);
  const v = (i >= 0 ? process.argv[i + 1] : options[0]) as T;
  if (!options.includes(v)) throw new Error(`--${name} is one of ${options.join(", ")}`);
  return v;
}
const REQUESTS = arg("requests", 20_000);
const CONCURRENCY = arg("concurrency", 16);
const SECONDS = arg("seconds", 30);
const LATENCY_REQUESTS = arg("latency-requests", 5000);
const ROUNDS = arg("rounds", 3);
const WRK_SECONDS = arg("wrk-seconds", 5);
const CARRIER = choice("carrier", ["bundle", "tsx", "image"] as const);
const CLIENT = choice("client", ["node", "wrk"] as const);
const LATENCY = choice("latency", ["interleaved", "sequential"] as const);
const FLOORS = process.argv.includes("--floors");
const WARMUP = Math.min(2000, Math.ceil(REQUESTS / 10));
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"]).stdout?.toString().trim()) || 100;

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

/** CPU seconds (user + system) used so far by these processes. */
function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone: counts nothing
    }
  }
  return ticks / CLK_TCK;
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
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

// one upstream connection per client connection, bytes piped both ways: a proxy with no HTTP work
const PIPE_JS = `
const net = require("node:net");
const [up, port] = process.argv.slice(1).map(Number);
net.createServer({ noDelay: true }, (c) => {
  const u = net.connect({ host: "127.0.0.1", port: up, noDelay: true });
  c.pipe(u); u.pipe(c);
  c.on("error", () => u.destroy()); u.on("error", () => c.destroy());
  c.on("close", () => u.destroy()); u.on("close", () => c.destroy());
}).listen(port, "127.0.0.1");
`;

// --floors: the minimal upstream client the three floor proxies share (argv: upstream port, listen port)
const FLOOR_CLIENT_JS = `
const net = require("node:net");
const [upPort, port] = process.argv.slice(1).map(Number);
const idle = [];
// one request on an idle keep-alive connection (or a new one); done(head, body) when the response is complete
function request(head, verbatim, done) {
  let c = idle.pop();
  if (!c) {
    c = net.connect({ host: "127.0.0.1", port: upPort, noDelay: true });
    c.on("data", (d) => c.onData(d));
    c.on("error", () => {});
  }
  let buf = null, end = -1, need = -1;
  c.onData = (d) => {
    buf = buf ? Buffer.concat([buf, d]) : d;
    if (need < 0) {
      end = buf.indexOf("\\r\\n\\r\\n");
      if (end < 0) return;
      const k = buf.indexOf("content-length:");
      let len = 0;
      if (k >= 0 && k < end) { let i = k + 15; while (buf[i] === 32) i++; while (buf[i] >= 48 && buf[i] <= 57) len = len * 10 + buf[i++] - 48; }
      need = end + 4 + len;
    }
    if (buf.length < need) return;
    idle.push(c);
    if (verbatim) done(buf, null);
    else done(buf.toString("latin1", 0, end), buf.subarray(end + 4, need));
  };
  c.write(head, "latin1");
}
const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer", "proxy-connection"]);
const hop = (name) => name.length >= 2 && name.length <= 17 && HOP.has(name.toLowerCase());
function upstreamHead(method, target, raw) {
  let h = method + " " + target + " HTTP/1.1\\r\\n";
  for (let i = 0; i < raw.length; i += 2) if (!hop(raw[i])) h += raw[i] + ": " + raw[i + 1] + "\\r\\n";
  return h + "\\r\\n";
}
function headerList(lines) {
  const raw = [];
  for (let i = 1; i < lines.length; i++) { const l = lines[i], k = l.indexOf(":"); raw.push(l.slice(0, k), l.slice(k + 1).trim()); }
  return raw;
}
`;

/** Raw socket server running `handle(socket, head)` for each request head, one request at a time per connection. */
const FLOOR_RAW_SERVER_JS = `
function serve(handle) {
  net.createServer({ noDelay: true }, (sock) => {
    let buf = null, busy = false;
    sock.on("error", () => {});
    const next = () => {
      if (busy || !buf) return;
      const e = buf.indexOf("\\r\\n\\r\\n");
      if (e < 0) return;
      const head = buf.subarray(0, e + 4);
      buf = e + 4 < buf.length ? buf.subarray(e + 4) : null;
      busy = true;
      handle(sock, head, () => { busy = false; next(); });
    };
    sock.on("data", (d) => { buf = buf ? Buffer.concat([buf, d]) : d; next(); });
  }).listen(port, "127.0.0.1");
}
`;

const FLOOR_JS: Record<string, string> = {
  "http-node": `${FLOOR_CLIENT_JS}
const http = require("node:http");
const s = http.createServer((req, res) => {
  req.resume();
  request(upstreamHead(req.method, req.url, req.rawHeaders), false, (head, body) => {
    const lines = head.split("\\r\\n");
    const raw = headerList(lines), out = [];
    for (let i = 0; i < raw.length; i += 2) if (!hop(raw[i])) out.push(raw[i], raw[i + 1]);
    res.writeHead(Number(lines[0].slice(9, 12)), lines[0].slice(13), out);
    res.end(body);
  });
});
s.keepAliveTimeout = 65000;
s.listen(port, "127.0.0.1");
`,
  "http-raw": `${FLOOR_CLIENT_JS}${FLOOR_RAW_SERVER_JS}
serve((sock, headBytes, done) => {
  const lines = headBytes.toString("latin1", 0, headBytes.length - 4).split("\\r\\n");
  const [method, target] = lines[0].split(" ");
  request(upstreamHead(method, target, headerList(lines)), false, (head, body) => {
    const rl = head.split("\\r\\n");
    const raw = headerList(rl);
    let h = "HTTP/1.1 " + rl[0].slice(9) + "\\r\\n";
    for (let i = 0; i < raw.length; i += 2) if (!hop(raw[i])) h += raw[i] + ": " + raw[i + 1] + "\\r\\n";
    sock.cork(); sock.write(h + "connection: keep-alive\\r\\n\\r\\n", "latin1"); sock.write(body); sock.uncork();
    done();
  });
});
`,
  "http-verb": `${FLOOR_CLIENT_JS}${FLOOR_RAW_SERVER_JS}
serve((sock, headBytes, done) => request(headBytes, true, (response) => { sock.write(response); done(); }));
`,
};

interface Target {
  name: string;
  port: number;
  /** The processes whose CPU time counts (none for direct: the upstream is common to all). */
  pids: () => number[];
}

interface Result {
  name: string;
  done: number;
  failed: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  /** The target's CPU time per request, µs (NaN for direct). */
  cpuUs: number;
}

const PATH = "/api/items?page=1";

/** Fixed count, fixed concurrency, keep-alive, time-capped (the node client). */
async function driveNode(t: Target, count: number, concurrency: number): Promise<Omit<Result, "cpuUs">> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let next = 0;
  let failed = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = http.request({ host: LOOPBACK, port: t.port, path: PATH, headers: { "x-user": "alice" }, agent }, (res) => {
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
  return { name: t.name, done: latencies.length, failed, seconds, rps: latencies.length / seconds, p50: pct(50), p99: pct(99) };
}

/** wrk for --wrk-seconds at the given concurrency (one thread). */
async function driveWrk(t: Target, concurrency: number): Promise<Omit<Result, "cpuUs">> {
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn("wrk", ["-t1", `-c${concurrency}`, `-d${WRK_SECONDS}s`, "--latency", "-H", "x-user: alice", `http://${LOOPBACK}:${t.port}${PATH}`], { stdio: ["ignore", "pipe", "inherit"] });
    let text = "";
    c.stdout.on("data", (d: Buffer) => (text += d.toString()));
    c.on("error", reject);
    c.on("close", (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}: ${text}`))));
  });
  const ms = (label: string) => {
    const m = new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return NaN;
    return Number(m[1]) * (m[2] === "us" ? 0.001 : m[2] === "s" ? 1000 : 1);
  };
  const done = Number(/(\d+) requests in ([\d.]+)(ms|s)/.exec(out)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const failed = non2xx + (errors ? errors.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { name: t.name, done, failed, seconds: WRK_SECONDS, rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN), p50: ms("50%"), p99: ms("99%") };
}

/**
 * One request at a time to each target in turn (direct, nginx, node-pipe, carrier, direct, …), each
 * over its own keep-alive connection: every target sees the same moments of a shared machine, so
 * the differences between them are not drift between runs.
 */
async function interleaved(targets: readonly Target[], count: number): Promise<Result[]> {
  const agents = targets.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const latencies = targets.map((): number[] => []);
  const failed = targets.map(() => 0);
  const pids = targets.map((t) => t.pids());
  const cpu0 = pids.map(cpuSeconds);
  const deadline = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    for (const [k, t] of targets.entries()) {
      await new Promise<void>((resolve) => {
        const start = performance.now();
        const req = http.request({ host: LOOPBACK, port: t.port, path: PATH, headers: { "x-user": "alice" }, agent: agents[k] }, (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode === 200) latencies[k]!.push(performance.now() - start);
            else failed[k]!++;
            resolve();
          });
        });
        req.on("error", () => {
          failed[k]!++;
          resolve();
        });
        req.end();
      });
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  for (const a of agents) a.destroy();
  return targets.map((t, k) => {
    const l = latencies[k]!.sort((a, b) => a - b);
    const pct = (p: number) => l[Math.min(l.length - 1, Math.floor((p / 100) * l.length))] ?? NaN;
    const cpu = cpuSeconds(pids[k]!) - cpu0[k]!;
    return { name: t.name, done: l.length, failed: failed[k]!, seconds, rps: l.length / seconds, p50: pct(50), p99: pct(99), cpuUs: pids[k]!.length ? (cpu * 1e6) / Math.max(1, l.length + failed[k]!) : NaN };
  });
}

/** One target, one request at a time, with the node client whatever --client says. */
async function driveNodeTimed(t: Target, count: number): Promise<Result> {
  const pids = t.pids();
  const cpu0 = cpuSeconds(pids);
  const r = await driveNode(t, count, 1);
  const cpu = cpuSeconds(pids) - cpu0;
  return { ...r, cpuUs: pids.length ? (cpu * 1e6) / Math.max(1, r.done + r.failed) : NaN };
}

async function drive(t: Target, count: number, concurrency: number): Promise<Result> {
  const pids = t.pids();
  const cpu0 = cpuSeconds(pids);
  const r = CLIENT === "wrk" ? await driveWrk(t, concurrency) : await driveNode(t, count, concurrency);
  const cpu = cpuSeconds(pids) - cpu0;
  return { ...r, cpuUs: pids.length ? (cpu * 1e6) / Math.max(1, r.done + r.failed) : NaN };
}

/** The middle one of a target's rounds by the given measure. */
function median(rows: Result[], by: (r: Result) => number): Result {
  const s = [...rows].sort((a, b) => by(a) - by(b));
  return s[Math.floor((s.length - 1) / 2)]!;
}

function imageRef(): string {
  const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  return `gefyra-ts/carrier:${version}`;
}

/** A process in the image with the host's network; its host PID for the CPU figures. */
function startInImage(name: string, args: string[], env: Record<string, string>): { child: ChildProcess; log: () => string; pid: () => number[] } {
  const envArgs = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  const started = startChild("docker", ["run", "--rm", "--name", name, "--network", "host", ...envArgs, ...args]);
  let pid: number | undefined;
  return {
    ...started,
    pid: () => {
      pid ??= Number(spawnSync("docker", ["inspect", "-f", "{{.State.Pid}}", name]).stdout.toString().trim()) || undefined;
      return pid ? [pid] : [];
    },
  };
}

async function main(): Promise<void> {
  const nginxBin = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => spawnSync("test", ["-x", p]).status === 0);
  if (!nginxBin) throw new Error("nginx is not installed; apt-get install nginx-light");
  if (CLIENT === "wrk" && spawnSync("wrk", ["--version"]).error) throw new Error("wrk is not installed; apt-get install wrk");
  const tmp = mkdtempSync(join(tmpdir(), "carrier-bench-"));
  const children: ChildProcess[] = [];
  const containers: string[] = [];
  try {
    const [upPort, carrierPort, controlPort, nginxPort, pipePort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];

    const up = startChild(process.execPath, ["-e", UPSTREAM_JS, String(upPort)]);
    children.push(up.child);
    await waitForPort(upPort, "upstream", up.child, up.log);

    const carrierEnv = (port: number, control: number) => ({
      CARRIER_TOKEN: TOKEN,
      CARRIER_CONFIG_JSON: JSON.stringify({
        listen: { host: LOOPBACK, ports: [port] },
        control: { host: LOOPBACK, port: control },
        routes: {
          ports: [
            {
              port,
              original: { host: LOOPBACK, port: upPort },
              bridges: [{ name: "alice", local: { host: LOOPBACK, port: upPort }, match: [{ kind: "header", name: "x-user", op: "exact", value: "alice" }] }],
            },
          ],
        },
        records: { enabled: process.env.CARRIER_BENCH_RECORDS !== "off" },
      }),
    });
    const nodeArgs = (process.env.CARRIER_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
    const image = imageRef();
    /** A Carrier from `bundle` (undefined: per --carrier), on the runtime --carrier names. */
    const startCarrier = (label: string, port: number, control: number, bundle: string | undefined): { child: ChildProcess; log: () => string; pids: () => number[] } => {
      if (CARRIER === "image") {
        const name = `carrier-bench-${label}-${process.pid}`;
        containers.push(name);
        const c = startInImage(name, bundle ? ["-v", `${bundle}:/opt/carrier/bench.cjs:ro`, "--entrypoint", "/opt/carrier/libexec/node", image, "/opt/carrier/bench.cjs"] : [image], carrierEnv(port, control));
        return { ...c, pids: c.pid };
      }
      let entry: string[];
      if (bundle) entry = [bundle];
      else if (CARRIER === "tsx") entry = ["--import", "tsx", join(ROOT, "packages/carrier/src/main.ts")];
      else {
        const file = join(tmp, "carrier.cjs");
        const made = spawnSync(process.execPath, [join(ROOT, "images/carrier/bundle.mjs"), file], { encoding: "utf8" });
        if (made.status !== 0) throw new Error(`bundling Carrier failed: ${made.stderr}`);
        entry = [file];
      }
      const c = startChild(process.execPath, [...nodeArgs, ...entry], { ...carrierEnv(port, control), CARRIER_SOCKET: join(tmp, `carrier-${label}.sock`) });
      return { ...c, pids: () => (c.child.pid ? [c.child.pid] : []) };
    };
    let pipePids: () => number[];
    let pipe: { child: ChildProcess; log: () => string };
    let runtime: string;
    const floors: Target[] = [];
    /** A Node script with (upstream port, its port) on the runtime node-pipe runs on. */
    const startScript = async (name: string, js: string): Promise<Target> => {
      const port = await freePort();
      let started: { child: ChildProcess; log: () => string };
      let pids: () => number[];
      if (CARRIER === "image") {
        const container = `carrier-bench-${name}-${process.pid}`;
        containers.push(container);
        const c = startInImage(container, ["--entrypoint", "/opt/carrier/libexec/node", image, "-e", js, String(upPort), String(port)], {});
        [started, pids] = [c, c.pid];
      } else {
        const c = startChild(process.execPath, ["-e", js, String(upPort), String(port)]);
        [started, pids] = [c, () => (c.child.pid ? [c.child.pid] : [])];
      }
      children.push(started.child);
      await waitForPort(port, name, started.child, started.log);
      return { name, port, pids };
    };
    if (CARRIER === "image") {
      if (spawnSync("docker", ["image", "inspect", image], { stdio: "ignore" }).status !== 0) throw new Error(`no image ${image}; bash images/build.sh --no-load carrier`);
      const p = startInImage(`carrier-bench-pipe-${process.pid}`, ["--entrypoint", "/opt/carrier/libexec/node", image, "-e", PIPE_JS, String(upPort), String(pipePort)], {});
      containers.push(`carrier-bench-pipe-${process.pid}`);
      [pipe, pipePids] = [p, p.pid];
      runtime = `${process.env.CARRIER_BENCH_BUNDLE ?? "the image's bundle"} in ${image} (node ${spawnSync("docker", ["run", "--rm", "--entrypoint", "/opt/carrier/libexec/node", image, "--version"]).stdout.toString().trim()})`;
    } else {
      const p = startChild(process.execPath, ["-e", PIPE_JS, String(upPort), String(pipePort)]);
      [pipe, pipePids] = [p, () => (p.child.pid ? [p.child.pid] : [])];
      runtime = `${process.env.CARRIER_BENCH_BUNDLE ?? (CARRIER === "tsx" ? "tsx" : "bundle")} on node ${process.version}`;
    }
    const carrier = startCarrier("main", carrierPort, controlPort, process.env.CARRIER_BENCH_BUNDLE);
    children.push(carrier.child, pipe.child);
    await waitForPort(carrierPort, "carrier", carrier.child, carrier.log);
    const baselineBundle = process.env.CARRIER_BENCH_BASELINE;
    const baselinePort = await freePort();
    const baseline = baselineBundle ? startCarrier("baseline", baselinePort, await freePort(), baselineBundle) : undefined;
    if (baseline) {
      children.push(baseline.child);
      await waitForPort(baselinePort, "baseline carrier", baseline.child, baseline.log);
      runtime += `; baseline: ${baselineBundle}`;
    }
    await waitForPort(pipePort, "node-pipe", pipe.child, pipe.log);
    if (FLOORS) for (const [name, js] of Object.entries(FLOOR_JS)) floors.push(await startScript(name, js));

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

    const targets: Target[] = [
      { name: "direct", port: upPort, pids: () => [] },
      { name: "nginx", port: nginxPort, pids: () => (nginx.child.pid ? [nginx.child.pid, ...childPids(nginx.child.pid)] : []) },
      { name: "node-pipe", port: pipePort, pids: pipePids },
      { name: "carrier", port: carrierPort, pids: carrier.pids },
      ...(baseline ? [{ name: "baseline", port: baselinePort, pids: baseline.pids }] : []),
      ...floors,
    ];
    console.log(
      CLIENT === "wrk"
        ? `bench: throughput: wrk, ${WRK_SECONDS} s per target at concurrency ${CONCURRENCY}; latency: ${LATENCY_REQUESTS} requests per target one at a time, interleaved; ${ROUNDS} rounds; Carrier: ${runtime}`
        : `bench: throughput: ${REQUESTS} requests per target at concurrency ${CONCURRENCY}; latency: ${LATENCY_REQUESTS} requests per target one at a time, interleaved; keep-alive; cap ${SECONDS} s per run; warm-up ${WARMUP}; ${ROUNDS} rounds; Carrier: ${runtime}`,
    );
    for (const t of targets) await driveNode(t, WARMUP, CONCURRENCY);
    const load0 = loadavg()[0]!;
    const load = new Map<string, Result[]>(targets.map((t) => [t.name, []]));
    const lat = new Map<string, Result[]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // throughput: many requests in flight (p50/p99 include queueing in the proxy)
      for (const t of targets) load.get(t.name)!.push(await drive(t, REQUESTS, CONCURRENCY));
      // latency: one request at a time, so p50 is the time a request takes, not time spent queued
      if (LATENCY === "interleaved") for (const r of await interleaved(targets, LATENCY_REQUESTS)) lat.get(r.name)!.push(r);
      else for (const t of targets) lat.get(t.name)!.push(await driveNodeTimed(t, LATENCY_REQUESTS));
    }

    const fmt = (n: number, d = 2) => (Number.isNaN(n) ? "-" : n.toFixed(d)).padStart(9);
    const table = (title: string, rounds: Map<string, Result[]>, by: (r: Result) => number, range: (r: Result) => number, rangeName: string, rangeDigits: number) => {
      console.log(title);
      console.log(`  ${"target".padEnd(9)} ${"requests".padStart(9)} ${"failed".padStart(7)} ${"req/s".padStart(9)} ${"p50 ms".padStart(9)} ${"p99 ms".padStart(9)} ${"cpu µs/req".padStart(10)}  ${rangeName} over rounds`);
      const picked: Result[] = [];
      for (const [, rows] of rounds) {
        const r = median(rows, by);
        picked.push(r);
        const values = rows.map(range).sort((a, b) => a - b);
        console.log(
          `  ${r.name.padEnd(9)} ${String(r.done).padStart(9)} ${String(r.failed).padStart(7)} ${fmt(r.rps, 0)} ${fmt(r.p50, 3)} ${fmt(r.p99, 3)} ${fmt(r.cpuUs, 1).padStart(10)}  ${values[0]!.toFixed(rangeDigits)}–${values.at(-1)!.toFixed(rangeDigits)}`,
        );
      }
      return picked;
    };
    const loadRows = table(`throughput (concurrency ${CONCURRENCY}; the median round by req/s)`, load, (r) => r.rps, (r) => r.rps, "req/s", 0);
    const latRows = table(`latency (one at a time${LATENCY === "interleaved" ? ", targets taking turns request by request" : ", one target after the other"}; the median round by p50)`, lat, (r) => r.p50, (r) => r.p50, "p50", 3);
    const byName = (rows: Result[], name: string) => rows.find((r) => r.name === name);
    const must = (rows: Result[], name: string): Result => {
      const r = byName(rows, name);
      if (!r) throw new Error(`no results for ${name}`);
      return r;
    };
    const [ngx, pipeL, car, base] = [must(loadRows, "nginx"), must(loadRows, "node-pipe"), must(loadRows, "carrier"), byName(loadRows, "baseline")];
    const [direct1, ngx1, pipe1, car1, base1] = [must(latRows, "direct"), must(latRows, "nginx"), must(latRows, "node-pipe"), must(latRows, "carrier"), byName(latRows, "baseline")];
    const rpsRatio = car.rps / ngx.rps;
    const added = (r: Result) => r.p50 - direct1.p50;
    // below this nginx's added latency is within the harness's resolution, and a ratio to it means nothing
    const resolvable = added(ngx1) >= 0.005;
    const addedRatio = added(car1) / added(ngx1);
    console.log(`carrier/nginx requests/s ratio: ${rpsRatio.toFixed(3)} (target >= 0.5) ${rpsRatio >= 0.5 ? "MET" : "MISSED"}; node-pipe/nginx: ${(pipeL.rps / ngx.rps).toFixed(2)}`);
    console.log(`cpu per request under load: carrier ${car.cpuUs.toFixed(1)} µs, node-pipe ${pipeL.cpuUs.toFixed(1)} µs, nginx ${ngx.cpuUs.toFixed(1)} µs`);
    console.log(`carrier/nginx p50 ratio under load: ${(car.p50 / ngx.p50).toFixed(2)}, p99: ${(car.p99 / ngx.p99).toFixed(2)}; one at a time p50: ${(car1.p50 / ngx1.p50).toFixed(2)}`);
    console.log(
      `added p50 over direct (one at a time): carrier ${added(car1).toFixed(3)} ms, node-pipe ${added(pipe1).toFixed(3)} ms, nginx ${added(ngx1).toFixed(3)} ms; ` +
        (resolvable
          ? `carrier/nginx ${addedRatio.toFixed(2)} (target <= 1.5) ${addedRatio <= 1.5 ? "MET" : "MISSED"}; node-pipe/nginx ${(added(pipe1) / added(ngx1)).toFixed(2)}`
          : "nginx adds less than this harness resolves (< 0.005 ms): no ratio; compare the absolute values"),
    );
    for (const f of floors) {
      const [fl, f1] = [must(loadRows, f.name), must(latRows, f.name)];
      console.log(`floor ${f.name}: requests/s ratio to nginx ${(fl.rps / ngx.rps).toFixed(2)}, cpu ${fl.cpuUs.toFixed(1)} µs/req, added p50 ${added(f1).toFixed(3)} ms${resolvable ? ` (${(added(f1) / added(ngx1)).toFixed(2)} x nginx's)` : ""}`);
    }
    if (base && base1) {
      console.log(
        `baseline (${baselineBundle}) in the same rounds: requests/s ratio to nginx ${(base.rps / ngx.rps).toFixed(2)}, cpu ${base.cpuUs.toFixed(1)} µs/req, added p50 ${added(base1).toFixed(3)} ms; carrier/baseline cpu per request ${(car.cpuUs / base.cpuUs).toFixed(2)}`,
      );
    }
    console.log(`load average (1 min) ${load0.toFixed(2)} -> ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} CPUs: other work on the machine shifts req/s more than cpu µs/req`);
    const stats = await getJson(controlPort, "/stats");
    console.log(`carrier records: ${JSON.stringify((stats as { records: unknown }).records)}`);
    const errors = readFileSafe(join(tmp, "error.log")).trim();
    if (errors) console.log(`nginx error_log:\n${errors.split("\n").slice(-5).join("\n")}`);
  } finally {
    for (const name of containers) spawnSync("docker", ["rm", "-f", name], { stdio: "ignore" });
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
