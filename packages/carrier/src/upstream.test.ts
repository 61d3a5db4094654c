/**
 * Carrier's upstream HTTP/1 client against raw TCP servers that answer with exactly the bytes a
 * test gives (split where the test says): response framing, keep-alive reuse, and refusals.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { LOOPBACK } from "./test-support";
import { UpstreamPool, type BodyMode, type ResponseHandler } from "./upstream";

interface Seen {
  /** Connection number (from 0) and the request's bytes as received. */
  conn: number;
  request: string;
}

/**
 * A server that reads each request head (and a chunked or content-length body) and calls `answer`
 * with the connection's socket; connections are numbered in accept order.
 */
async function rawServer(answer: (s: net.Socket, seen: Seen, index: number) => void): Promise<{ port: number; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const sockets = new Set<net.Socket>();
  let conns = 0;
  const server = net.createServer((s) => {
    const conn = conns++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    let buf = "";
    s.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.slice(0, end + 4);
        let total = head.length;
        const cl = /content-length: *(\d+)/i.exec(head);
        if (cl) total += Number(cl[1]);
        else if (/transfer-encoding: *chunked/i.test(head)) {
          const last = buf.indexOf("0\r\n\r\n", head.length);
          if (last < 0) return;
          total = last + 5;
        }
        if (buf.length < total) return;
        const request = buf.slice(0, total);
        buf = buf.slice(total);
        const entry = { conn, request };
        seen.push(entry);
        answer(s, entry, seen.length - 1);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Write `bytes` in pieces cut at `cuts` (offsets), a few ms apart so each is its own read. */
function writeCut(s: net.Socket, bytes: string, cuts: number[]): void {
  const pieces: string[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    pieces.push(bytes.slice(at, c));
    at = c;
  }
  let i = 0;
  const next = () => {
    if (i >= pieces.length || s.destroyed) return;
    s.write(pieces[i++]!, "latin1");
    setTimeout(next, 2);
  };
  next();
}

interface Outcome {
  status?: number;
  statusText?: string;
  headers?: string[];
  body: string;
  error?: string;
  responded?: boolean;
}

function send(pool: UpstreamPool, opts: { method?: string; body?: BodyMode; chunks?: string[]; retryable?: boolean; pauseFirst?: boolean } = {}): Promise<Outcome> {
  const method = opts.method ?? "GET";
  const body = opts.body ?? "none";
  let head = `${method} /x HTTP/1.1\r\nhost: test\r\n`;
  if (body === "chunked") head += "transfer-encoding: chunked\r\n";
  if (body === "length") head += `content-length: ${(opts.chunks ?? []).join("").length}\r\n`;
  head += "\r\n";
  return new Promise((resolve) => {
    const out: Outcome = { body: "" };
    let paused = false;
    const handler: ResponseHandler = {
      onHead(status, statusText, headers) {
        Object.assign(out, { status, statusText, headers });
        return true;
      },
      onBody(chunk) {
        out.body += chunk.toString("latin1");
        if (opts.pauseFirst && !paused) {
          paused = true;
          setTimeout(() => ex.resume(), 30);
          return false;
        }
        return true;
      },
      onEnd(last) {
        if (last) out.body += last.toString("latin1");
        resolve(out);
      },
      onError(err, responded) {
        resolve({ ...out, error: `${(err as { code?: string }).code ?? ""} ${err.message}`, responded });
      },
    };
    const ex = pool.request({ head, body, headRequest: method === "HEAD", retryable: opts.retryable ?? false }, handler);
    for (const c of opts.chunks ?? []) ex.write(Buffer.from(c, "latin1"));
    ex.end();
  });
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

async function setup(answer: (s: net.Socket, seen: Seen, index: number) => void): Promise<{ pool: UpstreamPool; seen: Seen[] }> {
  const server = await rawServer(answer);
  const pool = new UpstreamPool(LOOPBACK, server.port, 2000);
  cleanup.push(() => pool.destroy(), server.close);
  return { pool, seen: server.seen };
}

const FRAMINGS: [string, string, string][] = [
  ["content-length", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A: 1\r\n\r\nhello world", "hello world"],
  ["chunked with extensions and trailers", "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6 \r\n world\r\n0\r\nX-Trailer: t\r\n\r\n", "hello world"],
  ["bare LF line ends", "HTTP/1.1 200 OK\nContent-Length: 5\n\nhello", "hello"],
  ["a 100 and a 103 before the final response", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok"],
];

describe("response framing", () => {
  for (const [name, response, body] of FRAMINGS) {
    it(`${name}: the same body and a reused connection wherever the bytes are cut`, async () => {
      let cuts: number[] = [];
      const { pool, seen } = await setup((s) => writeCut(s, response, cuts));
      for (let cut = 1; cut < response.length; cut += Math.max(1, Math.floor(response.length / 12))) {
        cuts = [cut];
        const r = await send(pool);
        expect(r.error).toBeUndefined();
        expect(r.body).toBe(body);
      }
      cuts = Array.from({ length: response.length - 1 }, (_, i) => i + 1); // one byte at a time
      expect((await send(pool)).body).toBe(body);
      expect(new Set(seen.map((s) => s.conn)).size).toBe(1);
    });
  }

  it("relays status, reason and headers as received", async () => {
    const { pool } = await setup((s) => s.write("HTTP/1.1 404 Not Here\r\nX-Mixed-Case: a  b \r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"));
    const r = await send(pool);
    expect(r).toMatchObject({ status: 404, statusText: "Not Here", body: "" });
    expect(r.headers).toEqual(["X-Mixed-Case", "a  b", "Set-Cookie", "a=1", "Set-Cookie", "b=2", "Content-Length", "0"]);
  });

  it("reads no body for HEAD, 204 and 304 whatever the headers say, and keeps the connection", async () => {
    const { pool, seen } = await setup((s, _seen, i) => s.write(i === 0 ? "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" : i === 1 ? "HTTP/1.1 204 No Content\r\n\r\n" : "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"));
    expect(await send(pool, { method: "HEAD" })).toMatchObject({ status: 200, body: "" });
    expect(await send(pool)).toMatchObject({ status: 204, body: "" });
    expect(await send(pool)).toMatchObject({ status: 304, body: "" });
    expect(new Set(seen.map((s) => s.conn)).size).toBe(1);
  });

  it("reads a body without length until the connection closes, and does not reuse it", async () => {
    const { pool, seen } = await setup((s) => {
      s.write("HTTP/1.1 200 OK\r\n\r\nuntil ");
      setTimeout(() => s.end("close"), 10);
    });
    expect((await send(pool)).body).toBe("until close");
    expect((await send(pool)).body).toBe("until close");
    expect(seen.map((s) => s.conn)).toEqual([0, 1]);
  });

  it("does not reuse a connection after Connection: close, an HTTP/1.0 answer, a short Keep-Alive timeout or bytes after the response", async () => {
    const answers: [string, string][] = [
      ["HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na", "a"],
      ["HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb", "b"],
      ["HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 1\r\n\r\nc", "c"],
      ["HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ndEXTRA", "d"],
      ["HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\ne", "e"],
      ["HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nf", "f"],
    ];
    const { pool, seen } = await setup((s, _seen, i) => s.write(answers[i]![0]));
    for (const [, body] of answers) expect((await send(pool)).body).toBe(body);
    // a new connection after each of the first four; the HTTP/1.0 keep-alive one is reused
    expect(seen.map((s) => s.conn)).toEqual([0, 1, 2, 3, 4, 4]);
  });

  it("frames a streamed request body as chunks, and passes a content-length body as it is", async () => {
    const { pool, seen } = await setup((s) => s.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    await send(pool, { method: "POST", body: "chunked", chunks: ["hello", "", " world!"] });
    expect(seen[0]!.request).toMatch(/\r\n\r\n5\r\nhello\r\n7\r\n world!\r\n0\r\n\r\n$/);
    await send(pool, { method: "POST", body: "length", chunks: ["abc", "de"] });
    expect(seen[1]!.request).toMatch(/content-length: 5\r\n\r\nabcde$/);
    expect(seen[1]!.conn).toBe(0);
  });

  it("stops reading while the handler holds back and goes on after resume", async () => {
    const big = "x".repeat(300_000);
    const { pool } = await setup((s) => s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}`));
    expect((await send(pool, { pauseFirst: true })).body.length).toBe(big.length);
  });
});

describe("refusals", () => {
  const bad: [string, string, RegExp][] = [
    ["conflicting content-lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", /conflicting content-length/],
    ["a content-length that is no number", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nab", /invalid or conflicting content-length/],
    ["an invalid chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", /invalid chunk size/],
    ["a chunk without its CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY", /does not end with CRLF/],
    ["obsolete line folding", "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n", /line folding/],
    ["a status line that is not HTTP/1", "HTTP/2 200\r\n\r\n", /invalid status line/],
    ["a 101 nobody asked for", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", /switched protocols/],
    ["a head over 64 KiB", `HTTP/1.1 200 OK\r\nX-Big: ${"b".repeat(70 * 1024)}\r\n\r\n`, /larger than 64 KiB/],
  ];
  for (const [name, response, message] of bad) {
    it(`fails the exchange on ${name}`, async () => {
      const { pool } = await setup((s) => s.write(response));
      const r = await send(pool);
      expect(r.error).toMatch(message);
      await new Promise((resolve) => setTimeout(resolve, 20)); // the connection's close event
      expect(pool.size.open).toBe(0);
    });
  }

  it("says when the destination closed before responding or in the middle of the body", async () => {
    const { pool } = await setup((s, _seen, i) => (i === 0 ? s.destroy() : s.end("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")));
    expect(await send(pool)).toMatchObject({ responded: false, error: expect.stringMatching(/without a response/) as string });
    expect(await send(pool)).toMatchObject({ responded: true, body: "abc", error: expect.stringMatching(/before the response was complete/) as string });
  });

  it("reports a refused connection with its code", async () => {
    const closed = await rawServer(() => {});
    await closed.close();
    const pool = new UpstreamPool(LOOPBACK, closed.port, 2000);
    cleanup.push(() => pool.destroy());
    expect((await send(pool)).error).toMatch(/ECONNREFUSED/);
  });
});

describe("keep-alive", () => {
  it("sends a bodyless idempotent request once more on a new connection when a reused one was closed; others fail", async () => {
    // the server closes the connection on its second request without answering: a stale keep-alive
    const { pool, seen } = await setup((s, _seen, i) => {
      const perConn = seen.filter((x) => x.conn === seen[i]!.conn).length;
      if (perConn === 2) s.destroy();
      else s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    expect((await send(pool)).body).toBe("ok");
    expect(await send(pool, { retryable: true })).toMatchObject({ status: 200, body: "ok" });
    expect(seen.map((s) => s.conn)).toEqual([0, 0, 1]);
    expect(await send(pool, { retryable: false })).toMatchObject({ responded: false, error: expect.stringMatching(/without a response/) as string });
  });

  it("reuses the most recently used idle connection and keeps the others open", async () => {
    const { pool, seen } = await setup((s) => setTimeout(() => s.write("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nk"), 5));
    await Promise.all([send(pool), send(pool), send(pool)]);
    expect(pool.size).toEqual({ idle: 3, open: 3 });
    await send(pool);
    expect(new Set(seen.map((s) => s.conn)).size).toBe(3);
    pool.close();
    expect(pool.size.idle).toBe(0);
  });
});
