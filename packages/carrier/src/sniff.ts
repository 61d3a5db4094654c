/**
 * Protocol detection on `auto` ports from the client's first bytes: the HTTP/2 connection preface
 * (h2c with prior knowledge), an HTTP/1 request line (a method token and a space), else raw TCP.
 * A client that sends nothing within the sniff timeout (server-speaks-first protocols such as
 * MySQL or SMTP) is treated as raw TCP.
 */
import type net from "node:net";
import { Duplex } from "node:stream";

export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const MAX_METHOD = 20;

export type Protocol = "h2" | "http1" | "tcp";

/** The protocol, or undefined when more bytes are needed to tell. */
export function classify(buf: Buffer): Protocol | undefined {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (n > 0 && buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) return n === H2_PREFACE.length ? "h2" : undefined;
  for (let i = 0; i < buf.length && i <= MAX_METHOD; i++) {
    const c = buf[i]!;
    if (c === 0x20) return i > 0 ? "http1" : "tcp";
    const token = (c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f; // A-Z - _
    if (!token) return "tcp";
  }
  return buf.length > MAX_METHOD ? "tcp" : undefined;
}

/**
 * Read until the protocol is known (or the timeout / end of input), then hand the socket over
 * paused, with the bytes read so far returned (not yet unshifted).
 */
export function sniff(socket: net.Socket, timeoutMs: number, done: (p: Protocol, firstBytes: Buffer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  let decided = false;
  const finish = (p: Protocol) => {
    if (decided) return;
    decided = true;
    clearTimeout(timer);
    socket.removeListener("data", onData);
    socket.removeListener("end", onEnd);
    socket.pause();
    done(p, buf);
  };
  const onData = (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const p = classify(buf);
    if (p) finish(p);
  };
  const onEnd = () => finish(classify(buf) ?? "tcp");
  const timer = setTimeout(() => finish(classify(buf) ?? "tcp"), timeoutMs);
  socket.on("data", onData);
  socket.on("end", onEnd);
}

/**
 * node:http2 reads a net.Socket's handle directly (bytes already read and unshifted would be
 * skipped, and the preface is lost), so h2c connections reach the HTTP/2 server through this
 * Duplex: it replays the sniffed bytes, then relays the socket with backpressure.
 */
export class ReplaySocket extends Duplex {
  constructor(
    private readonly socket: net.Socket,
    first: Buffer,
  ) {
    super({ allowHalfOpen: true });
    if (first.length) this.push(first);
    socket.on("data", (d: Buffer) => {
      if (!this.push(d)) socket.pause();
    });
    socket.on("end", () => this.push(null));
    socket.on("error", (e) => this.destroy(e));
    socket.on("close", () => this.destroy());
  }
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.socket.remoteFamily;
  }
  override _read(): void {
    this.socket.resume();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }
  override _final(cb: (e?: Error | null) => void): void {
    this.socket.end(cb);
  }
  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }
  setNoDelay(v?: boolean): this {
    this.socket.setNoDelay(v);
    return this;
  }
  setKeepAlive(enable?: boolean, delay?: number): this {
    this.socket.setKeepAlive(enable, delay);
    return this;
  }
  setTimeout(ms: number, cb?: () => void): this {
    this.socket.setTimeout(ms, cb);
    return this;
  }
}
