import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { podRecords, type PodStreamEvent } from "./carrier-stream";
import { forwardPodPort, type PodDialer } from "./port-forward";

/**
 * A stand-in for Carrier's control port: `/records?since=N` with a bearer token, a ring of
 * records, hello first. `restart()` starts a new instance (seqs from 1 again); `cut()` drops
 * every connection.
 */
class FakeCarrierControl {
  instance = "inst-1";
  token = "first-token-0123456789";
  records: Array<{ seq: number; path: string }> = [];
  readonly connections: Array<{ since: number; auth: string | undefined }> = [];
  private readonly sockets = new Set<WebSocket>();
  private readonly wss = new WebSocketServer({ noServer: true });
  readonly server = http.createServer((_req, res) => res.writeHead(404).end());
  constructor() {
    this.server.on("upgrade", (req, socket, head) => {
      const url = new URL(req.url ?? "/", "http://x");
      const auth = req.headers.authorization;
      if (auth !== `Bearer ${this.token}`) {
        socket.end("HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n");
        this.connections.push({ since: Number(url.searchParams.get("since")), auth });
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const since = Number(url.searchParams.get("since") ?? "0");
        this.connections.push({ since, auth });
        this.sockets.add(ws);
        ws.on("close", () => this.sockets.delete(ws));
        ws.send(JSON.stringify({ type: "hello", instance: this.instance, oldestSeq: 1, nextSeq: this.records.length + 1, bufferSize: 1000, maxRatePerSecond: 200 }));
        for (const r of this.records.filter((x) => x.seq > since)) ws.send(JSON.stringify(this.entry(r)));
      });
    });
  }
  entry(r: { seq: number; path: string }) {
    return { type: "record", seq: r.seq, kind: "http", port: 8080, time: new Date().toISOString(), client: "c", method: "GET", path: r.path, status: 200, ttfbMs: 1, durationMs: 1, bytesIn: 0, bytesOut: 0, route: null };
  }
  add(path: string): void {
    const r = { seq: this.records.length + 1, path };
    this.records.push(r);
    for (const ws of this.sockets) ws.send(JSON.stringify(this.entry(r)));
  }
  cut(): void {
    for (const ws of this.sockets) ws.terminate();
  }
  restart(): void {
    this.cut();
    this.instance = `inst-${Number(this.instance.slice(5)) + 1}`;
    this.records = [];
  }
  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    return (this.server.address() as AddressInfo).port;
  }
  close(): Promise<void> {
    this.cut();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const until = async (what: string, probe: () => boolean, ms = 5000) => {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("podRecords", () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  async function start(carrier: FakeCarrierControl, cursor?: { instance: string; seq: number }) {
    const port = await carrier.listen();
    cleanup.push(() => carrier.close());
    const controller = new AbortController();
    cleanup.push(() => controller.abort());
    const events: PodStreamEvent[] = [];
    let tokenReads = 0;
    void (async () => {
      for await (const e of podRecords({
        url: `http://127.0.0.1:${port}`,
        token: () => {
          tokenReads++;
          return Promise.resolve(carrier.token);
        },
        cursor,
        signal: controller.signal,
        backoffMs: 20,
        maxBackoffMs: 100,
      })) events.push(e);
    })();
    return { events, tokenReads: () => tokenReads, paths: () => events.flatMap((e) => (e.type === "record" ? [e.path!] : [])) };
  }

  it("resumes after a lost connection from the last seq, without gaps or repeats", async () => {
    const carrier = new FakeCarrierControl();
    carrier.add("/1");
    const s = await start(carrier);
    await until("caught up", () => s.events.some((e) => e.type === "caught-up"));
    carrier.add("/2");
    await until("/2", () => s.paths().includes("/2"));
    carrier.cut();
    carrier.add("/3"); // while disconnected
    carrier.add("/4");
    await until("/4", () => s.paths().includes("/4"));
    expect(s.paths()).toEqual(["/1", "/2", "/3", "/4"]);
    expect(carrier.connections.map((c) => c.since)).toEqual([0, 2]);
    expect(s.events.some((e) => e.type === "disconnected")).toBe(true);
  });

  it("starts from a saved cursor, and from 1 again when another Carrier process answers", async () => {
    const carrier = new FakeCarrierControl();
    for (const p of ["/1", "/2", "/3"]) carrier.add(p);
    const s = await start(carrier, { instance: "inst-1", seq: 2 });
    await until("/3", () => s.paths().includes("/3"));
    expect(s.paths()).toEqual(["/3"]);
    carrier.restart();
    carrier.add("/new-1");
    await until("/new-1", () => s.paths().includes("/new-1"));
    expect(s.paths()).toEqual(["/3", "/new-1"]);
    expect(carrier.connections.map((c) => c.since)).toEqual([2, 3, 0]);
    expect(s.events.find((e) => e.type === "connected" && e.restarted)).toBeTruthy();
  });

  it("reads the token again after a 401 (the token was replaced)", async () => {
    const carrier = new FakeCarrierControl();
    const s = await start(carrier);
    await until("connected", () => s.events.some((e) => e.type === "connected"));
    carrier.token = "second-token-0123456789";
    carrier.cut();
    carrier.add("/after");
    await until("/after", () => s.paths().includes("/after"));
    expect(s.tokenReads()).toBeGreaterThanOrEqual(2);
    expect(s.events.some((e) => e.type === "disconnected" && /401/.test(e.reason))).toBe(true);
  });
});

describe("forwardPodPort", () => {
  it("makes a local port that leads wherever the dialer goes, and can cut its connections", async () => {
    const upstream = net.createServer((s) => s.pipe(s)); // echo
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    const upPort = (upstream.address() as AddressInfo).port;
    const dialed: string[] = [];
    const fakeDialer: PodDialer = (target) => {
      dialed.push(`${target.namespace}/${target.pod}:${target.port}`);
      return Promise.resolve(net.connect(upPort, "127.0.0.1"));
    };
    const fw = await forwardPodPort(fakeDialer, { namespace: "shop", pod: "api-1", port: 8999 });
    const client = net.connect(fw.port, "127.0.0.1");
    const echoed = await new Promise<string>((resolve) => {
      client.once("data", (d) => resolve(d.toString()));
      client.write("ping");
    });
    expect(echoed).toBe("ping");
    expect(dialed).toEqual(["shop/api-1:8999"]);
    const closed = new Promise<void>((r) => client.once("close", () => r()));
    fw.dropConnections();
    await closed;
    await fw.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  });
});
