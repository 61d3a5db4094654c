/**
 * The control API: HTTP on its own port (never a workload port), bearer-token auth on everything
 * except GET /healthz.
 *
 *   GET  /healthz                     200 {"status":"ok"}                       (no auth; probes)
 *   GET  /routes                      200 {revision, routes}          ETag: "<revision>"
 *   PUT  /routes                      body: a route table; If-Match: "<revision>" optional
 *                                     200 {revision, routes} | 400 ROUTES_INVALID / ROUTES_UNSAFE_REGEX
 *                                     | 409 ROUTES_OVERLAP | 412 ROUTES_REVISION_MISMATCH
 *   GET  /records?since=N             200 {instance, oldestSeq, nextSeq, missed?, entries} (snapshot)
 *   GET  /records?since=N  (WebSocket upgrade)  the live stream, see records.ts
 *   GET  /stats                       200 {revision, connections, records}
 *
 * Errors are {"error":{"code","message"}} with a one-line message.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { Carrier } from "./carrier";

const MAX_BODY = 1024 * 1024;

/**
 * `token()` is read on every request: `carrier apply` may rotate it while Carrier runs.
 * `dropConsumers()` closes every records stream (after a rotation: they were let in with the old token).
 */
export function createControlServer(carrier: Carrier, token: () => string): { server: http.Server; close: () => void; dropConsumers: () => void } {
  let expectedFor = "";
  let expected = digest("");
  const authorized = (req: IncomingMessage): boolean => {
    const current = token();
    if (current !== expectedFor) {
      expected = digest(current);
      expectedFor = current;
    }
    const h = req.headers.authorization ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(h);
    return m !== null && timingSafeEqual(digest(m[1]!.trim()), expected);
  };
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const pings = new Set<WebSocket>();
  const pinger = setInterval(() => {
    for (const ws of pings) ws.ping();
  }, 30_000).unref();

  const server = http.createServer((req, res) => {
    handle(carrier, req, res, authorized).catch((e: unknown) => {
      carrier.log("error", "control request failed", { path: req.url?.split("?")[0], reason: e instanceof Error ? e.message : String(e) });
      if (!res.headersSent) json(res, 500, { error: { code: "INTERNAL", message: "the control API failed on this request; see Carrier's log" } });
      else res.destroy();
    });
  });

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? "/", "http://carrier");
    const refuse = (status: number, code: string, message: string) => {
      const body = JSON.stringify({ error: { code, message } });
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `${status === 401 ? 'www-authenticate: Bearer realm="carrier"\r\n' : ""}connection: close\r\n\r\n${body}`,
      );
    };
    if (url.pathname !== "/records") return refuse(404, "NOT_FOUND", `no WebSocket endpoint ${url.pathname}; the records stream is /records`);
    if (!authorized(req)) return refuse(401, "UNAUTHORIZED", "the control API needs Authorization: Bearer <token>");
    const since = parseSince(url);
    if (since === null) return refuse(400, "BAD_REQUEST", "since must be a non-negative integer sequence number");
    wss.handleUpgrade(req, socket, head, (ws) => {
      const consumer = carrier.recorder.attach(
        {
          get bufferedAmount() {
            return ws.bufferedAmount;
          },
          send: (data, cb) => {
            if (ws.readyState !== ws.OPEN) return cb(new Error("closed"));
            ws.send(data, cb);
          },
        },
        since,
      );
      pings.add(ws);
      ws.on("message", () => {}); // consumers don't talk; ignore
      ws.on("close", () => {
        pings.delete(ws);
        carrier.recorder.detach(consumer);
      });
      ws.on("error", () => ws.terminate());
    });
  });

  return {
    server,
    close: () => {
      clearInterval(pinger);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
    dropConsumers: () => {
      for (const ws of wss.clients) ws.close(1008, "the control token changed; reconnect with the new one");
    },
  };
}

async function handle(carrier: Carrier, req: IncomingMessage, res: ServerResponse, authorized: (r: IncomingMessage) => boolean): Promise<void> {
  const url = new URL(req.url ?? "/", "http://carrier");
  if (url.pathname === "/healthz" && (req.method === "GET" || req.method === "HEAD")) return json(res, 200, { status: "ok" });
  if (!authorized(req)) {
    res.setHeader("www-authenticate", 'Bearer realm="carrier"');
    return json(res, 401, { error: { code: "UNAUTHORIZED", message: "the control API needs Authorization: Bearer <token>" } });
  }
  switch (`${req.method} ${url.pathname}`) {
    case "GET /routes": {
      const r = carrier.routes();
      res.setHeader("etag", `"${r.revision}"`);
      return json(res, 200, r);
    }
    case "PUT /routes": {
      const text = await readBody(req);
      if (text === undefined) return json(res, 413, { error: { code: "TOO_LARGE", message: `the route table is larger than ${MAX_BODY} bytes` } });
      let input: unknown;
      try {
        input = JSON.parse(text) as unknown;
      } catch (e) {
        return json(res, 400, { error: { code: "ROUTES_INVALID", message: `the body is not JSON: ${(e as Error).message}` } });
      }
      let ifRevision: number | undefined;
      const ifMatch = req.headers["if-match"];
      if (ifMatch !== undefined) {
        ifRevision = Number(ifMatch.replace(/^W\//, "").replace(/"/g, ""));
        if (!Number.isInteger(ifRevision)) return json(res, 400, { error: { code: "BAD_REQUEST", message: 'If-Match must be a revision from GET /routes, e.g. "3"' } });
      }
      const r = carrier.setRoutes(input, { ...(ifRevision !== undefined ? { ifRevision } : {}), source: "api" });
      if (!r.ok) {
        const status = r.error.code === "ROUTES_OVERLAP" ? 409 : r.error.code === "ROUTES_REVISION_MISMATCH" ? 412 : 400;
        return json(res, status, { error: r.error });
      }
      res.setHeader("etag", `"${r.revision}"`);
      return json(res, 200, { revision: r.revision, routes: r.routes });
    }
    case "GET /records": {
      const since = parseSince(url);
      if (since === null) return json(res, 400, { error: { code: "BAD_REQUEST", message: "since must be a non-negative integer sequence number" } });
      const snap = carrier.recorder.since(since ?? 0);
      return json(res, 200, { instance: carrier.recorder.instance, oldestSeq: carrier.recorder.oldestSeq, nextSeq: carrier.recorder.next, ...(snap.missed ? { missed: snap.missed } : {}), entries: snap.entries });
    }
    case "GET /stats":
      return json(res, 200, carrier.stats());
    default:
      return json(res, 404, { error: { code: "NOT_FOUND", message: `no ${req.method} ${url.pathname} on the control API; see docs/carrier.md` } });
  }
}

/** undefined: absent; null: malformed. */
function parseSince(url: URL): number | undefined | null {
  const s = url.searchParams.get("since");
  if (s === null) return undefined;
  return /^\d{1,15}$/.test(s) ? Number(s) : null;
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString("utf8");
}
