/**
 * An open-loop HTTP/1.1 load generator on raw keep-alive sockets, for benches whose subject is not
 * the client: it writes each GET as one string and reads answers by their content-length, about a
 * fifth of node:http's client CPU per request. On a 2-CPU machine that runs the cluster, the
 * dashboard and the load at once, the load's own CPU is taken from what is measured; in real use
 * the requests come from elsewhere.
 *
 * One request at a time per connection (no pipelining); answers without a content-length (chunked,
 * until close) count as failed, which the echo fixture never sends.
 */
import net from "node:net";

interface Connection {
  socket: net.Socket;
  buf: Buffer;
  /** Body bytes still to come of the answer being read; -1 while its head is being read; -2 once closed on purpose (its close is no failure). */
  bodyLeft: number;
}

const HEAD_END = Buffer.from("\r\n\r\n");

export class RawLoad {
  answered = 0;
  failed = 0;
  inFlight = 0;
  private idle: Connection[] = [];
  private open = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly maxConnections: number,
  ) {}

  /** Starts one GET; false when every connection is busy (the caller counts it as not sent). */
  send(path: string, headers: Readonly<Record<string, string>> = {}): boolean {
    let c = this.idle.pop();
    if (!c) {
      if (this.open >= this.maxConnections) return false;
      c = this.connect();
    }
    let head = `GET ${path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    this.inFlight++;
    c.socket.write(`${head}\r\n`);
    return true;
  }

  /** Closes the idle connections (busy ones finish or fail first). */
  close(): void {
    for (const c of this.idle.splice(0)) {
      c.bodyLeft = -2;
      c.socket.destroy();
    }
  }

  private connect(): Connection {
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    const c: Connection = { socket, buf: Buffer.alloc(0), bodyLeft: -1 };
    this.open++;
    socket.on("data", (d: Buffer) => {
      c.buf = c.buf.length ? Buffer.concat([c.buf, d]) : d;
      this.read(c);
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.open--;
      const i = this.idle.indexOf(c);
      if (i >= 0) this.idle.splice(i, 1);
      // an answer cut off (or a request written to a connection that then closed)
      else if (c.bodyLeft !== -2) {
        this.inFlight--;
        this.failed++;
      }
    });
    return c;
  }

  private read(c: Connection): void {
    if (c.bodyLeft === -1) {
      const end = c.buf.indexOf(HEAD_END);
      if (end < 0) return;
      const head = c.buf.toString("latin1", 0, end);
      const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
      if (!length) return this.fail(c);
      c.bodyLeft = Number(length[1]);
      c.buf = c.buf.subarray(end + HEAD_END.length);
    }
    if (c.buf.length < c.bodyLeft) return;
    c.buf = c.buf.subarray(c.bodyLeft);
    c.bodyLeft = -1;
    this.inFlight--;
    this.answered++;
    this.idle.push(c);
  }

  private fail(c: Connection): void {
    this.inFlight--;
    this.failed++;
    c.bodyLeft = -2; // counted: its close is not a failure again
    c.socket.destroy();
  }
}
