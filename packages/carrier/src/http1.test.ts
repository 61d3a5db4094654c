import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collect, freePort, LOOPBACK, request, startCarrier, startUpstream, type TestCarrier, type Upstream } from "./test-support";

let A: Upstream, B: Upstream, O: Upstream;
beforeAll(async () => {
  [A, B, O] = await Promise.all([startUpstream("A"), startUpstream("B"), startUpstream("original")]);
});
afterAll(async () => {
  await Promise.all([A.close(), B.close(), O.close()]);
});

describe("global bridge (no rules)", () => {
  let c: TestCarrier;
  beforeAll(async () => {
    c = await startCarrier((ports) => ({ ports: [{ port: ports[0]!, original: null, bridges: [{ name: "dev", local: A.dest }] }] }));
  });
  afterAll(() => c.close());

  it("sends every request on the port to the local destination, status, headers and body unchanged", async () => {
    for (const user of ["alice", "bob", undefined]) {
      const r = await request(c.port, { path: "/x?y=1", headers: user ? { "x-user": user } : {} });
      expect(r.status).toBe(200);
      expect(r.json()).toMatchObject({ upstream: "A", url: "/x?y=1" });
      expect(r.headers["x-upstream"]).toBe("A");
      expect(r.headers["set-cookie"]).toEqual(["session=secret-upstream-cookie"]);
      expect(r.headers["x-gefyra-route"]).toBeUndefined();
    }
    const post = await request(c.port, { method: "POST", path: "/echo", headers: { "content-type": "text/plain" }, body: "hello body" });
    expect(post.status).toBe(201);
    expect(post.body.toString()).toBe("hello body");
    expect(post.headers["content-type"]).toBe("text/plain");
  });

  it("passes the Host header and end-to-end headers through, drops hop-by-hop ones", async () => {
    const r = await request(c.port, { headers: { host: "api.example:80", "x-custom": "1", connection: "keep-alive, x-hop", "x-hop": "gone", "keep-alive": "timeout=5" } });
    const seen = r.json<{ headers: Record<string, string> }>().headers;
    expect(seen.host).toBe("api.example:80");
    expect(seen["x-custom"]).toBe("1");
    expect(seen["x-hop"]).toBeUndefined();
    expect(seen["keep-alive"]).toBeUndefined();
  });
});

describe("personal bridges (rules)", () => {
  let c: TestCarrier;
  beforeAll(async () => {
    c = await startCarrier(
      (ports) => ({
        ports: [
          {
            port: ports[0]!,
            original: O.dest,
            bridges: [
              { name: "alice", local: A.dest, match: [{ kind: "header", name: "X-User", op: "exact", value: "alice" }] },
              { name: "bob", local: B.dest, match: [{ kind: "header", name: "x-user", op: "exact", value: "bob" }] },
            ],
          },
          {
            port: ports[1]!,
            original: O.dest,
            bridges: [
              { name: "v2", local: A.dest, match: [{ kind: "path", op: "prefix", value: "/v2/" }] },
              { name: "orders", local: B.dest, match: [{ kind: "path", op: "regex", value: "^/orders/[0-9]+$" }] },
            ],
          },
        ],
      }),
      { portCount: 2, routeHeader: true },
    );
  });
  afterAll(() => c.close());

  it("routes X-User=alice to A, X-User=bob to B and everyone else to the original", async () => {
    const up = async (headers: Record<string, string>) => (await request(c.port, { headers })).json<{ upstream: string }>().upstream;
    expect(await up({ "x-user": "alice" })).toBe("A");
    expect(await up({ "X-USER": "bob" })).toBe("B");
    expect(await up({ "x-user": "carol" })).toBe("original");
    expect(await up({})).toBe("original");
    const r = await request(c.port, { headers: { "x-user": "alice" } });
    expect(r.headers["x-gefyra-route"]).toBe("local; bridge=alice");
    expect((await request(c.port)).headers["x-gefyra-route"]).toBe("original");
  });

  it("routes by path prefix and path regex (query ignored)", async () => {
    const up = async (path: string) => (await request(c.ports[1]!, { path })).json<{ upstream: string }>().upstream;
    expect(await up("/v2/users?x=1")).toBe("A");
    expect(await up("/v1/users")).toBe("original");
    expect(await up("/orders/42?full=1")).toBe("B");
    expect(await up("/orders/42/items")).toBe("original");
  });

  it("routes each request of one keep-alive connection on its own, alternating destinations", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<string>();
    const got: string[] = [];
    for (let i = 0; i < 12; i++) {
      const user = ["alice", "bob", "carol"][i % 3]!;
      const r = await new Promise<{ upstream: string }>((resolve, reject) => {
        const req = http.get({ host: LOOPBACK, port: c.port, path: `/k${i}`, headers: { "x-user": user }, agent }, (res) => {
          sockets.add(`${res.socket.localPort}`);
          collect(res).then((x) => resolve(x.json()), reject);
        });
        req.on("error", reject);
      });
      got.push(r.upstream);
    }
    agent.destroy();
    expect(sockets.size).toBe(1);
    expect(got).toEqual(Array.from({ length: 12 }, (_, i) => ["A", "B", "original"][i % 3]));
  });

  it("answers pipelined requests sent in one write in order, each routed on its own", async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const s = net.connect(c.port, LOOPBACK, () => {
        // no half-close: node:http (like many servers) drops requests of a client that sent FIN
        s.write(
          "GET /p1 HTTP/1.1\r\nHost: x\r\nX-User: bob\r\n\r\n" +
            "POST /echo HTTP/1.1\r\nHost: x\r\nX-User: alice\r\nContent-Length: 5\r\n\r\nhello" +
            "GET /p3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
      });
      let text = "";
      s.on("data", (d: Buffer) => (text += d.toString("latin1")));
      s.on("end", () => resolve(text));
      s.on("error", reject);
    });
    const statuses = [...raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    expect(statuses).toEqual(["200", "201", "200"]);
    const first = raw.indexOf('"upstream":"B"');
    const echo = raw.indexOf("hello");
    const third = raw.indexOf('"upstream":"original"');
    expect(first).toBeGreaterThan(0);
    expect(echo).toBeGreaterThan(first);
    expect(third).toBeGreaterThan(echo);
  });

  it("relays HEAD and Expect: 100-continue requests", async () => {
    const head = await request(c.port, { method: "HEAD", path: "/h", headers: { "x-user": "alice" } });
    expect(head.status).toBe(200);
    expect(head.headers["x-upstream"]).toBe("A");
    expect(head.body.length).toBe(0);
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: LOOPBACK, port: c.port, method: "POST", path: "/echo", agent: false, headers: { "x-user": "bob", expect: "100-continue", "content-length": "4" } }, (res) => {
        collect(res).then((r) => resolve(r.body.toString()), reject);
      });
      req.on("continue", () => req.end("ping"));
      req.on("error", reject);
    });
    expect(body).toBe("ping");
  });

  it("streams chunked requests and chunked responses through", async () => {
    // chunked request: body written in pieces without a content-length
    const r = await new Promise<{ status: number; te: string | undefined; body: string }>((resolve, reject) => {
      const req = http.request({ host: LOOPBACK, port: c.port, method: "POST", path: "/echo", headers: { "x-user": "alice" }, agent: false }, (res) => {
        collect(res).then((x) => resolve({ status: x.status, te: res.headers["transfer-encoding"], body: x.body.toString() }), reject);
      });
      req.on("error", reject);
      expect(req.getHeader("content-length")).toBeUndefined();
      req.write("part1-");
      setTimeout(() => {
        req.write("part2-");
        req.end("part3");
      }, 20);
    });
    expect(r).toEqual({ status: 201, te: "chunked", body: "part1-part2-part3" });
    expect(A.seen.at(-1)).toEqual({ method: "POST", url: "/echo" });

    const chunked = await request(c.port, { path: "/chunked", headers: { "x-user": "bob" } });
    expect(chunked.headers["transfer-encoding"]).toBe("chunked");
    expect(chunked.headers["x-upstream"]).toBe("B");
    expect(chunked.body.toString()).toBe("one,two,three");
  });
});

describe("errors and probes", () => {
  let c: TestCarrier;
  let deadPort: number;
  beforeAll(async () => {
    deadPort = await freePort();
    c = await startCarrier(
      (ports) => ({
        ports: [
          { port: ports[0]!, original: null, bridges: [{ name: "laptop", local: { host: LOOPBACK, port: deadPort } }], probePaths: ["/healthz", "/ready"] },
          { port: ports[1]!, original: null, bridges: [{ name: "alice", local: A.dest, match: [{ kind: "header", name: "x-user", op: "exact", value: "alice" }] }] },
        ],
      }),
      { portCount: 2 },
    );
  });
  afterAll(() => c.close());

  it("answers 502 naming the bridge and destination when the local destination is down", async () => {
    const r = await request(c.port, { path: "/api" });
    expect(r.status).toBe(502);
    expect(r.body.toString()).toMatch(new RegExp(`cannot reach the local destination 127\\.0\\.0\\.1:${deadPort} of bridge "laptop": .*ECONNREFUSED`));
  });

  it("answers 502 naming the original when the original application is down", async () => {
    const dead = await startCarrier((ports) => ({ ports: [{ port: ports[0]!, original: { host: LOOPBACK, port: deadPort } }] }));
    try {
      const r = await request(dead.port);
      expect(r.status).toBe(502);
      expect(r.body.toString()).toMatch(new RegExp(`cannot reach the original application at 127\\.0\\.0\\.1:${deadPort}`));
    } finally {
      await dead.close();
    }
  });

  it("answers 502 when no bridge matches and there is no original", async () => {
    const r = await request(c.ports[1]!, { path: "/" });
    expect(r.status).toBe(502);
    expect(r.body.toString()).toMatch(/no route on port \d+: no bridge matched and there is no original destination/);
    expect((await request(c.ports[1]!, { headers: { "x-user": "alice" } })).status).toBe(200);
  });

  it("answers configured httpGet probe paths itself with 200, even with the laptop unreachable", async () => {
    for (const path of ["/healthz", "/ready?full=1"]) {
      const r = await request(c.port, { path, headers: { "user-agent": "kube-probe/1.34" } });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe("ok\n");
    }
    expect((await request(c.port, { method: "POST", path: "/healthz" })).status).toBe(502); // only GET/HEAD
  });

  it("accepts tcpSocket probes (a bare connect and close)", async () => {
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(c.port, LOOPBACK, () => {
        s.destroy();
        resolve();
      });
      s.on("error", reject);
    });
  });

  it("answers the control port's /healthz without a token", async () => {
    const r = await request(c.control, { path: "/healthz" });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ status: "ok" });
  });
});

describe("what the destination gets and sends", () => {
  let raw: net.Server;
  let got = "";
  let c: TestCarrier;
  beforeAll(async () => {
    // answers each request with a head node:http cannot relay (a control character in a value)
    raw = net.createServer((s) => {
      s.on("data", (d: Buffer) => {
        got += d.toString("latin1");
        if (got.includes("\r\n\r\n")) s.write("HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\nok");
      });
      s.on("error", () => {});
    });
    await new Promise<void>((r) => raw.listen(0, LOOPBACK, r));
    const rawPort = (raw.address() as net.AddressInfo).port;
    c = await startCarrier((ports) => ({
      ports: [
        { port: ports[0]!, original: O.dest },
        { port: ports[1]!, original: { host: LOOPBACK, port: rawPort } },
      ],
    }), { portCount: 2 });
  });
  afterAll(async () => {
    await c.close();
    await new Promise<void>((r) => raw.close(() => r()));
  });

  it("gives an HTTP/1.0 request without Host the destination's host:port, and answers the client in HTTP/1.0", async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const s = net.connect(c.port, LOOPBACK, () => s.write("GET /old HTTP/1.0\r\n\r\n"));
      let t = "";
      s.on("data", (d: Buffer) => (t += d.toString("latin1")));
      s.on("end", () => resolve(t));
      s.on("error", reject);
    });
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const body = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4)) as { upstream: string; headers: Record<string, string> };
    expect(body.upstream).toBe("original");
    expect(body.headers.host).toBe(`127.0.0.1:${O.port}`);
  });

  it("answers 502 when the destination's response head cannot be relayed", async () => {
    const r = await request(c.ports[1]!, { path: "/bad" });
    expect(r.status).toBe(502);
    expect(r.body.toString()).toMatch(/its response head cannot be relayed: .*X-Bad/);
  });
});

describe("shutdown", () => {
  it("lets a request in flight finish within the grace period, then refuses new connections", async () => {
    const c = await startCarrier((ports) => ({ ports: [{ port: ports[0]!, original: O.dest }] }));
    const agent = new http.Agent({ keepAlive: true });
    await request(c.port, { agent }); // an idle keep-alive connection must not hold the shutdown up
    const inFlight = request(c.port, { path: "/slow?ms=300", agent: false });
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    await c.carrier.close({ graceMs: 3000 });
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ upstream: "original" });
    expect(performance.now() - t0).toBeLessThan(2500); // done when the last request finished, not at the deadline
    await expect(request(c.port)).rejects.toThrow(/ECONNREFUSED/);
    agent.destroy();
  });
});
