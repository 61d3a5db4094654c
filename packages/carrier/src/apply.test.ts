/**
 * Standby and `carrier apply` (decision 0018): a Carrier that starts without configuration and is
 * configured, re-routed, given more or fewer ports and a new token over its local socket — first in
 * this process (CarrierRuntime + the CLI functions), then as the real bundle in its own process.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RouteTableInput } from "../../shared/src/rules/index";
import { applyCommand, probeCommand, statusCommand, type CliIO } from "./cli";
import type { CarrierConfigInput } from "./config";
import { localRequest, type LocalAddress } from "./local";
import { silentLogger } from "./log";
import { CarrierRuntime, type RuntimeStatus } from "./runtime";
import { collect, freePort, LOOPBACK, request, startUpstream, TOKEN, type Upstream } from "./test-support";

let A: Upstream, B: Upstream, O: Upstream;
let dir: string;
let seq = 0;
beforeAll(async () => {
  [A, B, O] = await Promise.all([startUpstream("A"), startUpstream("B"), startUpstream("original")]);
  dir = mkdtempSync(join(tmpdir(), "carrier-apply-"));
});
afterAll(async () => {
  await Promise.all([A.close(), B.close(), O.close()]);
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh socket address per runtime: tests run side by side on one host. */
function address(): LocalAddress {
  seq++;
  return { path: join(dir, `s${seq}.sock`), abstract: `\0gefyra-carrier-test-${process.pid}-${seq}` };
}

interface Ran {
  code: number;
  out: string[];
  err: string[];
}

function cli(addr: LocalAddress, stdin?: string): CliIO & { ran: Omit<Ran, "code"> } {
  const ran = { out: [] as string[], err: [] as string[] };
  return { ran, address: addr, readStdin: () => Promise.resolve(stdin), out: (l) => ran.out.push(l), err: (l) => ran.err.push(l) };
}

async function apply(addr: LocalAddress, doc: unknown): Promise<Ran> {
  const io = cli(addr, typeof doc === "string" ? doc : JSON.stringify(doc));
  const code = await applyCommand(io);
  return { code, ...io.ran };
}

async function status(addr: LocalAddress): Promise<RuntimeStatus> {
  const io = cli(addr);
  expect(await statusCommand(io)).toBe(0);
  return JSON.parse(io.ran.out[0]!) as RuntimeStatus;
}

const alice = (local = A.dest) => ({ name: "alice", local, match: [{ kind: "header" as const, name: "x-user", op: "exact" as const, value: "alice" }] });

function config(ports: number[], control: number, routes: RouteTableInput, extra: Partial<CarrierConfigInput> = {}): CarrierConfigInput {
  return { listen: { host: LOOPBACK, ports }, control: { host: LOOPBACK, port: control }, routes, shutdownGraceMs: 200, ...extra };
}

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, LOOPBACK);
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(true));
  });

describe("standby and carrier apply (in this process)", () => {
  let rt: CarrierRuntime;
  let addr: LocalAddress;
  let p1: number, p2: number, control: number;
  beforeAll(async () => {
    addr = address();
    rt = await CarrierRuntime.open({ log: silentLogger, address: addr });
    [p1, p2, control] = [await freePort(), await freePort(), await freePort()];
  });
  afterAll(() => rt.close());

  it("starts in standby: only the local socket (mode 0600), status says so, probe fails, nothing listens", async () => {
    expect(statSync(addr.path).mode & 0o777).toBe(0o600);
    expect(await status(addr)).toMatchObject({ configured: false, configuredBy: null, revision: 0, ports: [], controlPort: null, socket: addr.path });
    const io = cli(addr);
    expect(await probeCommand(io, () => control)).toBe(1);
    expect(io.ran.err).toHaveLength(1);
    expect(io.ran.err[0]).toMatch(/standby/);
    expect(await refused(p1)).toBe(true);
    expect(await refused(control)).toBe(true);
  });

  it("refuses what it cannot use with exit 2 or 1 and one line naming the problem, and stays in standby", async () => {
    const bad = await apply(addr, "{not json");
    expect(bad).toMatchObject({ code: 2, out: [] });
    expect(bad.err).toHaveLength(1);
    expect(bad.err[0]).toMatch(/^carrier apply: BAD_INPUT: stdin is not one JSON document .*send \{"config"/);

    const empty = await apply(addr, "");
    expect(empty.code).toBe(2);
    expect(empty.err[0]).toMatch(/nothing on stdin/);

    const shape = await apply(addr, { routes: {} });
    expect(shape.code).toBe(2);
    expect(shape.err[0]).toMatch(/"config" and "token"/);

    const extra = await apply(addr, { config: config([p1], control, { ports: [] }), token: TOKEN, tokn: "x" });
    expect(extra.code).toBe(2);
    expect(extra.err[0]).toMatch(/BAD_INPUT: .*tokn/);

    const short = await apply(addr, { config: config([p1], control, { ports: [] }), token: "short" });
    expect(short.code).toBe(1);
    expect(short.err[0]).toMatch(/^carrier apply: TOKEN_INVALID: token must be 16/);

    const noPorts = await apply(addr, { config: { listen: { ports: [] } }, token: TOKEN });
    expect(noPorts.code).toBe(1);
    expect(noPorts.err[0]).toMatch(/^carrier apply: CONFIG_INVALID: config is invalid at listen\.ports/);

    const overlap = await apply(addr, { config: config([p1], control, { ports: [{ port: p1, bridges: [alice(), { ...alice(B.dest), name: "alice2" }] }] }), token: TOKEN });
    expect(overlap.code).toBe(1);
    expect(overlap.err).toHaveLength(1);
    expect(overlap.err[0]).toMatch(/^carrier apply: ROUTES_OVERLAP: bridge "alice2" on port \d+ overlaps bridge "alice".*nothing changed/);

    const stray = await apply(addr, { config: config([p1], control, { ports: [{ port: p2 }] }), token: TOKEN });
    expect(stray.code).toBe(1);
    expect(stray.err[0]).toMatch(/^carrier apply: ROUTES_INVALID: .*port \d+, which Carrier does not listen on.*add it to listen\.ports/);

    expect(await status(addr)).toMatchObject({ configured: false, revision: 0 });
    expect(await refused(p1)).toBe(true);
  });

  it("a port it cannot listen on: LISTEN_FAILED, nothing left listening, still in standby", async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(p2, LOOPBACK, r));
    try {
      const r = await apply(addr, { config: config([p1, p2], control, { ports: [] }), token: TOKEN });
      expect(r.code).toBe(1);
      expect(r.err[0]).toMatch(/^carrier apply: LISTEN_FAILED: Carrier cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE.*another process/);
      expect(await refused(p1)).toBe(true);
      expect(await status(addr)).toMatchObject({ configured: false });
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });

  it("the first apply starts the listeners and the control server and prints {revision, ports}", async () => {
    const r = await apply(addr, { config: config([p1], control, { ports: [{ port: p1, original: O.dest, bridges: [alice()], probePaths: ["/healthz"] }] }), token: TOKEN });
    expect(r).toEqual({ code: 0, out: [JSON.stringify({ revision: 1, ports: [p1] })], err: [] });
    expect((await request(p1, { path: "/healthz" })).body.toString()).toBe("ok\n");
    expect((await request(p1, { headers: { "x-user": "alice" } })).json()).toMatchObject({ upstream: "A" });
    expect((await request(p1)).json()).toMatchObject({ upstream: "original" });
    expect((await request(control, { path: "/routes", headers: { authorization: `Bearer ${TOKEN}` } })).json()).toMatchObject({ revision: 1 });
    expect(await status(addr)).toMatchObject({ configured: true, configuredBy: "apply", revision: 1, ports: [p1], controlPort: control });
    const io = cli(addr);
    expect(await probeCommand(io, () => 1)).toBe(0);
  });

  it("a later apply re-routes a keep-alive client's next request, without a failed request, well under a second", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const statuses: number[] = [];
    const upstreams: string[] = [];
    const sockets = new Set<number>();
    let stop = false;
    let appliedAt = 0;
    let firstAfter: { upstream: string; ms: number } | undefined;
    const loop = (async () => {
      for (let i = 0; i < 2000 && !stop; i++) {
        const sentAfter = appliedAt > 0;
        const r = await new Promise<{ status: number; upstream: string }>((resolve, reject) => {
          const req = http.get({ host: LOOPBACK, port: p1, path: `/live/${i}`, headers: { "x-user": "alice" }, agent }, (res) => {
            sockets.add(res.socket.localPort ?? 0);
            collect(res).then((x) => resolve({ status: x.status, upstream: x.json<{ upstream: string }>().upstream }), reject);
          });
          req.on("error", reject);
        });
        statuses.push(r.status);
        upstreams.push(r.upstream);
        if (sentAfter && !firstAfter) firstAfter = { upstream: r.upstream, ms: performance.now() - appliedAt };
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    const t0 = performance.now();
    const r = await apply(addr, { config: config([p1], control, { ports: [{ port: p1, original: O.dest, bridges: [alice(B.dest)], probePaths: ["/healthz"] }] }), token: TOKEN });
    appliedAt = performance.now();
    expect(r).toMatchObject({ code: 0, out: [JSON.stringify({ revision: 2, ports: [p1] })] });
    expect(appliedAt - t0).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 150));
    stop = true;
    await loop;
    agent.destroy();
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(sockets.size).toBe(1);
    expect(upstreams[0]).toBe("A");
    expect(firstAfter?.upstream).toBe("B");
  });

  it("adds and removes listen ports live; idle connections of a removed port close", async () => {
    const added = await apply(addr, { config: config([p1, p2], control, { ports: [{ port: p1, original: O.dest }, { port: p2, original: B.dest }] }), token: TOKEN });
    expect(added).toMatchObject({ code: 0, out: [JSON.stringify({ revision: 3, ports: [p1, p2] })] });
    expect((await request(p2)).json()).toMatchObject({ upstream: "B" });
    // an idle keep-alive connection on p1, then p1 goes
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const res = await new Promise<http.IncomingMessage>((resolve) => http.get({ host: LOOPBACK, port: p1, path: "/", agent }, resolve));
    const socket = res.socket;
    await collect(res);
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    const removed = await apply(addr, { config: config([p2], control, { ports: [{ port: p2, original: A.dest }] }), token: TOKEN });
    expect(removed).toMatchObject({ code: 0, out: [JSON.stringify({ revision: 4, ports: [p2] })] });
    await closed;
    agent.destroy();
    expect(await refused(p1)).toBe(true);
    expect((await request(p2)).json()).toMatchObject({ upstream: "A" });
    expect(await status(addr)).toMatchObject({ ports: [p2], revision: 4 });
  });

  it("rotates the control token: the old one gets 401 at once", async () => {
    const next = "rotated-token-0123456789";
    const r = await apply(addr, { config: config([p2], control, { ports: [{ port: p2, original: A.dest }] }), token: next });
    expect(r.code).toBe(0);
    expect((await request(control, { path: "/routes", headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(401);
    expect((await request(control, { path: "/routes", headers: { authorization: `Bearer ${next}` } })).status).toBe(200);
  });

  it("refuses to change what is fixed at start (CONFIG_FIXED names it) and an invalid table later on, changing nothing", async () => {
    const token = "rotated-token-0123456789";
    const fixed = await apply(addr, { config: config([p2], control, { ports: [] }, { records: { bufferSize: 5 } }), token });
    expect(fixed.code).toBe(1);
    expect(fixed.err[0]).toMatch(/^carrier apply: CONFIG_FIXED: records\.bufferSize cannot change while Carrier runs/);
    const bad = await apply(addr, { config: config([p2], control, { ports: [{ port: p2, bridges: [{ name: "x", local: A.dest, match: [{ kind: "path", op: "regex", value: "(a)\\1" }] }] }] }), token });
    expect(bad.code).toBe(1);
    expect(bad.err[0]).toMatch(/^carrier apply: ROUTES_UNSAFE_REGEX: /);
    expect(await status(addr)).toMatchObject({ revision: 5, ports: [p2] });
    expect((await request(p2)).json()).toMatchObject({ upstream: "A" });
  });

  it("with no Carrier behind the socket: exit 3 and one line", async () => {
    const io = cli(address(), JSON.stringify({ config: {}, token: TOKEN }));
    expect(await applyCommand(io)).toBe(3);
    expect(io.ran.err).toHaveLength(1);
    expect(io.ran.err[0]).toMatch(/^carrier apply: CARRIER_NOT_RUNNING: no Carrier answers in this container/);
    const st = cli(address());
    expect(await statusCommand(st)).toBe(3);
  });
});

describe("the bundle as the container's process", () => {
  let bundle: string;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    const script = fileURLToPath(new URL("../../../images/carrier/bundle.mjs", import.meta.url));
    const { bundleCarrier } = (await import(script)) as { bundleCarrier: () => Promise<string> };
    bundle = join(dir, "carrier.cjs");
    writeFileSync(bundle, await bundleCarrier());
  });
  afterAll(() => {
    for (const c of children) c.kill("SIGKILL");
  });

  function start(env: Record<string, string>): { child: ChildProcess; log: string[] } {
    const log: string[] = [];
    const child = spawn(process.execPath, [bundle], { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d: Buffer) => log.push(String(d)));
    child.stderr.on("data", (d: Buffer) => log.push(String(d)));
    children.push(child);
    return { child, log };
  }

  function run(args: string[], env: Record<string, string>, input?: string) {
    const r = spawnSync(process.execPath, [bundle, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, input: input ?? "", encoding: "utf8", timeout: 15_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  async function waitStandby(env: Record<string, string>, log: string[]): Promise<RuntimeStatus> {
    for (let i = 0; i < 100; i++) {
      const r = run(["status"], env);
      if (r.code === 0) return JSON.parse(r.out) as RuntimeStatus;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`Carrier did not answer carrier status: ${log.join("")}`);
  }

  it("starts in standby without CARRIER_CONFIG, takes carrier apply on stdin, prints one line; SIGTERM removes its socket", async () => {
    const sock = join(dir, "bundle.sock");
    const env = { CARRIER_SOCKET: sock };
    const { child, log } = start(env);
    const st = await waitStandby(env, log);
    expect(st).toMatchObject({ configured: false, socket: sock, pid: child.pid });

    const probe = run(["probe"], env);
    expect(probe.code).toBe(1);
    expect(probe.err.trim().split("\n")).toHaveLength(1);

    const [port, control] = [await freePort(), await freePort()];
    const doc = { config: config([port], control, { ports: [{ port, original: O.dest, probePaths: ["/ready"] }] }), token: TOKEN };
    const r = run(["apply"], env, JSON.stringify(doc));
    expect(r).toEqual({ code: 0, out: `${JSON.stringify({ revision: 1, ports: [port] })}\n`, err: "" });
    expect((await request(port, { path: "/ready" })).status).toBe(200);
    expect((await request(port)).json()).toMatchObject({ upstream: "original" });
    expect(run(["probe"], env).code).toBe(0);

    const bad = run(["apply"], env, "{]");
    expect(bad.code).toBe(2);
    expect(bad.out).toBe("");
    expect(bad.err.trim().split("\n")).toHaveLength(1);

    const overlap = run(["apply"], env, JSON.stringify({ config: config([port], control, { ports: [{ port, bridges: [alice(), { ...alice(B.dest), name: "again" }] }] }), token: TOKEN }));
    expect(overlap.code).toBe(1);
    expect(overlap.err).toMatch(/^carrier apply: ROUTES_OVERLAP: [^\n]*\n$/);

    // a second Carrier in the same container (same socket) refuses to start
    const second = run([], env);
    expect(second.code).toBe(1);
    expect(second.out).toMatch(/another Carrier already runs in this container/);

    expect(log.join("")).toMatch(/"msg":"carrier standby: waiting for carrier apply"/);
    expect(log.join("")).toMatch(/"msg":"carrier configured"/);
    expect(log.join("")).not.toContain(TOKEN);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(existsSync(sock)).toBe(false);
  });

  it("falls back to an abstract socket when the socket's directory cannot take it (read-only root, no /tmp)", async () => {
    const env = { CARRIER_SOCKET: join(dir, "no-such-dir", "x.sock") };
    const { child, log } = start(env);
    const st = await waitStandby(env, log);
    expect(st.socket).toMatch(/^@gefyra-carrier-[0-9a-f]{16}$/);
    const port = await freePort();
    const r = run(["apply"], env, JSON.stringify({ config: config([port], await freePort(), { ports: [{ port, probePaths: ["/healthz"] }] }), token: TOKEN }));
    expect(r.code).toBe(0);
    expect((await request(port, { path: "/healthz" })).status).toBe(200);
    child.kill("SIGTERM");
  });

  it("with a configuration in the environment it starts configured, as before, and serves status too", async () => {
    const [port, control] = [await freePort(), await freePort()];
    const env = { CARRIER_SOCKET: join(dir, "env.sock"), CARRIER_TOKEN: TOKEN, CARRIER_CONFIG_JSON: JSON.stringify(config([port], control, { ports: [{ port, probePaths: ["/healthz"] }] })) };
    const { child, log } = start(env);
    const st = await waitStandby(env, log);
    expect(st).toMatchObject({ configured: true, configuredBy: "env", ports: [port], controlPort: control });
    child.kill("SIGTERM");
  });
});

it("a request that is not one of the socket's operations is answered with BAD_REQUEST", async () => {
  const addr = address();
  const rt = await CarrierRuntime.open({ log: silentLogger, address: addr });
  try {
    const r = await localRequest({ op: "nope" } as never, addr);
    expect(r).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
  } finally {
    await rt.close();
  }
});
