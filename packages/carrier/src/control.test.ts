import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RouteTableInput } from "../../shared/src/rules/index";
import { Carrier } from "./carrier";
import { parseConfig } from "./config";
import { collect, freePort, LOOPBACK, openRecords, request, startCarrier, startUpstream, TOKEN, type TestCarrier, type Upstream } from "./test-support";

let A: Upstream, B: Upstream, O: Upstream;
beforeAll(async () => {
  [A, B, O] = await Promise.all([startUpstream("A"), startUpstream("B"), startUpstream("original")]);
});
afterAll(async () => {
  await Promise.all([A.close(), B.close(), O.close()]);
});

const auth = { authorization: `Bearer ${TOKEN}` };
const alice = (port: number, local = A.dest) => ({ name: "alice", local, match: [{ kind: "header" as const, name: "x-user", op: "exact" as const, value: "alice" }] });

describe("control API", () => {
  let c: TestCarrier;
  beforeAll(async () => {
    c = await startCarrier((ports) => ({ ports: [{ port: ports[0]!, original: O.dest, bridges: [alice(ports[0]!)] }] }));
  });
  afterAll(() => c.close());

  const put = (body: unknown, headers: Record<string, string> = auth) =>
    request(c.control, { method: "PUT", path: "/routes", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

  it("refuses every endpoint but /healthz without the bearer token (401), also the records WebSocket", async () => {
    for (const [method, path] of [["GET", "/routes"], ["PUT", "/routes"], ["GET", "/records?since=0"], ["GET", "/stats"]] as const) {
      const r = await request(c.control, { method, path, body: method === "PUT" ? "{}" : undefined });
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.headers["www-authenticate"]).toMatch(/^Bearer/);
      expect(r.json()).toMatchObject({ error: { code: "UNAUTHORIZED" } });
    }
    expect((await request(c.control, { path: "/routes", headers: { authorization: "Bearer wrong-token-0123456789" } })).status).toBe(401);
    await expect(openRecords(c.control, "?since=0", null)).rejects.toThrow("HTTP 401");
    await expect(openRecords(c.control, "", "not-the-token-at-all")).rejects.toThrow("HTTP 401");
  });

  it("GETs and PUTs the route table with revisions and If-Match", async () => {
    const got = await request(c.control, { path: "/routes", headers: auth });
    expect(got.status).toBe(200);
    const { revision, routes } = got.json<{ revision: number; routes: { ports: { port: number; bridges: unknown[] }[] } }>();
    expect(got.headers.etag).toBe(`"${revision}"`);
    expect(routes.ports[0]!.bridges).toHaveLength(1);

    const next: RouteTableInput = { ports: [{ port: c.port, original: O.dest, bridges: [alice(c.port), { name: "bob", local: B.dest, match: [{ kind: "header", name: "x-user", op: "exact", value: "bob" }] }] }] };
    const ok = await put(next, { ...auth, "if-match": `"${revision}"` });
    expect(ok.status).toBe(200);
    expect(ok.json()).toMatchObject({ revision: revision + 1 });
    expect((await request(c.port, { headers: { "x-user": "bob" } })).json()).toMatchObject({ upstream: "B" });

    const stale = await put(next, { ...auth, "if-match": `"${revision}"` });
    expect(stale.status).toBe(412);
    expect(stale.json()).toMatchObject({ error: { code: "ROUTES_REVISION_MISMATCH" } });
  });

  it("refuses overlapping bridges with 409 naming the other bridge, and keeps the old table", async () => {
    const before = (await request(c.control, { path: "/routes", headers: auth })).json<{ revision: number }>().revision;
    const r = await put({
      ports: [{ port: c.port, original: O.dest, bridges: [alice(c.port), { name: "mallory", local: B.dest, match: [{ kind: "header", name: "X-User", op: "prefix", value: "ali" }] }] }],
    });
    expect(r.status).toBe(409);
    const err = r.json<{ error: { code: string; message: string; bridges: string[] } }>().error;
    expect(err.code).toBe("ROUTES_OVERLAP");
    expect(err.message).toContain('overlaps bridge "alice"');
    expect(err.bridges).toEqual(["mallory", "alice"]);
    expect((await request(c.control, { path: "/routes", headers: auth })).json<{ revision: number }>().revision).toBe(before);
  });

  it("refuses unsafe regexes, unknown ports and bad JSON with 400 and one line", async () => {
    const unsafe = await put({ ports: [{ port: c.port, bridges: [{ name: "x", local: A.dest, match: [{ kind: "path", op: "regex", value: "^(?=admin)" }] }] }] });
    expect(unsafe.status).toBe(400);
    const unsafeError = unsafe.json<{ error: { code: string; message: string } }>().error;
    expect(unsafeError.code).toBe("ROUTES_UNSAFE_REGEX");
    expect(unsafeError.message).toMatch(/lookarounds are not supported/);
    const stray = await put({ ports: [{ port: 1, bridges: [] }] });
    expect(stray.status).toBe(400);
    expect(stray.json<{ error: { message: string } }>().error.message).toMatch(/names port 1, which Carrier does not listen on/);
    const bad = await request(c.control, { method: "PUT", path: "/routes", headers: auth, body: "{nope" });
    expect(bad.status).toBe(400);
  });

  it("applies a route change at once while a keep-alive client keeps sending, without a failed request", async () => {
    await put({ ports: [{ port: c.port, original: O.dest, bridges: [] }] });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const statuses: number[] = [];
    const upstreams: string[] = [];
    const sockets = new Set<number>();
    let stop = false;
    let putDoneAt = 0;
    let firstAfter: { upstream: string; ms: number } | undefined;
    const loop = (async () => {
      for (let i = 0; i < 2000 && !stop; i++) {
        const sentAfterPut = putDoneAt > 0;
        const r = await new Promise<{ status: number; upstream: string }>((resolve, reject) => {
          const req = http.get({ host: LOOPBACK, port: c.port, path: `/live/${i}`, headers: { "x-user": "alice" }, agent }, (res) => {
            sockets.add(res.socket.localPort ?? 0);
            collect(res).then((x) => resolve({ status: x.status, upstream: x.json<{ upstream: string }>().upstream }), reject);
          });
          req.on("error", reject);
        });
        statuses.push(r.status);
        upstreams.push(r.upstream);
        if (sentAfterPut && !firstAfter) firstAfter = { upstream: r.upstream, ms: performance.now() - putDoneAt };
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    const res = await put({ ports: [{ port: c.port, original: O.dest, bridges: [alice(c.port)] }] });
    expect(res.status).toBe(200);
    putDoneAt = performance.now();
    await new Promise((r) => setTimeout(r, 150));
    stop = true;
    await loop;
    agent.destroy();
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(sockets.size).toBe(1); // the same keep-alive connection throughout
    expect(upstreams[0]).toBe("original");
    expect(upstreams.at(-1)).toBe("A");
    // the first request sent after the PUT answered already took the new route
    expect(firstAfter?.upstream).toBe("A");
    expect(firstAfter!.ms).toBeLessThan(1000);
  });
});

describe("routes file (mounted ConfigMap)", () => {
  let dir: string;
  let carrier: Carrier;
  let port: number;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "carrier-routes-"));
    port = await freePort();
    writeFileSync(join(dir, "routes.json"), JSON.stringify({ ports: [{ port, original: O.dest }] }));
    carrier = await Carrier.start({
      config: parseConfig({ listen: { host: LOOPBACK, ports: [port] }, control: { host: LOOPBACK, port: 0 }, routesFile: join(dir, "routes.json") }),
      token: TOKEN,
    });
  });
  afterAll(async () => {
    await carrier.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("re-reads the file when it is replaced and applies it within a few hundred ms; a bad file keeps the routes", async () => {
    expect((await request(port)).json()).toMatchObject({ upstream: "original" });
    const write = (table: unknown) => {
      // like a ConfigMap update: write aside, then swap in atomically
      writeFileSync(join(dir, "routes.json.tmp"), JSON.stringify(table));
      renameSync(join(dir, "routes.json.tmp"), join(dir, "routes.json"));
    };
    const t0 = performance.now();
    write({ ports: [{ port, original: O.dest, bridges: [alice(port)] }] });
    let upstream = "";
    while (performance.now() - t0 < 3000 && upstream !== "A") {
      upstream = (await request(port, { headers: { "x-user": "alice" } })).json<{ upstream: string }>().upstream;
      if (upstream !== "A") await new Promise((r) => setTimeout(r, 20));
    }
    const ms = performance.now() - t0;
    expect(upstream).toBe("A");
    console.log(`routes file change applied after ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(3000); // 200 ms stat polling: typically ~250 ms; generous for loaded CI machines
    const revision = carrier.revision;
    write({ ports: [{ port, bridges: [alice(port), { ...alice(port), name: "eve" }] }] });
    await new Promise((r) => setTimeout(r, 600));
    expect(carrier.revision).toBe(revision);
    expect((await request(port, { headers: { "x-user": "alice" } })).json()).toMatchObject({ upstream: "A" });
  });
});
