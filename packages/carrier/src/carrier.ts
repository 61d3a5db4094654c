/**
 * Carrier: listens on the bridged container's ports and routes each connection / request / stream
 * to a bridge's local destination or to the original application, recording what it saw.
 *
 * Route changes swap one compiled table; every new request, stream and connection reads the table
 * at that moment, so changes apply at once without dropping keep-alive connections (already
 * established raw TCP and WebSocket connections keep their destination). Decision 0010.
 */
import { readFileSync, stat, statSync, type Stats } from "node:fs";
import type http from "node:http";
import type { Http2Session } from "node:http2";
import net from "node:net";
import { compileRouteTable, routeConnection, type CompiledPort, type CompiledRouteTable, type RouteError, type RouteTable } from "../../shared/src/rules/index";
import type { CarrierConfig } from "./config";
import { createControlServer } from "./control";
import { emptyPort, UpstreamPools, type PortContext } from "./context";
import { createH2Server, H2Pool } from "./h2";
import { createHttp1Server } from "./http1";
import { errorText, silentLogger, type Logger } from "./log";
import { Recorder, redactionSet } from "./records";
import { ReplaySocket, sniff } from "./sniff";
import { pipeTcp } from "./tcp";

export interface CarrierOptions {
  config: CarrierConfig;
  /** Bearer token of the control API. */
  token: string;
  log?: Logger;
}

export type SetRoutesError = RouteError | { code: "ROUTES_REVISION_MISMATCH"; message: string };
export type SetRoutesResult = { ok: true; revision: number; routes: RouteTable } | { ok: false; error: SetRoutesError };

export class Carrier {
  readonly recorder: Recorder;
  readonly log: Logger;
  private table!: CompiledRouteTable;
  private revisionNo = 0;
  private readonly listeners: net.Server[] = [];
  /** HTTP/1 connections and their requests in flight (-1: upgraded, never idle). */
  private readonly http1Active = new Map<net.Socket, number>();
  private readonly h2Sessions = new Set<Http2Session>();
  private readonly sockets = new Set<net.Socket>();
  private readonly h2 = new H2Pool();
  private control: http.Server | undefined;
  private closeControl: (() => void) | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private lastRoutesStat: string | undefined;
  private closed = false;
  private readonly empty = new Map<number, CompiledPort>();
  private readonly pools: UpstreamPools;

  private constructor(
    readonly config: CarrierConfig,
    private readonly token: string,
    log: Logger,
  ) {
    this.log = log;
    this.recorder = new Recorder(config.records);
    this.pools = new UpstreamPools(config.connectTimeoutMs);
  }

  /** Validate the initial routes, listen on every port and the control port. */
  static async start(opts: CarrierOptions): Promise<Carrier> {
    const c = new Carrier(opts.config, opts.token, opts.log ?? silentLogger);
    let initial: unknown = c.config.routes;
    if (c.config.routesFile) {
      try {
        c.lastRoutesStat = statKey(statSync(c.config.routesFile));
        initial = c.readRoutesFile(c.config.routesFile);
      } catch (e) {
        throw new Error(`Carrier cannot start: cannot read the routes file ${c.config.routesFile}: ${errorText(e)}`);
      }
    }
    const r = c.setRoutes(initial ?? { ports: [] }, { source: c.config.routesFile ? `file ${c.config.routesFile}` : "config" });
    if (!r.ok) throw new Error(`Carrier cannot start: ${r.error.message}`);
    try {
      for (const port of c.config.listen.ports) await c.listen(port);
      const control = createControlServer(c, c.token);
      c.control = control.server;
      c.closeControl = control.close;
      await listenOn(control.server, c.config.control.port, c.config.control.host);
    } catch (e) {
      await c.close();
      throw e;
    }
    if (c.config.routesFile) c.watch(c.config.routesFile);
    c.log("info", "carrier started", {
      ports: c.config.listen.ports,
      controlPort: c.controlPort,
      revision: c.revisionNo,
      recording: c.config.records.enabled,
    });
    return c;
  }

  get controlPort(): number {
    const a = this.control?.address();
    return typeof a === "object" && a ? a.port : 0;
  }

  get revision(): number {
    return this.revisionNo;
  }

  routes(): { revision: number; routes: RouteTable } {
    return { revision: this.revisionNo, routes: this.table.table };
  }

  stats(): object {
    return { revision: this.revisionNo, connections: this.sockets.size, records: this.recorder.stats() };
  }

  /** Replace the whole route table (validated first; on error nothing changes). */
  setRoutes(input: unknown, opts: { ifRevision?: number; source?: string } = {}): SetRoutesResult {
    if (opts.ifRevision !== undefined && opts.ifRevision !== this.revisionNo) {
      return {
        ok: false,
        error: { code: "ROUTES_REVISION_MISMATCH", message: `the route table is at revision ${this.revisionNo}, not ${opts.ifRevision}; GET /routes and retry` },
      };
    }
    const r = compileRouteTable(input);
    if (!r.ok) return r;
    const listening = new Set(this.config.listen.ports);
    const stray = r.value.table.ports.find((p) => !listening.has(p.port));
    if (stray) {
      return {
        ok: false,
        error: {
          code: "ROUTES_INVALID",
          message: `the route table names port ${stray.port}, which Carrier does not listen on (it listens on ${this.config.listen.ports.join(", ")}); routes can only be set for those ports`,
          port: stray.port,
        },
      };
    }
    this.table = r.value;
    this.revisionNo++;
    const destinations = r.value.table.ports.flatMap((p) => [...(p.original ? [p.original] : []), ...p.bridges.map((b) => b.local)]);
    this.pools.retain(destinations);
    this.h2.retain(destinations);
    this.log("info", "routes applied", {
      revision: this.revisionNo,
      source: opts.source ?? "api",
      ports: r.value.table.ports.map((p) => ({ port: p.port, mode: p.mode, bridges: p.bridges.map((b) => b.name), original: Boolean(p.original) })),
    });
    return { ok: true, revision: this.revisionNo, routes: r.value.table };
  }

  private portRoutes(port: number): CompiledPort {
    const p = this.table.ports.get(port);
    if (p) return p;
    let e = this.empty.get(port);
    if (!e) this.empty.set(port, (e = emptyPort(port)));
    return e;
  }

  private async listen(port: number): Promise<void> {
    const ctx: PortContext = {
      listenPort: port,
      routes: () => this.portRoutes(port),
      recorder: this.recorder,
      recording: this.config.records.enabled,
      redact: redactionSet(this.config.records.redactHeaders),
      bodyCap: this.config.records.bodyCapBytes,
      routeHeader: this.config.routeHeader,
      connectTimeoutMs: this.config.connectTimeoutMs,
      pools: this.pools,
      log: this.log,
    };
    const http1 = createHttp1Server(ctx);
    http1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      const socket = req.socket;
      if (this.closed) res.setHeader("connection", "close");
      this.http1Active.set(socket, (this.http1Active.get(socket) ?? 0) + 1);
      res.once("close", () => {
        const n = this.http1Active.get(socket);
        if (n !== undefined && n > 0) this.http1Active.set(socket, n - 1);
      });
    });
    http1.on("upgrade", (req: http.IncomingMessage) => this.http1Active.set(req.socket, -1));
    const h2 = createH2Server(ctx, this.h2);
    h2.on("session", (session: Http2Session) => {
      this.h2Sessions.add(session);
      session.once("close", () => this.h2Sessions.delete(session));
    });
    // noDelay as node:http's own servers do: responses must not wait for Nagle + delayed ACKs
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
      socket.on("error", () => {});
      const routes = ctx.routes();
      if (routes.mode === "tcp") return pipeTcp(ctx, socket, routeConnection(routes), null);
      sniff(socket, this.config.sniffTimeoutMs, (protocol, first) => {
        const now = ctx.routes();
        const p = protocol === "tcp" && now.mode === "http" ? "http1" : protocol;
        if (p === "tcp") return pipeTcp(ctx, socket, routeConnection(now), first);
        if (p === "h2") return void h2.emit("connection", new ReplaySocket(socket, first));
        // node:http takes a socket with unshifted bytes (they are parsed before anything read later)
        if (first.length) socket.unshift(first);
        this.http1Active.set(socket, 0);
        socket.once("close", () => this.http1Active.delete(socket));
        http1.emit("connection", socket);
        socket.resume();
      });
    });
    this.listeners.push(server);
    await listenOn(server, port, this.config.listen.host);
  }

  private readRoutesFile(path: string): unknown {
    return JSON.parse(readFileSync(path, "utf8")) as unknown;
  }

  /**
   * Re-read the routes file when it changes: stat polling every 200 ms (follows ConfigMap symlink
   * swaps, unlike inotify on the path). The baseline is the stat taken before the first read, so a
   * change made while starting is not missed.
   */
  private watch(path: string): void {
    this.watchTimer = setInterval(() => {
      stat(path, (err, st) => {
        if (this.closed) return;
        if (err) {
          if (this.lastRoutesStat !== "missing") this.log("warn", "routes file unreadable; keeping the current routes", { file: path, reason: errorText(err) });
          this.lastRoutesStat = "missing";
          return;
        }
        const key = statKey(st);
        if (key === this.lastRoutesStat) return;
        this.lastRoutesStat = key;
        let input: unknown;
        try {
          input = this.readRoutesFile(path);
        } catch (e) {
          return this.log("error", "routes file unreadable; keeping the current routes", { file: path, reason: errorText(e) });
        }
        const r = this.setRoutes(input, { source: `file ${path}` });
        if (!r.ok) this.log("error", "routes file refused; keeping the current routes", { file: path, code: r.error.code, reason: r.error.message });
      });
    }, 200);
    this.watchTimer.unref();
  }

  /**
   * Stop. With `graceMs`, first stop accepting and let requests in flight finish (idle keep-alive
   * connections are closed as they become idle, HTTP/2 sessions get a GOAWAY) for up to that long;
   * whatever is still open then (raw TCP, WebSockets, slow requests) is cut.
   */
  async close(opts: { graceMs?: number } = {}): Promise<void> {
    this.closed = true;
    if (this.watchTimer) clearInterval(this.watchTimer);
    const closing = this.listeners.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    const deadline = Date.now() + (opts.graceMs ?? 0);
    for (const session of this.h2Sessions) session.close();
    while (this.sockets.size > 0 && Date.now() < deadline) {
      // HTTP/1 keep-alive connections between requests hold nothing: close them
      for (const [socket, active] of this.http1Active) if (active === 0) socket.destroy();
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const s of this.sockets) s.destroy();
    this.closeControl?.();
    if (this.control) closing.push(new Promise<void>((resolve) => this.control!.close(() => resolve())));
    this.control?.closeAllConnections();
    this.h2.close();
    closing.push(this.pools.close());
    this.recorder.close();
    await Promise.all(closing);
  }
}

function statKey(st: Stats): string {
  return `${st.ino}:${st.mtimeMs}:${st.size}`;
}

function listenOn(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(new Error(`Carrier cannot listen on ${host}:${port}: ${errorText(e)}`));
    server.once("error", onError);
    server.listen(port, host, () => {
      server.removeListener("error", onError);
      resolve();
    });
  });
}
