/**
 * Real servers and clients on 127.0.0.1 for Carrier's tests (nothing here is a fake: the upstreams
 * are the "developer's container" and the "original application" of each scenario).
 */
import { createHash } from "node:crypto";
import http, { type IncomingMessage } from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import type { RouteTableInput } from "../../shared/src/rules/index";
import { Carrier } from "./carrier";
import { parseConfig, type CarrierConfigInput } from "./config";
import type { HelloMessage, MissedMessage, StreamEntry } from "./records";

export const LOOPBACK = "127.0.0.1";
export const TOKEN = "test-token-0123456789abcdef";

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, LOOPBACK, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Upstream {
  name: string;
  port: number;
  dest: { host: string; port: number };
  /** Requests seen (method, url), for assertions. */
  seen: { method: string; url: string }[];
  close(): Promise<void>;
}

/**
 * An HTTP/1.1 upstream that answers with JSON naming itself, plus:
 *   /echo            streams the request body back (status 201, chunked)
 *   /sha             consumes the body, answers {bytes, sha256}
 *   /download?bytes=N  streams N bytes of a repeating pattern with backpressure
 *   /chunked         three chunks without content-length
 *   /slow?ms=N       answers after N ms
 * and a WebSocket echo server that prefixes messages with its name.
 */
export async function startUpstream(name: string): Promise<Upstream> {
  const seen: { method: string; url: string }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "" });
    const url = new URL(req.url ?? "/", "http://x");
    switch (url.pathname) {
      case "/echo":
        res.writeHead(201, { "content-type": req.headers["content-type"] ?? "application/octet-stream", "x-upstream": name });
        req.pipe(res);
        return;
      case "/sha": {
        const h = createHash("sha256");
        let bytes = 0;
        req.on("data", (c: Buffer) => {
          bytes += c.length;
          h.update(c);
        });
        req.on("end", () => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ upstream: name, bytes, sha256: h.digest("hex") }));
        });
        return;
      }
      case "/download": {
        const total = Number(url.searchParams.get("bytes") ?? "0");
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(total) });
        writePattern(res, total);
        return;
      }
      case "/chunked":
        res.writeHead(200, { "content-type": "text/plain", "x-upstream": name });
        res.write("one,");
        setTimeout(() => {
          res.write("two,");
          setTimeout(() => res.end("three"), 10);
        }, 10);
        return;
      case "/slow":
        setTimeout(() => res.end(JSON.stringify({ upstream: name })), Number(url.searchParams.get("ms") ?? "10"));
        return;
      default:
        req.resume();
        req.on("end", () => {
          res.writeHead(200, { "content-type": "application/json", "x-upstream": name, "set-cookie": "session=secret-upstream-cookie" });
          res.end(JSON.stringify({ upstream: name, method: req.method, url: req.url, headers: req.headers }));
        });
    }
  });
  const wss = new WebSocketServer({ server });
  wss.on("connection", (ws, req) => {
    ws.on("message", (data: Buffer, isBinary) => ws.send(isBinary ? data : `${name}:${data.toString()}:${String(req.headers["x-user"] ?? "")}`));
  });
  await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    name,
    port,
    dest: { host: LOOPBACK, port },
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The repeating byte pattern of /download and of uploads: byte i is i % 251. */
const PATTERN = Buffer.from(Array.from({ length: 64 * 1024 + 251 }, (_, i) => i % 251));
export function patternChunk(offset: number, length: number): Buffer {
  if (length <= 64 * 1024) return PATTERN.subarray(offset % 251, (offset % 251) + length);
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (offset + i) % 251;
  return b;
}

function writePattern(res: http.ServerResponse, total: number): void {
  let sent = 0;
  const CHUNK = 64 * 1024;
  const pump = () => {
    while (sent < total) {
      const n = Math.min(CHUNK, total - sent);
      const ok = res.write(patternChunk(sent, n));
      sent += n;
      if (!ok) return void res.once("drain", pump);
    }
    res.end();
  };
  pump();
}

/** An h2c (prior knowledge) upstream answering JSON with a trailer, like a gRPC server. */
export async function startH2Upstream(name: string): Promise<Upstream> {
  const seen: { method: string; url: string }[] = [];
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    seen.push({ method: String(headers[":method"]), url: String(headers[":path"]) });
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/json", "x-upstream": name }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "x-trailer": name }));
      stream.end(JSON.stringify({ upstream: name, path: headers[":path"], user: headers["x-user"] ?? null, body: Buffer.concat(chunks).toString() }));
    });
  });
  await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
  const port = (server.address() as net.AddressInfo).port;
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  return {
    name,
    port,
    dest: { host: LOOPBACK, port },
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}

export interface TestCarrier {
  carrier: Carrier;
  ports: number[];
  port: number;
  control: number;
  close(): Promise<void>;
}

/** A Carrier on fresh loopback ports; `routes(ports)` builds the table once the ports are known. */
export async function startCarrier(
  routes: (ports: number[]) => RouteTableInput,
  overrides: Partial<CarrierConfigInput> & { portCount?: number } = {},
): Promise<TestCarrier> {
  const ports: number[] = [];
  for (let i = 0; i < (overrides.portCount ?? 1); i++) ports.push(await freePort());
  const { portCount: _, ...rest } = overrides;
  const config = parseConfig({
    listen: { host: LOOPBACK, ports },
    control: { host: LOOPBACK, port: 0 },
    routes: routes(ports),
    ...rest,
  });
  const carrier = await Carrier.start({ config, token: TOKEN });
  return { carrier, ports, port: ports[0]!, control: carrier.controlPort, close: () => carrier.close() };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  json<T = Record<string, unknown>>(): T;
}

export function request(
  port: number,
  opts: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; agent?: http.Agent | false } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: LOOPBACK, port, method: opts.method ?? "GET", path: opts.path ?? "/", headers: opts.headers ?? {}, agent: opts.agent ?? false },
      (res) => void collect(res).then(resolve, reject),
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

export async function collect(res: IncomingMessage): Promise<Reply> {
  const chunks: Buffer[] = [];
  for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  const body = Buffer.concat(chunks);
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    rawHeaders: res.rawHeaders,
    body,
    json: <T>() => JSON.parse(body.toString()) as T,
  };
}

export type StreamMessage = StreamEntry | HelloMessage | MissedMessage;

/** A records-stream consumer that collects every message. */
export async function openRecords(control: number, query = "", token: string | null = TOKEN): Promise<{ ws: WebSocket; messages: StreamMessage[]; waitFor(pred: (m: StreamMessage[]) => boolean, ms?: number): Promise<void> }> {
  const ws = new WebSocket(`ws://${LOOPBACK}:${control}/records${query}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const messages: StreamMessage[] = [];
  const waiters = new Set<() => void>();
  ws.on("message", (d) => {
    messages.push(JSON.parse((d as Buffer).toString()) as StreamMessage);
    for (const w of waiters) w();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  return {
    ws,
    messages,
    waitFor: (pred, ms = 5000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pred(messages)) {
            waiters.delete(check);
            clearTimeout(t);
            resolve();
          }
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${ms} ms; got ${messages.length} messages: ${JSON.stringify(messages.slice(-3)).slice(0, 500)}`));
        }, ms);
        waiters.add(check);
        check();
      }),
  };
}

export const records = (ms: StreamMessage[]) => ms.filter((m): m is Extract<StreamEntry, { type: "record" }> => m.type === "record");
