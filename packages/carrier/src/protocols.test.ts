import http2 from "node:http2";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { LOOPBACK, startCarrier, startH2Upstream, startUpstream, TOKEN, request, type TestCarrier, type Upstream } from "./test-support";
import type { RequestRecord } from "./records";

/** A raw TCP upstream: echoes bytes; on the client's FIN it still writes `bye:<n>` then closes (half-close). */
async function startTcpEcho(greeting?: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    if (greeting) s.write(greeting);
    let n = 0;
    s.on("data", (d: Buffer) => {
      n += d.length;
      s.write(d);
    });
    s.on("end", () => setTimeout(() => s.end(`bye:${n}`), 30));
  });
  await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function endWith(s: net.Socket, data: Buffer | null): void {
  if (data) s.end(data);
  else s.end();
}

/** Connect, send `data`, half-close, collect everything until the server closes. */
function tcpExchange(port: number, data: Buffer | null, opts: { waitFirst?: boolean } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ port, host: LOOPBACK, allowHalfOpen: true });
    s.on("data", (c: Buffer) => {
      chunks.push(c);
      if (opts.waitFirst && chunks.length === 1) endWith(s, data);
    });
    s.on("end", () => resolve(Buffer.concat(chunks)));
    s.on("error", reject);
    if (!opts.waitFirst) endWith(s, data);
  });
}

describe("raw TCP", () => {
  let echo: Awaited<ReturnType<typeof startTcpEcho>>, greeter: Awaited<ReturnType<typeof startTcpEcho>>;
  let c: TestCarrier;
  let O: Upstream;
  beforeAll(async () => {
    [echo, greeter, O] = await Promise.all([startTcpEcho(), startTcpEcho("220 hello\r\n"), startUpstream("original")]);
    c = await startCarrier(
      (ports) => ({
        ports: [
          { port: ports[0]!, bridges: [{ name: "dev", local: { host: LOOPBACK, port: echo.port } }] }, // auto mode, global bridge
          { port: ports[1]!, mode: "tcp", bridges: [{ name: "db", local: { host: LOOPBACK, port: greeter.port } }] },
          { port: ports[2]!, bridges: [{ name: "smtp", local: { host: LOOPBACK, port: greeter.port } }] }, // auto, server speaks first
          { port: ports[3]!, original: { host: LOOPBACK, port: echo.port }, bridges: [{ name: "alice", local: O.dest, match: [{ kind: "header", name: "x-user", op: "exact", value: "alice" }] }] },
        ],
      }),
      { portCount: 4, sniffTimeoutMs: 150 },
    );
  });
  afterAll(async () => {
    await c.close();
    await Promise.all([echo.close(), greeter.close(), O.close()]);
  });

  it("pipes non-HTTP bytes of a globally bridged port byte for byte, and half-close lets the reply finish", async () => {
    const payload = Buffer.concat([Buffer.from([0, 1, 2, 255, 254]), Buffer.alloc(200_000, 7)]);
    const got = await tcpExchange(c.ports[0]!, payload);
    expect(got.subarray(0, payload.length).equals(payload)).toBe(true);
    expect(got.subarray(payload.length).toString()).toBe(`bye:${payload.length}`);
  });

  it("on a tcp-mode port the destination may speak first", async () => {
    const got = await tcpExchange(c.ports[1]!, Buffer.from("QUIT\r\n"), { waitFirst: true });
    expect(got.toString()).toBe("220 hello\r\nQUIT\r\nbye:6");
  });

  it("on an auto port a silent client becomes raw TCP after the sniff timeout", async () => {
    const got = await tcpExchange(c.ports[2]!, Buffer.from("QUIT\r\n"), { waitFirst: true });
    expect(got.toString()).toBe("220 hello\r\nQUIT\r\nbye:6");
  });

  it("non-HTTP bytes on a port with personal bridges go to the original", async () => {
    const got = await tcpExchange(c.ports[3]!, Buffer.from("\x16\x03\x01binary"));
    expect(got.toString("latin1")).toBe("\x16\x03\x01binary" + "bye:9");
  });

  it("records each TCP connection with bytes both ways and the route", async () => {
    await tcpExchange(c.ports[0]!, Buffer.from("\x00abc"));
    const r = await request(c.control, { path: "/records?since=0", headers: { authorization: `Bearer ${TOKEN}` } });
    const tcp = r.json<{ entries: RequestRecord[] }>().entries.filter((e) => e.kind === "tcp" && e.port === c.ports[0]);
    expect(tcp.at(-1)).toMatchObject({ kind: "tcp", bytesIn: 4, bytesOut: 4 + "bye:4".length, route: { to: "local", bridge: "dev", rule: "global (no matches)" } });
  });
});

describe("WebSocket upgrades", () => {
  let A: Upstream, O: Upstream, c: TestCarrier;
  beforeAll(async () => {
    [A, O] = await Promise.all([startUpstream("A"), startUpstream("original")]);
    c = await startCarrier((ports) => ({
      ports: [{ port: ports[0]!, original: O.dest, bridges: [{ name: "alice", local: A.dest, match: [{ kind: "header", name: "x-user", op: "exact", value: "alice" }] }] }],
    }));
  });
  afterAll(async () => {
    await c.close();
    await Promise.all([A.close(), O.close()]);
  });

  async function echoOver(user: string | undefined, messages: string[]): Promise<string[]> {
    const ws = new WebSocket(`ws://${LOOPBACK}:${c.port}/socket`, { headers: user ? { "x-user": user } : {} });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const got: string[] = [];
    for (const m of messages) {
      const reply = new Promise<string>((resolve) => ws.once("message", (d: Buffer) => resolve(d.toString())));
      ws.send(m);
      got.push(await reply);
    }
    ws.close();
    return got;
  }

  it("routes the upgrade by the same header rules and relays messages both ways", async () => {
    expect(await echoOver("alice", ["hi", "again"])).toEqual(["A:hi:alice", "A:again:alice"]);
    expect(await echoOver("bob", ["hi"])).toEqual(["original:hi:bob"]);
    expect(await echoOver(undefined, ["x".repeat(100_000)])).toEqual([`original:${"x".repeat(100_000)}:`]);
  });

  it("relays a destination's refusal of the upgrade and records the WebSocket routes", async () => {
    const refuser = net.createServer((sock) => {
      sock.once("data", () => sock.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 5\r\n\r\nnope!"));
    });
    await new Promise<void>((r) => refuser.listen(0, LOOPBACK, r));
    const put = await request(c.control, {
      method: "PUT",
      path: "/routes",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({
        ports: [
          {
            port: c.port,
            original: O.dest,
            bridges: [
              { name: "alice", local: A.dest, match: [{ kind: "header", name: "x-user", op: "exact", value: "alice" }] },
              { name: "refuser", local: { host: LOOPBACK, port: (refuser.address() as net.AddressInfo).port }, match: [{ kind: "header", name: "x-user", op: "exact", value: "eve" }] },
            ],
          },
        ],
      }),
    });
    expect(put.status).toBe(200);
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://${LOOPBACK}:${c.port}/socket`, { headers: { "x-user": "eve" } });
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.once("open", () => reject(new Error("opened")));
      ws.once("error", () => {});
    });
    expect(status).toBe(403);
    refuser.close();
    // the record is made when the client's socket closes, just after the refusal arrived
    let recs: RequestRecord[] = [];
    for (let i = 0; i < 100 && !recs.some((r) => r.status === 403); i++) {
      if (i) await new Promise((r) => setTimeout(r, 20));
      recs = (await request(c.control, { path: "/records?since=0", headers: { authorization: `Bearer ${TOKEN}` } })).json<{ entries: RequestRecord[] }>().entries;
    }
    expect(recs.filter((r) => r.kind === "ws").map((r) => [r.status, r.route?.bridge ?? r.route?.to])).toEqual(
      expect.arrayContaining([
        [101, "alice"],
        [101, "original"],
        [403, "refuser"],
      ]) as unknown,
    );
  });
});

describe("HTTP/2 cleartext (prior knowledge)", () => {
  let A: Awaited<ReturnType<typeof startH2Upstream>>, O: Awaited<ReturnType<typeof startH2Upstream>>, c: TestCarrier;
  beforeAll(async () => {
    [A, O] = await Promise.all([startH2Upstream("A"), startH2Upstream("original")]);
    c = await startCarrier((ports) => ({
      ports: [
        {
          port: ports[0]!,
          original: O.dest,
          bridges: [{ name: "alice", local: A.dest, match: [{ kind: "header", name: "x-user", op: "exact", value: "alice" }] }],
          probePaths: ["/healthz"],
        },
      ],
    }));
  });
  afterAll(async () => {
    await c.close();
    await Promise.all([A.close(), O.close()]);
  });

  function h2call(session: http2.ClientHttp2Session, path: string, headers: Record<string, string>, body?: string) {
    return new Promise<{ status: number; json: Record<string, unknown>; trailers: http2.IncomingHttpHeaders | undefined }>((resolve, reject) => {
      const req = session.request({ ":method": body ? "POST" : "GET", ":path": path, ...headers }, { endStream: !body });
      let status = 0;
      let trailers: http2.IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      req.on("response", (h) => (status = Number(h[":status"])));
      req.on("trailers", (t: http2.IncomingHttpHeaders) => (trailers = t));
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status, json: text.startsWith("{") ? (JSON.parse(text) as Record<string, unknown>) : { text }, trailers });
      });
      req.on("error", reject);
      if (body) req.end(body);
    });
  }

  it("routes each stream of one h2c connection by header, relaying bodies and trailers", async () => {
    const session = http2.connect(`http://${LOOPBACK}:${c.port}`);
    try {
      const [a, o, post] = await Promise.all([
        h2call(session, "/pkg.Svc/Method", { "x-user": "alice", "content-type": "application/grpc" }),
        h2call(session, "/pkg.Svc/Method", { "x-user": "bob" }),
        h2call(session, "/echo", { "x-user": "alice" }, "payload"),
      ]);
      expect(a).toMatchObject({ status: 200, json: { upstream: "A", path: "/pkg.Svc/Method", user: "alice" } });
      expect(a.trailers).toMatchObject({ "grpc-status": "0", "x-trailer": "A" });
      expect(o.json).toMatchObject({ upstream: "original", user: "bob" });
      expect(o.trailers).toMatchObject({ "x-trailer": "original" });
      expect(post.json).toMatchObject({ upstream: "A", body: "payload" });
      const probe = await h2call(session, "/healthz", {});
      expect(probe).toMatchObject({ status: 200, json: { text: "ok\n" } });
    } finally {
      session.close();
    }
  });
});
