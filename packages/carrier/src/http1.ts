/**
 * HTTP/1.x proxying: each request is routed on its own (so one keep-alive connection can alternate
 * between bridges), bodies stream in both directions with backpressure (never buffered beyond the
 * capture cap), and upgrades (WebSocket) are routed by the same rules on the upgrade request.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { Transform, type Duplex } from "node:stream";
import { pathOf, routeRequest, type RouteDecision } from "../../shared/src/rules/index";
import { noRouteMessage, routeHeaderValue, routeTaken, since, unreachable, type PortContext } from "./context";
import { errorText } from "./log";
import { BodyTap, captureHeaders, type RecordDraft } from "./records";
import type { Dispatcher } from "undici";

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus `expect` (Carrier answers 100-continue itself). */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "expect"]);

/**
 * Copy rawHeaders without hop-by-hop ones and those the Connection header names. A chunked
 * transfer-encoding is kept on HTTP/1.1 so Node re-chunks the streamed body the same way.
 */
export function forwardHeaders(raw: readonly string[], opts: { upgrade?: boolean; keepChunked: boolean }): string[] {
  const named = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === "connection") for (const t of raw[i + 1]!.split(",")) named.add(t.trim().toLowerCase());
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    const value = raw[i + 1]!;
    if (opts.upgrade && (lower === "connection" || lower === "upgrade")) {
      out.push(name, value);
      continue;
    }
    if (lower === "transfer-encoding" && opts.keepChunked && value.trim().toLowerCase() === "chunked") {
      out.push(name, value);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || (named.has(lower) && lower !== "upgrade")) continue;
    out.push(name, value);
  }
  return out;
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

function clientOf(req: IncomingMessage): string {
  const s = req.socket as IncomingMessage["socket"] | null;
  return `${s?.remoteAddress ?? "?"}:${s?.remotePort ?? "?"}`;
}

const IDEMPOTENT_WITHOUT_BODY = new Set(["GET", "HEAD", "OPTIONS"]);

export function handleRequest(ctx: PortContext, req: IncomingMessage, res: ServerResponse): void {
  const t0 = process.hrtime.bigint();
  const started = Date.now();
  const { decision, probe } = requestDecision(ctx, req);
  const reqTap = new BodyTap(ctx.recording ? ctx.bodyCap : 0);
  const resTap = new BodyTap(ctx.recording ? ctx.bodyCap : 0);
  let ttfb: number | null = null;
  let error: string | undefined;
  let sentHeaders: string[] = [];

  const bodyless = req.headers["transfer-encoding"] === undefined && (req.headers["content-length"] === undefined || req.headers["content-length"] === "0");
  const client = clientOf(req);

  res.on("close", () => {
    if (!res.writableFinished && !error) error = "the client closed the connection before the response was complete";
    if (!ctx.recording) return;
    const status = res.headersSent ? res.statusCode : undefined;
    const durationMs = since(t0);
    ctx.recorder.add({ status, error, bytesIn: reqTap.bytes, bytesOut: resTap.bytes, durationMs }, (): RecordDraft => ({
      kind: "http",
      port: ctx.listenPort,
      time: new Date(started).toISOString(),
      client,
      method: req.method ?? "GET",
      path: req.url ?? "/",
      ttfbMs: ttfb,
      durationMs,
      bytesIn: reqTap.bytes,
      bytesOut: resTap.bytes,
      route: probe ? { to: "carrier", rule: "probe" } : decision.to === "none" ? { to: "carrier", rule: "no route" } : routeTaken(decision),
      request: { headers: captureHeaders(req.rawHeaders, ctx.redact), body: reqTap.result() },
      response: { headers: captureHeaders(sentHeaders, ctx.redact), body: resTap.result() },
      ...(status !== undefined ? { status } : {}),
      ...(error ? { error } : {}),
    }));
  });

  const answer = (status: number, text: string) => {
    const body = Buffer.from(text);
    sentHeaders = ["content-type", "text/plain; charset=utf-8", "content-length", String(body.length)];
    if (ctx.routeHeader) sentHeaders.push("x-gefyra-route", probe ? "carrier; probe" : "carrier");
    ttfb = since(t0);
    res.writeHead(status, sentHeaders);
    resTap.push(body);
    res.end(req.method === "HEAD" ? undefined : body);
    req.resume(); // drain any body
  };

  if (probe) return answer(200, "ok\n");
  if (decision.to === "none") {
    error = noRouteMessage(ctx.listenPort);
    return answer(502, `carrier: ${error}\n`);
  }

  const dest = decision.destination;
  const keepChunked = req.httpVersion === "1.1";
  // undici frames the body itself (content-length as given, else chunked)
  const headers = forwardHeaders(req.rawHeaders, { keepChunked: false });
  const retryable = bodyless && IDEMPOTENT_WITHOUT_BODY.has(req.method ?? "");

  // Upstream leg on undici (decision 0010: faster per request than http.request in A/B bench runs).
  let abortUpstream: ((reason?: Error) => void) | undefined;
  let resumeUpstream: (() => void) | undefined;
  res.on("drain", () => resumeUpstream?.());
  res.on("close", () => {
    if (!res.writableFinished) abortUpstream?.(new Error("the client went away"));
  });
  const send = (attempt: number) => {
    let responded = false;
    ctx.pools.get(dest).dispatch(
      {
        path: req.url ?? "/",
        method: (req.method ?? "GET") as Dispatcher.HttpMethod,
        headers,
        body: bodyless ? null : tappedBody(req, reqTap),
        headersTimeout: 0,
        bodyTimeout: 0,
      },
      {
        onConnect(abort) {
          abortUpstream = abort;
        },
        onHeaders(status, rawHeaders, resume, statusText) {
          responded = true;
          ttfb = since(t0);
          resumeUpstream = resume;
          const raw: string[] = [];
          for (const b of rawHeaders) raw.push(b.toString("latin1"));
          sentHeaders = forwardHeaders(raw, { keepChunked: keepChunked && req.method !== "HEAD" });
          if (ctx.routeHeader) sentHeaders.push("x-gefyra-route", routeHeaderValue(decision));
          if (res.destroyed) return false;
          res.writeHead(status, statusText, sentHeaders);
          return true;
        },
        onData(chunk) {
          resTap.push(chunk);
          return res.write(chunk);
        },
        onComplete() {
          res.end();
        },
        onError(e) {
          if (!responded && attempt === 0 && retryable && (e as { code?: string }).code === "UND_ERR_SOCKET") {
            // most likely a pooled keep-alive connection the destination had just closed: try once more
            send(1);
            return;
          }
          if (res.destroyed) return;
          error = unreachable(decision, responded ? `the response broke off: ${errorText(e)}` : errorText(e));
          if (res.headersSent) res.destroy();
          else answer(502, `carrier: ${error}\n`);
        },
        onUpgrade() {
          // upgrades never come here (handleUpgrade)
        },
      },
    );
    if (bodyless) req.resume();
  };
  send(0);
}

/** The request body as undici reads it (with backpressure), counted and captured on the way. */
function tappedBody(req: IncomingMessage, tap: BodyTap): Transform {
  const body = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      tap.push(chunk);
      cb(null, chunk);
    },
  });
  req.on("error", (e) => body.destroy(e));
  return req.pipe(body);
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
