/**
 * HTTP/1.x proxying: each request is routed on its own (so one keep-alive connection can alternate
 * between bridges), bodies stream in both directions with backpressure (never buffered beyond the
 * capture cap), and upgrades (WebSocket) are routed by the same rules on the upgrade request.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { pathOf, routeRequest, type RoutableRequest, type RouteDecision } from "../../shared/src/rules/index";
import { hostPort, noRouteMessage, routeHeaderValue, routeTaken, since, unreachable, type PortContext } from "./context";
import { errorText } from "./log";
import { BodyTap, captureHeaders, type CapturedBody, type RecordDraft } from "./records";
import type { BodyMode, Exchange, ResponseHandler } from "./upstream";

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus `expect` (Carrier answers 100-continue itself). */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "expect"]);
/** Their lengths: any other name is passed on without lower-casing it (unless the Connection header names more). */
const HOP_LENGTHS = new Set([...HOP_BY_HOP].map((h) => h.length));

/** Lower-cased tokens of the Connection headers, or undefined when there is none. */
function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let named: Set<string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === "connection") {
      named ??= new Set();
      for (const t of raw[i + 1]!.split(",")) named.add(t.trim().toLowerCase());
    }
  }
  return named;
}

/**
 * Copy rawHeaders without hop-by-hop ones and those the Connection header names. A chunked
 * transfer-encoding is kept on HTTP/1.1 so Node re-chunks the streamed body the same way.
 */
export function forwardHeaders(raw: readonly string[], opts: { upgrade?: boolean; keepChunked: boolean }): string[] {
  const named = connectionTokens(raw);
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (named === undefined && !HOP_LENGTHS.has(name.length)) {
      out.push(name, value);
      continue;
    }
    const lower = name.toLowerCase();
    if (opts.upgrade && (lower === "connection" || lower === "upgrade")) {
      out.push(name, value);
      continue;
    }
    if (lower === "transfer-encoding" && opts.keepChunked && value.trim().toLowerCase() === "chunked") {
      out.push(name, value);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || (named?.has(lower) && lower !== "upgrade")) continue;
    out.push(name, value);
  }
  return out;
}

/**
 * The head of the request to the destination, as one string: the client's end-to-end headers in
 * their order (hop-by-hop ones dropped), a Host when the client sent none (HTTP/1.0), and how the
 * body is framed: as the client's content-length, or chunked by Carrier when the client sent it
 * chunked (node:http has taken that framing off).
 */
export function upstreamHead(method: string, target: string, raw: readonly string[], defaultHost: string): { head: string; body: BodyMode } {
  const named = connectionTokens(raw);
  let head = `${method} ${target} HTTP/1.1\r\n`;
  let host = false;
  let length: string | undefined;
  let chunked = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const n = name.length;
    if (named !== undefined || HOP_LENGTHS.has(n) || n === 4 || n === 14) {
      const lower = name.toLowerCase();
      if (lower === "transfer-encoding") {
        // node:http accepts a request body with a transfer-encoding only when it ends in chunked
        chunked = true;
        continue;
      }
      if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
      if (lower === "host") host = true;
      else if (lower === "content-length") length = value;
    }
    head += `${name}: ${value}\r\n`;
  }
  if (!host) head += `host: ${defaultHost}\r\n`;
  if (chunked) head += "transfer-encoding: chunked\r\n";
  return { head: `${head}\r\n`, body: chunked ? "chunked" : length !== undefined && length !== "0" ? "length" : "none" };
}

const IDEMPOTENT_WITHOUT_BODY = new Set(["GET", "HEAD", "OPTIONS"]);
const NO_HEADERS: readonly string[] = [];
/** "address:port" of a connection's client, made once per connection (and only when recording). */
const clientNames = new WeakMap<object, string>();

function clientOf(req: IncomingMessage): string {
  const s = req.socket as IncomingMessage["socket"] | null;
  if (!s) return "?:?";
  let name = clientNames.get(s);
  if (name === undefined) {
    name = `${s.remoteAddress ?? "?"}:${s.remotePort ?? "?"}`;
    clientNames.set(s, name);
  }
  return name;
}

/** What a record keeps of a body: the first `cap` bytes (copied, so no read buffer is pinned), or nothing. */
function capturedOf(tap: BodyTap | undefined, bytes: number): CapturedBody {
  return tap ? tap.result() : { bytes, truncated: bytes > 0, encoding: "utf8", data: "" };
}

/**
 * One proxied HTTP/1 request: routed on its own (so one keep-alive connection can alternate between
 * bridges), bodies streamed both ways with backpressure. It is its own upstream response handler
 * and routing input, so a request allocates little beyond what node:http already has.
 */
class Http1Exchange implements ResponseHandler, RoutableRequest {
  readonly path: string;
  private readonly t0 = performance.now();
  private readonly started = Date.now();
  private readonly client: string;
  private decision: RouteDecision = { to: "none" };
  private probe = false;
  private ttfb: number | null = null;
  private error: string | undefined;
  private sentHeaders: readonly string[] = NO_HEADERS;
  private bytesIn = 0;
  private bytesOut = 0;
  /** Only while recording with a body cap: bodies are captured up to it. */
  private readonly cap: number;
  private reqTap: BodyTap | undefined;
  private resTap: BodyTap | undefined;
  private upstream: Exchange | undefined;
  private waitingForDrain = false;

  constructor(
    private readonly ctx: PortContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.path = pathOf(req.url ?? "/");
    this.client = ctx.recording ? clientOf(req) : "";
    this.cap = ctx.recording ? ctx.bodyCap : 0;
  }

  header(name: string): string | undefined {
    const v = this.req.headers[name];
    return Array.isArray(v) ? v.join(", ") : v;
  }

  start(): void {
    const { ctx, req, res } = this;
    ctx.http1?.begin(req, res);
    res.on("close", this.onClose);
    const port = ctx.routes();
    const method = req.method ?? "GET";
    if ((method === "GET" || method === "HEAD") && port.probePaths.has(this.path)) {
      this.probe = true;
      const status = ctx.probeStatus(this.path);
      return this.answer(status, status === 200 ? "ok\n" : "carrier: draining, out of rotation\n");
    }
    const decision = routeRequest(port, this);
    this.decision = decision;
    if (decision.to === "none") {
      this.error = noRouteMessage(ctx.listenPort);
      return this.answer(502, `carrier: ${this.error}\n`);
    }
    const pool = ctx.pools.get(decision.destination);
    const { head, body } = upstreamHead(method, req.url ?? "/", req.rawHeaders, hostPort(decision.destination));
    this.upstream = pool.request({ head, body, headRequest: method === "HEAD", retryable: body === "none" && IDEMPOTENT_WITHOUT_BODY.has(method) }, this);
    if (body === "none") {
      req.resume();
      return;
    }
    const up = this.upstream;
    up.onDrain = () => req.resume();
    req.on("data", (chunk: Buffer) => {
      this.bytesIn += chunk.length;
      if (this.cap > 0) (this.reqTap ??= new BodyTap(this.cap)).push(chunk);
      if (!up.write(chunk)) req.pause();
    });
    req.on("end", () => up.end());
  }

  // ------------------------------------------------------------ the destination's response

  onHead(status: number, statusText: string, headers: string[]): boolean {
    const { ctx, req, res } = this;
    this.ttfb = performance.now() - this.t0;
    if (res.destroyed) return false;
    const out = forwardHeaders(headers, { keepChunked: req.httpVersion === "1.1" && req.method !== "HEAD" });
    if (ctx.routeHeader) out.push("x-gefyra-route", routeHeaderValue(this.decision));
    this.sentHeaders = out;
    try {
      res.writeHead(status, statusText, out);
    } catch (e) {
      // node:http refuses the head (a character not allowed in a header): the destination's fault
      this.error = unreachable(this.decision, `its response head cannot be relayed: ${errorText(e)}`);
      this.answer(502, `carrier: ${this.error}\n`);
      return false;
    }
    return true;
  }

  onBody(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    if (this.cap > 0) (this.resTap ??= new BodyTap(this.cap)).push(chunk);
    if (this.res.write(chunk)) return true;
    if (!this.waitingForDrain) {
      this.waitingForDrain = true;
      this.res.once("drain", this.onDrain);
    }
    return false;
  }

  onEnd(last: Buffer | undefined): void {
    if (last) {
      this.bytesOut += last.length;
      if (this.cap > 0) (this.resTap ??= new BodyTap(this.cap)).push(last);
    }
    this.res.end(last);
  }

  onError(err: Error, responded: boolean): void {
    const res = this.res;
    if (res.destroyed) return;
    this.error = unreachable(this.decision, responded ? `the response broke off: ${errorText(err)}` : errorText(err));
    if (res.headersSent) res.destroy();
    else this.answer(502, `carrier: ${this.error}\n`);
  }

  private readonly onDrain = () => {
    this.waitingForDrain = false;
    this.upstream?.resume();
  };

  // ------------------------------------------------------------ Carrier's own answers, the end

  private answer(status: number, text: string): void {
    const { ctx, req, res } = this;
    const body = Buffer.from(text);
    const headers = ["content-type", "text/plain; charset=utf-8", "content-length", String(body.length)];
    if (ctx.routeHeader) headers.push("x-gefyra-route", this.probe ? "carrier; probe" : "carrier");
    this.sentHeaders = headers;
    this.ttfb = performance.now() - this.t0;
    // the reason phrase given: a refused one of the destination's may be left on res.statusMessage
    res.writeHead(status, http.STATUS_CODES[status], headers);
    this.bytesOut = body.length;
    if (this.cap > 0) (this.resTap = new BodyTap(this.cap)).push(body);
    res.end(req.method === "HEAD" ? undefined : body);
    req.resume(); // drain any body
  }

  private readonly onClose = () => {
    const { ctx, res } = this;
    if (!res.writableFinished) {
      this.error ??= "the client closed the connection before the response was complete";
      this.upstream?.abort();
    }
    ctx.http1?.end(this.req.socket);
    if (!ctx.recording) return;
    const status = res.headersSent ? res.statusCode : undefined;
    const durationMs = performance.now() - this.t0;
    const error = this.error;
    ctx.recorder.add({ status, error, bytesIn: this.bytesIn, bytesOut: this.bytesOut, durationMs }, () => this.draft(status, error, durationMs));
  };

  private draft(status: number | undefined, error: string | undefined, durationMs: number): RecordDraft {
    const { ctx, req } = this;
    const d = this.decision;
    return {
      kind: "http",
      port: ctx.listenPort,
      time: new Date(this.started).toISOString(),
      client: this.client,
      method: req.method ?? "GET",
      path: req.url ?? "/",
      ttfbMs: this.ttfb,
      durationMs,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      route: this.probe ? { to: "carrier", rule: "probe" } : d.to === "none" ? { to: "carrier", rule: "no route" } : routeTaken(d),
      request: { headers: captureHeaders(req.rawHeaders, ctx.redact), body: capturedOf(this.reqTap, this.bytesIn) },
      response: { headers: captureHeaders(this.sentHeaders, ctx.redact), body: capturedOf(this.resTap, this.bytesOut) },
      ...(status !== undefined ? { status } : {}),
      ...(error ? { error } : {}),
    };
  }
}

export function handleRequest(ctx: PortContext, req: IncomingMessage, res: ServerResponse): void {
  new Http1Exchange(ctx, req, res).start();
}

function requestDecision(ctx: PortContext, req: IncomingMessage): { decision: RouteDecision; probe: boolean } {
  const port = ctx.routes();
  const path = pathOf(req.url ?? "/");
  if ((req.method === "GET" || req.method === "HEAD") && port.probePaths.has(path)) return { decision: { to: "none" }, probe: true };
  const decision = routeRequest(port, {
    path,
    header: (name) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(", ") : v;
    },
  });
  return { decision, probe: false };
}

function connectTimeout(up: http.ClientRequest, ms: number): void {
  up.on("socket", (s) => {
    if (!s.connecting) return;
    const t = setTimeout(() => up.destroy(Object.assign(new Error(`no connection within ${ms} ms`), { code: "ETIMEDOUT" })), ms);
    s.once("connect", () => clearTimeout(t));
    s.once("close", () => clearTimeout(t));
  });
}

/** Upgrade requests (WebSocket): route, replay the request to the destination, then pipe bytes. */
export function handleUpgrade(ctx: PortContext, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const t0 = process.hrtime.bigint();
  const started = new Date();
  const { decision } = requestDecision(ctx, req);
  let ttfb: number | null = null;
  let status: number | undefined;
  let error: string | undefined;
  let bytesIn = head.length;
  let bytesOut = 0;
  let resHeaders: string[] = [];
  let recorded = false;

  const record = () => {
    if (recorded || !ctx.recording) return;
    recorded = true;
    const durationMs = since(t0);
    ctx.recorder.add({ status, error, bytesIn, bytesOut, durationMs }, () => ({
      kind: "ws",
      port: ctx.listenPort,
      time: started.toISOString(),
      client: clientOf(req),
      method: req.method ?? "GET",
      path: req.url ?? "/",
      ttfbMs: ttfb,
      durationMs,
      bytesIn,
      bytesOut,
      route: decision.to === "none" ? { to: "carrier", rule: "no route" } : routeTaken(decision),
      request: { headers: captureHeaders(req.rawHeaders, ctx.redact), body: new BodyTap(0).result() },
      response: { headers: captureHeaders(resHeaders, ctx.redact), body: new BodyTap(0).result() },
      ...(status !== undefined ? { status } : {}),
      ...(error ? { error } : {}),
    }));
  };
  socket.on("error", () => socket.destroy());
  socket.on("close", record);

  const fail = (text: string) => {
    error = text;
    status = 502;
    const body = `carrier: ${text}\n`;
    socket.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  };
  if (decision.to === "none") return fail(noRouteMessage(ctx.listenPort));

  const dest = decision.destination;
  const up = http.request({
    host: dest.host,
    port: dest.port,
    method: req.method,
    path: req.url,
    headers: forwardHeaders(req.rawHeaders, { upgrade: true, keepChunked: false }),
    agent: false,
    setHost: false,
  });
  connectTimeout(up, ctx.connectTimeoutMs);
  up.on("error", (e) => {
    if (status === undefined) fail(unreachable(decision, errorText(e)));
    else socket.destroy();
  });
  socket.on("close", () => up.destroy());

  up.on("upgrade", (ures, usock, uhead) => {
    ttfb = since(t0);
    status = ures.statusCode ?? 101;
    resHeaders = [...ures.rawHeaders];
    if (ctx.routeHeader) resHeaders.push("x-gefyra-route", routeHeaderValue(decision));
    let head101 = `HTTP/1.1 ${status} ${ures.statusMessage ?? "Switching Protocols"}\r\n`;
    for (let i = 0; i + 1 < resHeaders.length; i += 2) head101 += `${resHeaders[i]}: ${resHeaders[i + 1]}\r\n`;
    socket.write(`${head101}\r\n`);
    if (uhead.length) {
      bytesOut += uhead.length;
      socket.write(uhead);
    }
    if (head.length) usock.write(head);
    usock.on("data", (c: Buffer) => (bytesOut += c.length));
    socket.on("data", (c: Buffer) => (bytesIn += c.length));
    usock.on("error", (e) => {
      error ??= unreachable(decision, `the upgraded connection broke off: ${errorText(e)}`);
      socket.destroy();
    });
    usock.on("close", () => socket.destroy());
    socket.on("close", () => usock.destroy());
    usock.pipe(socket);
    socket.pipe(usock);
  });

  up.on("response", (ures) => {
    // the destination declined the upgrade: relay its answer and close
    ttfb = since(t0);
    status = ures.statusCode ?? 502;
    resHeaders = forwardHeaders(ures.rawHeaders, { keepChunked: false });
    let text = `HTTP/1.1 ${status} ${ures.statusMessage ?? ""}\r\n`;
    for (let i = 0; i + 1 < resHeaders.length; i += 2) text += `${resHeaders[i]}: ${resHeaders[i + 1]}\r\n`;
    socket.write(`${text}connection: close\r\n\r\n`);
    ures.on("data", (c: Buffer) => (bytesOut += c.length));
    ures.pipe(socket);
  });
  up.end();
}

/** An http.Server that is never listened on: sniffed connections are handed to it. */
export function createHttp1Server(ctx: PortContext): http.Server {
  const server = http.createServer({ requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => handleRequest(ctx, req, res));
  server.keepAliveTimeout = 65_000; // idle client connections (a property: Node 18 has no such option)
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => handleUpgrade(ctx, req, socket, head));
  server.on("clientError", (err, socket) => {
    if (socket.writable && !(err as NodeJS.ErrnoException).code?.startsWith("ECONN")) {
      socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    } else socket.destroy();
  });
  return server;
}
