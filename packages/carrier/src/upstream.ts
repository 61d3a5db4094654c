/**
 * The upstream leg of proxied HTTP/1 requests: keep-alive connections per destination, the request
 * head written as one string, the response parsed here (RFC 9112 framing: content-length, chunked,
 * until close; no body for HEAD, 1xx, 204, 304; interim 1xx responses skipped).
 *
 * Why not undici (which Carrier used before): per request it validates and copies every header,
 * schedules its writes through setImmediate and runs a general-purpose state machine; in
 * bench/carrier-vs-nginx.ts that leg cost Carrier more CPU than Node's whole HTTP server side.
 * Carrier needs much less: the client side (node:http's llhttp) has already validated the request,
 * and the response head is re-validated by ServerResponse.writeHead before it reaches the client.
 * docs/carrier.md, "Performance", has the figures.
 *
 * One request per connection at a time (no pipelining). A connection goes back to its pool when the
 * response was complete, the request body fully sent, both sides allowed keep-alive and no bytes
 * followed the response; otherwise it is closed. Idle connections are kept for 4 s (or the
 * destination's `Keep-Alive: timeout` less 1 s, when shorter): a server closing an idle connection
 * at the moment a request goes out on it is the one race keep-alive has, and a bodyless idempotent
 * request that meets it goes out once more on a new connection.
 */
import net from "node:net";

/** Response heads (status line and header lines) larger than this are refused. */
export const MAX_RESPONSE_HEAD = 64 * 1024;
/** Chunk-size lines (with extensions) and all trailer lines together may not exceed this. */
const MAX_CHUNK_LINE = 4096;
const DEFAULT_KEEP_ALIVE_MS = 4000;
/** How long before a destination's announced keep-alive timeout Carrier stops reusing a connection. */
const KEEP_ALIVE_MARGIN_MS = 1000;
const MAX_IDLE_PER_DESTINATION = 256;

export type BodyMode = "none" | "length" | "chunked";

export interface UpstreamRequest {
  /** The whole request head: request line, header lines and the empty line, in latin1. */
  head: string;
  /** none: no body; length: the head has a content-length and exactly that many bytes follow; chunked: Carrier frames what `write` gets. */
  body: BodyMode;
  /** HEAD requests: the response has no body whatever its headers say. */
  headRequest: boolean;
  /** May go out again on a new connection when a reused one turns out to have been closed (bodyless idempotent requests only). */
  retryable: boolean;
}

export interface ResponseHandler {
  /** The final response head; `headers` flat [name, value, …] as received. Return false to drop the exchange. */
  onHead(status: number, statusText: string, headers: string[]): boolean;
  /** Body bytes (chunked encoding removed). Return false to stop reading until `resume()`. */
  onBody(chunk: Buffer): boolean;
  /** The response is complete; `last` is its final piece of body when that came with the end. */
  onEnd(last: Buffer | undefined): void;
  /** The exchange failed; `responded`: after onHead (the response broke off). Not called after onEnd or abort. */
  onError(err: Error, responded: boolean): void;
}

type ErrorWithCode = Error & { code?: string };
function protocolError(message: string): ErrorWithCode {
  return Object.assign(new Error(message), { code: "HPE_INVALID_RESPONSE" });
}

// parser states
const HEAD = 0;
const LENGTH = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_END = 4;
const TRAILERS = 5;
const UNTIL_CLOSE = 6;
const DONE = 7;

/** One request/response on an upstream connection, as the HTTP/1 handler sees it. */
export class Exchange {
  conn: Connection | undefined;
  /** onHead was called. */
  responded = false;
  /** The request body is fully written (always for bodyless requests). */
  requestDone: boolean;
  /** Ended (response complete, failed or aborted): nothing more is written or reported. */
  done = false;
  retried = false;
  /** Called when the connection can take more request body after `write` returned false. */
  onDrain: (() => void) | undefined;

  constructor(
    readonly pool: UpstreamPool,
    readonly req: UpstreamRequest,
    readonly handler: ResponseHandler,
  ) {
    this.requestDone = req.body === "none";
  }

  /** Request body bytes; false when the connection's buffer is full (wait for onDrain). */
  write(chunk: Buffer): boolean {
    const c = this.conn;
    if (!c || this.done || chunk.length === 0) return true;
    const s = c.socket;
    if (this.req.body !== "chunked") return s.write(chunk);
    s.cork();
    s.write(`${chunk.length.toString(16)}\r\n`, "latin1");
    s.write(chunk);
    const ok = s.write("\r\n", "latin1");
    s.uncork();
    return ok;
  }

  /** The request body is complete. */
  end(): void {
    if (this.requestDone) return;
    this.requestDone = true;
    if (this.done || !this.conn) return;
    if (this.req.body === "chunked") this.conn.socket.write("0\r\n\r\n", "latin1");
  }

  /** Read the response again after onBody returned false. */
  resume(): void {
    if (!this.done) this.conn?.resumeReading();
  }

  /** The client went away: drop the connection (it is mid-exchange, so it cannot be reused). */
  abort(): void {
    if (this.done) return;
    this.done = true;
    const c = this.conn;
    this.conn = undefined;
    if (c) {
      c.ex = undefined;
      c.socket.destroy();
    }
  }
}

/** A keep-alive connection to one destination and the parser of its responses. */
export class Connection {
  readonly socket: net.Socket;
  ex: Exchange | undefined;
  /** Has served a request before (so a failure before any response byte may be a stale keep-alive). */
  reused = false;
  idleSince = 0;
  keepAliveMs = DEFAULT_KEEP_ALIVE_MS;
  private connectTimer: NodeJS.Timeout | undefined;
  private lastError: Error | undefined;
  private paused = false;
  // response parser
  private state: number = DONE;
  private partial: Buffer | undefined;
  private line = "";
  private lineBytes = 0;
  private sawCR = false;
  private remaining = 0;
  private keepAlive = false;
  private gotBytes = false;

  constructor(private readonly pool: UpstreamPool) {
    const s = net.connect({ host: pool.host, port: pool.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 });
    this.socket = s;
    this.connectTimer = setTimeout(() => {
      s.destroy(Object.assign(new Error(`no connection within ${pool.connectTimeoutMs} ms`), { code: "ETIMEDOUT" }));
    }, pool.connectTimeoutMs);
    s.once("connect", () => {
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
    });
    s.on("data", (d: Buffer) => this.onData(d));
    s.on("end", () => this.onEnd());
    s.on("error", (e) => (this.lastError = e));
    s.on("close", () => this.onClose());
    s.on("drain", () => this.ex?.onDrain?.());
  }

  /** Send `ex`'s request head on this connection and parse its response. */
  start(ex: Exchange): void {
    this.ex = ex;
    ex.conn = this;
    this.state = HEAD;
    this.partial = undefined;
    this.gotBytes = false;
    this.keepAlive = false;
    this.socket.write(ex.req.head, "latin1");
  }

  resumeReading(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  private onData(buf: Buffer): void {
    const ex = this.ex;
    if (!ex) {
      // bytes on an idle connection: nobody asked for them, so the connection is out of step
      this.socket.destroy();
      return;
    }
    this.gotBytes = true;
    let off = 0;
    let len = buf.length;
    /** Body bytes held back one step, so that the last piece can go with onEnd (one write to the client). */
    let pending: Buffer | undefined;
    while (off < len) {
      switch (this.state) {
        case HEAD: {
          let from = off;
          if (this.partial) {
            buf = Buffer.concat([this.partial, buf.subarray(off)]);
            len = buf.length;
            from = 0;
            this.partial = undefined;
          }
          const [textEnd, bodyStart] = headEnd(buf, from);
          if (textEnd < 0 || textEnd - from > MAX_RESPONSE_HEAD) {
            if (len - from > MAX_RESPONSE_HEAD) return this.fail(protocolError(`the response head is larger than ${MAX_RESPONSE_HEAD / 1024} KiB`));
            // copied: a subarray would pin the whole read buffer
            this.partial = Buffer.from(buf.subarray(from));
            return;
          }
          off = bodyStart;
          if (!this.head(buf.toString("latin1", from, textEnd))) return;
          if (this.ex !== ex) return;
          // head() moved the state on (the compiler still sees HEAD here)
          if ((this.state as number) === DONE) return this.finish(undefined, off < len);
          break;
        }
        case LENGTH:
        case CHUNK_DATA: {
          const n = Math.min(this.remaining, len - off);
          const slice = buf.subarray(off, off + n);
          off += n;
          this.remaining -= n;
          if (pending && !this.deliver(pending, ex)) return;
          pending = slice;
          if (this.remaining > 0) break;
          if (this.state === LENGTH) return this.finish(pending, off < len);
          this.state = CHUNK_END;
          break;
        }
        case CHUNK_END: {
          const c = buf[off]!;
          if (c === 13 && !this.sawCR) this.sawCR = true;
          else if (c === 10) {
            this.sawCR = false;
            this.state = CHUNK_SIZE;
          } else return this.fail(protocolError("a chunk of the response body does not end with CRLF"));
          off++;
          break;
        }
        case CHUNK_SIZE:
        case TRAILERS: {
          const nl = buf.indexOf(10, off);
          const end = nl < 0 ? len : nl;
          this.lineBytes += end - off;
          if (this.lineBytes > MAX_CHUNK_LINE) return this.fail(protocolError("a chunk-size or trailer line of the response is too long"));
          this.line += buf.toString("latin1", off, end);
          off = nl < 0 ? len : nl + 1;
          if (nl < 0) break;
          const line = this.line.endsWith("\r") ? this.line.slice(0, -1) : this.line;
          this.line = "";
          if (this.state === TRAILERS) {
            // trailers are dropped (as before: Node's ServerResponse sends none it was not given)
            if (line === "") return this.finish(pending, off < len);
            break;
          }
          this.lineBytes = 0;
          const size = chunkSize(line);
          if (size < 0) return this.fail(protocolError(`invalid chunk size line ${JSON.stringify(line.slice(0, 40))}`));
          if (size === 0) this.state = TRAILERS;
          else {
            this.state = CHUNK_DATA;
            this.remaining = size;
          }
          break;
        }
        case UNTIL_CLOSE: {
          if (pending && !this.deliver(pending, ex)) return;
          pending = off === 0 ? buf : buf.subarray(off);
          off = len;
          break;
        }
        default:
          // DONE with bytes left: cannot happen (finish returns), kept for the type checker
          return;
      }
    }
    if (pending) this.deliver(pending, ex);
  }

  /** Body bytes to the handler; false when the exchange went away meanwhile. */
  private deliver(chunk: Buffer, ex: Exchange): boolean {
    if (!ex.handler.onBody(chunk) && !this.paused && this.ex === ex) {
      this.paused = true;
      this.socket.pause();
    }
    return this.ex === ex;
  }

  /** Parse one response head; false when the exchange ended (error, or the handler dropped it). */
  private head(text: string): boolean {
    const ex = this.ex!;
    const lines = text.split("\n");
    const statusLine = stripCR(lines[0]!);
    // HTTP/1.x SP 3DIGIT [SP reason]
    if (!statusLine.startsWith("HTTP/1.") || statusLine.charCodeAt(8) !== 32 || !/^[0-9]{3}$/.test(statusLine.slice(9, 12)) || (statusLine.length > 12 && statusLine.charCodeAt(12) !== 32)) {
      this.fail(protocolError(`invalid status line ${JSON.stringify(statusLine.slice(0, 40))}`));
      return false;
    }
    const minor = statusLine.charCodeAt(7) - 48;
    const status = Number(statusLine.slice(9, 12));
    const headers: string[] = [];
    let contentLength = -1;
    let transferEncoding: string | undefined;
    let connection: string | undefined;
    let keepAliveHint: string | undefined;
    for (let i = 1; i < lines.length; i++) {
      const line = stripCR(lines[i]!);
      const first = line.charCodeAt(0);
      if (first === 32 || first === 9) {
        this.fail(protocolError("the response uses obsolete header line folding"));
        return false;
      }
      const colon = line.indexOf(":");
      if (colon <= 0) {
        this.fail(protocolError(`invalid header line ${JSON.stringify(line.slice(0, 40))}`));
        return false;
      }
      const name = line.slice(0, colon);
      const value = trimOWS(line, colon + 1);
      headers.push(name, value);
      // only names of these lengths need a closer look
      switch (name.length) {
        case 14:
          if (name.toLowerCase() === "content-length") {
            const n = parseContentLength(value);
            if (n < 0 || (contentLength >= 0 && n !== contentLength)) {
              this.fail(protocolError(`invalid or conflicting content-length ${JSON.stringify(value.slice(0, 40))}`));
              return false;
            }
            contentLength = n;
          }
          break;
        case 17:
          if (name.toLowerCase() === "transfer-encoding") transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
          break;
        case 10: {
          const lower = name.toLowerCase();
          if (lower === "connection") connection = connection === undefined ? value : `${connection}, ${value}`;
          else if (lower === "keep-alive") keepAliveHint = value;
          break;
        }
      }
    }
    if (status < 200) {
      if (status === 101) {
        this.fail(protocolError("the destination switched protocols (101) on a request that asked for no upgrade"));
        return false;
      }
      // interim response (100 Continue, 103 Early Hints…): not relayed; the final one follows
      return true;
    }
    const tokens = connection === undefined ? "" : connection.toLowerCase();
    this.keepAlive = minor === 1 ? !hasToken(tokens, "close") : hasToken(tokens, "keep-alive");
    if (keepAliveHint !== undefined) {
      const m = /(?:^|[\s,;])timeout\s*=\s*(\d+)/i.exec(keepAliveHint);
      if (m) this.keepAliveMs = Math.min(DEFAULT_KEEP_ALIVE_MS, Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS);
    }
    if (ex.req.headRequest || status === 204 || status === 304) this.state = DONE;
    else if (transferEncoding !== undefined) {
      // RFC 9112 §6.3: transfer-encoding wins over content-length, and such a connection is not reused
      if (contentLength >= 0) this.keepAlive = false;
      const codings = transferEncoding.split(",");
      if (codings[codings.length - 1]!.trim().toLowerCase() === "chunked") {
        this.state = CHUNK_SIZE;
        this.line = "";
        this.lineBytes = 0;
        this.sawCR = false;
      } else {
        this.state = UNTIL_CLOSE;
        this.keepAlive = false;
      }
    } else if (contentLength >= 0) {
      this.state = contentLength === 0 ? DONE : LENGTH;
      this.remaining = contentLength;
    } else {
      this.state = UNTIL_CLOSE;
      this.keepAlive = false;
    }
    ex.responded = true;
    if (!ex.handler.onHead(status, statusLine.length > 13 ? statusLine.slice(13) : "", headers)) {
      ex.abort();
      return false;
    }
    return true;
  }

  /** The response is complete: hand over the last piece, then reuse or close the connection. */
  private finish(last: Buffer | undefined, extraBytes: boolean): void {
    const ex = this.ex!;
    this.state = DONE;
    this.ex = undefined;
    ex.done = true;
    ex.conn = undefined;
    if (this.keepAlive && ex.requestDone && !extraBytes && !this.socket.destroyed) {
      this.resumeReading();
      this.reused = true;
      this.pool.release(this);
    } else this.socket.destroy();
    ex.handler.onEnd(last);
  }

  private fail(err: Error): void {
    const ex = this.ex;
    this.ex = undefined;
    this.socket.destroy();
    if (!ex) return;
    ex.done = true;
    ex.conn = undefined;
    ex.handler.onError(err, ex.responded);
  }

  private onEnd(): void {
    // a response delimited by the end of the connection is complete now
    if (this.ex && this.state === UNTIL_CLOSE) this.finish(undefined, false);
  }

  private onClose(): void {
    clearTimeout(this.connectTimer);
    this.pool.forget(this);
    const ex = this.ex;
    if (!ex) return;
    this.ex = undefined;
    ex.conn = undefined;
    if (this.reused && !this.gotBytes && ex.req.retryable && !ex.retried) {
      // most likely a keep-alive connection the destination had just closed: once more on a new one
      ex.retried = true;
      this.pool.assign(ex, true);
      return;
    }
    ex.done = true;
    const err =
      this.lastError ??
      Object.assign(new Error(ex.responded ? "the destination closed the connection before the response was complete" : "the destination closed the connection without a response"), {
        code: "ECONNRESET",
      });
    ex.handler.onError(err, ex.responded);
  }
}

/** Keep-alive connections to one destination. */
export class UpstreamPool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private closed = false;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly connectTimeoutMs: number,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** Send a request: on the most recently used idle connection, else a new one. */
  request(req: UpstreamRequest, handler: ResponseHandler): Exchange {
    const ex = new Exchange(this, req, handler);
    this.assign(ex, false);
    return ex;
  }

  /** @internal */
  assign(ex: Exchange, fresh: boolean): void {
    let c = fresh ? undefined : this.take();
    if (!c) {
      c = new Connection(this);
      this.all.add(c);
    }
    c.start(ex);
  }

  private take(): Connection | undefined {
    const now = performance.now();
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (now - c.idleSince < c.keepAliveMs) return c;
      c.socket.destroy();
    }
    return undefined;
  }

  /** @internal A connection that finished an exchange and may be reused. */
  release(c: Connection): void {
    if (this.closed || this.idle.length >= MAX_IDLE_PER_DESTINATION) {
      c.socket.destroy();
      return;
    }
    c.idleSince = performance.now();
    this.idle.push(c);
  }

  /** @internal The connection closed. */
  forget(c: Connection): void {
    this.all.delete(c);
    const i = this.idle.lastIndexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** Close idle connections past their keep-alive time (oldest first: the idle list is most recent last). */
  sweep(now: number): void {
    while (this.idle.length > 0 && now - this.idle[0]!.idleSince >= this.idle[0]!.keepAliveMs) this.idle.shift()!.socket.destroy();
  }

  /** Stop reusing connections: idle ones close now, busy ones when their exchange ends. */
  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.socket.destroy();
  }

  /** Close every connection now, busy ones included. */
  destroy(): void {
    this.close();
    for (const c of this.all) c.socket.destroy();
  }

  /** Connections open now (idle and busy), for tests. */
  get size(): { idle: number; open: number } {
    return { idle: this.idle.length, open: this.all.size };
  }
}

/**
 * End of the head: [end of its text, start of the body], or [-1, -1]. Lines end in CRLF, or in a
 * bare LF from lenient servers: the head ends at the first LF followed by CRLF or by LF.
 */
function headEnd(buf: Buffer, from: number): [number, number] {
  const crlf = buf.indexOf("\n\r\n", from, "latin1");
  // "\n\n" is searched for only before that point: after it come body bytes, which may hold anything
  const lf = crlf < 0 ? buf.indexOf("\n\n", from, "latin1") : buf.subarray(from, crlf + 1).indexOf("\n\n", 0, "latin1");
  if (lf >= 0) {
    const at = crlf < 0 ? lf : from + lf;
    return [at, at + 2];
  }
  return crlf < 0 ? [-1, -1] : [crlf, crlf + 3];
}

function stripCR(line: string): string {
  return line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
}

/** The value after `start` without leading and trailing spaces and tabs (String.trim would also take NBSP, a valid latin1 byte). */
function trimOWS(line: string, start: number): string {
  let s = start;
  let e = line.length;
  while (s < e && (line.charCodeAt(s) === 32 || line.charCodeAt(s) === 9)) s++;
  while (e > s && (line.charCodeAt(e - 1) === 32 || line.charCodeAt(e - 1) === 9)) e--;
  return line.slice(s, e);
}

/** A content-length value (a list of equal values is allowed, RFC 9110 §8.6), or -1. */
function parseContentLength(value: string): number {
  let n = -1;
  for (const part of value.split(",")) {
    const t = part.trim();
    if (!/^[0-9]{1,15}$/.test(t)) return -1;
    const v = Number(t);
    if (n >= 0 && v !== n) return -1;
    n = v;
  }
  return n;
}

/** The size of a chunk-size line (extensions ignored), or -1. */
function chunkSize(line: string): number {
  const semi = line.indexOf(";");
  const hex = (semi < 0 ? line : line.slice(0, semi)).replace(/[ \t]+$/, "");
  if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) return -1;
  return parseInt(hex, 16);
}

/** Whether a lower-cased comma-separated list holds `token`. */
function hasToken(list: string, token: string): boolean {
  if (!list.includes(token)) return false;
  for (const t of list.split(",")) if (t.trim() === token) return true;
  return false;
}
