/**
 * HTTP/2 cleartext with prior knowledge (h2c, as gRPC uses it): every stream is routed on its own
 * by :path and headers, then relayed over one pooled HTTP/2 session per destination. Response
 * trailers (grpc-status) are relayed.
 */
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { pathOf, routeRequest, type Destination, type RouteDecision } from "../../shared/src/rules/index";
import { hostPort, noRouteMessage, routeHeaderValue, routeTaken, since, unreachable, type PortContext } from "./context";
import { errorText } from "./log";
import { BodyTap, captureHeaderObject, type RecordDraft } from "./records";

/** Connection-specific fields that HTTP/2 forbids (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "http2-settings"]);

function forwardable(h: IncomingHttpHeaders, keepPseudo: (name: string) => boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || CONNECTION_SPECIFIC.has(k)) continue;
    if (k.startsWith(":") && !keepPseudo(k)) continue;
    if (k === "te" && v !== "trailers") continue;
    out[k] = v;
  }
  return out;
}

/** One client session per destination, replaced when it closes or fails. */
export class H2Pool {
  private readonly sessions = new Map<string, ClientHttp2Session>();

  get(d: Destination): ClientHttp2Session {
    const key = hostPort(d);
    const existing = this.sessions.get(key);
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const session = http2.connect(`http://${key}`);
    const forget = () => {
      if (this.sessions.get(key) === session) this.sessions.delete(key);
    };
    session.on("close", forget);
    session.on("goaway", forget);
    session.on("error", forget);
    session.unref();
    this.sessions.set(key, session);
    return session;
  }

  /** Close the sessions of destinations not in `keep` (in-flight streams finish first). */
  retain(keep: Iterable<Destination>): void {
    const wanted = new Set(Array.from(keep, hostPort));
    for (const [key, s] of this.sessions) {
      if (wanted.has(key)) continue;
      this.sessions.delete(key);
      s.close();
    }
  }

  close(): void {
    for (const s of this.sessions.values()) s.destroy();
    this.sessions.clear();
  }
}

export function createH2Server(ctx: PortContext, pool: H2Pool): http2.Http2Server {
  const server = http2.createServer({ maxSessionMemory: 64 });
  server.on("stream", (stream, headers) => handleStream(ctx, pool, stream, headers));
  server.on("sessionError", () => {});
  return server;
}

function handleStream(ctx: PortContext, pool: H2Pool, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  const t0 = process.hrtime.bigint();
  const started = new Date();
  const target = String(headers[":path"] ?? "/");
  const method = String(headers[":method"] ?? "GET");
  const port = ctx.routes();
  const path = pathOf(target);
  const probe = (method === "GET" || method === "HEAD") && port.probePaths.has(path);
  const decision: RouteDecision = probe
    ? { to: "none" }
    : routeRequest(port, {
        path,
        header: (n) => {
          const v = headers[n];
          return Array.isArray(v) ? v.join(", ") : v;
        },
      });
  const reqTap = new BodyTap(ctx.recording ? ctx.bodyCap : 0);
  const resTap = new BodyTap(ctx.recording ? ctx.bodyCap : 0);
  let ttfb: number | null = null;
  let status: number | undefined;
  let error: string | undefined;
  let resHeaders: Record<string, string | string[] | number | undefined> = {};
  let trailers: IncomingHttpHeaders | undefined;

  stream.on("data", (c: Buffer) => reqTap.push(c));
  stream.on("error", () => {});
  stream.on("close", () => {
    if (!ctx.recording) return;
    if (stream.rstCode && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR && !error) error = `the stream was reset (code ${stream.rstCode})`;
    const durationMs = since(t0);
    ctx.recorder.add({ status, error, bytesIn: reqTap.bytes, bytesOut: resTap.bytes, durationMs }, (): RecordDraft => ({
      kind: "h2",
      port: ctx.listenPort,
      time: started.toISOString(),
      client: `${stream.session?.socket?.remoteAddress ?? "?"}:${stream.session?.socket?.remotePort ?? "?"}`,
      method,
      path: target,
      ttfbMs: ttfb,
      durationMs,
      bytesIn: reqTap.bytes,
      bytesOut: resTap.bytes,
      route: probe ? { to: "carrier", rule: "probe" } : decision.to === "none" ? { to: "carrier", rule: "no route" } : routeTaken(decision),
      request: { headers: captureHeaderObject(headers, ctx.redact), body: reqTap.result() },
      response: { headers: captureHeaderObject({ ...resHeaders, ...trailers }, ctx.redact), body: resTap.result() },
      ...(status !== undefined ? { status } : {}),
      ...(error ? { error } : {}),
    }));
  });

  const answer = (code: number, text: string) => {
    if (stream.destroyed || stream.headersSent) return;
    status = code;
    ttfb = since(t0);
    resHeaders = { ":status": code, "content-type": "text/plain; charset=utf-8", ...(ctx.routeHeader ? { "x-gefyra-route": "carrier" } : {}) };
    stream.respond(resHeaders);
    const body = Buffer.from(text);
    resTap.push(body);
    stream.end(method === "HEAD" ? undefined : body);
    stream.resume();
  };
  if (probe) {
    const code = ctx.probeStatus(path);
    return answer(code, code === 200 ? "ok\n" : "carrier: draining, out of rotation\n");
  }
  if (decision.to === "none") {
    error = noRouteMessage(ctx.listenPort);
    return answer(502, `carrier: ${error}\n`);
  }

  let session: ClientHttp2Session;
  try {
    session = pool.get(decision.destination);
  } catch (e) {
    error = unreachable(decision, errorText(e));
    return answer(502, `carrier: ${error}\n`);
  }
  const up = session.request(forwardable(headers, () => true));
  const connectTimer = setTimeout(() => {
    if (ttfb === null) up.close(http2.constants.NGHTTP2_CANCEL);
    error ??= unreachable(decision, `no response head within ${ctx.connectTimeoutMs} ms`);
  }, ctx.connectTimeoutMs);
  connectTimer.unref();

  up.on("response", (h) => {
    clearTimeout(connectTimer);
    ttfb = since(t0);
    status = Number(h[":status"] ?? 502);
    resHeaders = h;
    const out = forwardable(h, (k) => k === ":status");
    if (ctx.routeHeader) out["x-gefyra-route"] = routeHeaderValue(decision);
    if (stream.destroyed) return;
    stream.respond(out, { waitForTrailers: true });
    stream.on("wantTrailers", () => {
      if (trailers) stream.sendTrailers(forwardable(trailers, () => false));
      else stream.close();
    });
  });
  up.on("trailers", (t: IncomingHttpHeaders) => {
    trailers = t;
  });
  up.on("data", (c: Buffer) => resTap.push(c));
  up.pipe(stream);
  stream.pipe(up);
  up.on("error", (e) => {
    clearTimeout(connectTimer);
    error ??= unreachable(decision, errorText(e));
    if (!stream.headersSent) answer(502, `carrier: ${error}\n`);
    else stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  });
  up.on("close", () => {
    clearTimeout(connectTimer);
    if (up.rstCode && up.rstCode !== http2.constants.NGHTTP2_NO_ERROR && !stream.destroyed) {
      error ??= unreachable(decision, `the destination reset the stream (code ${up.rstCode})`);
      if (!stream.headersSent) answer(502, `carrier: ${error}\n`);
      else stream.close(up.rstCode);
    }
  });
  stream.on("close", () => {
    if (!up.closed) up.close(http2.constants.NGHTTP2_CANCEL);
  });
}
