/**
 * Carrier: listens on the bridged container's ports and routes each connection / request / stream
 * to a bridge's local destination or to the original application, recording what it saw.
 *
 * Route changes swap one compiled table; every new request, stream and connection reads the table
 * at that moment, so changes apply at once without dropping keep-alive connections (already
 * established raw TCP and WebSocket connections keep their destination). Decision 0010.
 *
 * `reconfigure` (what `carrier apply` does to a running Carrier, decision 0018) changes the listen
 * ports, the routes and the control token live; the rest of the configuration is fixed at start.
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
export type ReconfigureError = RouteError | { code: "CONFIG_FIXED" | "LISTEN_FAILED"; message: string };
export type ReconfigureResult = { ok: true; revision: number; ports: number[] } | { ok: false; error: ReconfigureError };

/** One listening workload port and the connections it accepted. */
interface PortListener {
  server: net.Server;
  sockets: Set<net.Socket>;
  /** closing: removed by a reconfigure, so no new requests on its keep-alive connections. */
  flags: { closing: boolean };
}

export class Carrier {
  readonly recorder: Recorder;
  readonly log: Logger;
  private table!: CompiledRouteTable;
  private revisionNo = 0;
  private cfg: CarrierConfig;
  private token: string;
  private readonly listeners = new Map<number, PortListener>();
  /** HTTP/1 connections and their requests in flight (-1: upgraded, never idle). */
  private readonly http1Active = new Map<net.Socket, number>();
  private readonly h2Sessions = new Set<Http2Session>();
  private readonly sockets = new Set<net.Socket>();
  private readonly h2 = new H2Pool();
  private control: http.Server | undefined;
  private closeControl: (() => void) | undefined;
  private dropConsumers: (() => void) | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private lastRoutesStat: string | undefined;
  private closed = false;
  private readonly empty = new Map<number, CompiledPort>();
  private readonly pools: UpstreamPools;
  /** Set by drain(): from then on the readiness probe fails (decision 0027). */
  private draining: Drain | undefined;

  private constructor(config: CarrierConfig, token: string, log: Logger) {
    this.cfg = config;
    this.token = token;
    this.log = log;
    this.recorder = new Recorder(config.records);
    this.pools = new UpstreamPools(config.connectTimeoutMs);
  }

  /** Validate the initial routes, listen on every port and the control port. */
  static async start(opts: CarrierOptions): Promise<Carrier> {
    const c = new Carrier(opts.config, opts.token, opts.log ?? silentLogger);
    let initial: unknown = c.cfg.routes;
    if (c.cfg.routesFile) {
      try {
        c.lastRoutesStat = statKey(statSync(c.cfg.routesFile));
        initial = c.readRoutesFile(c.cfg.routesFile);
      } catch (e) {
        throw new Error(`Carrier cannot start: cannot read the routes file ${c.cfg.routesFile}: ${errorText(e)}`);
      }
    }
    const r = c.setRoutes(initial ?? { ports: [] }, { source: c.cfg.routesFile ? `file ${c.cfg.routesFile}` : "config" });
    if (!r.ok) throw new Error(`Carrier cannot start: ${r.error.message}`);
    try {
      for (const port of c.cfg.listen.ports) await c.listen(port);
      const control = createControlServer(c, () => c.token);
      c.control = control.server;
      c.closeControl = control.close;
      c.dropConsumers = control.dropConsumers;
      await listenOn(control.server, c.cfg.control.port, c.cfg.control.host);
    } catch (e) {
      await c.close();
      throw e;
    }
    if (c.cfg.routesFile) c.watch(c.cfg.routesFile);
    c.log("info", "carrier started", {
      ports: c.cfg.listen.ports,
      controlPort: c.controlPort,
      revision: c.revisionNo,
      recording: c.cfg.records.enabled,
    });
    return c;
  }

  /** The configuration in force (listen.ports and routes change with reconfigure; routes also with setRoutes). */
  get config(): CarrierConfig {
    return this.cfg;
  }

  /** The workload ports Carrier listens on now. */
  get ports(): number[] {
    return this.cfg.listen.ports.filter((p) => this.listeners.has(p));
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
    const r = compileFor(input, this.cfg.listen.ports);
    if (!r.ok) return r;
    this.install(r.value, opts.source ?? "api");
    return { ok: true, revision: this.revisionNo, routes: r.value.table };
  }

  private install(table: CompiledRouteTable, source: string): void {
    this.table = table;
    this.revisionNo++;
    const destinations = table.table.ports.flatMap((p) => [...(p.original ? [p.original] : []), ...p.bridges.map((b) => b.local)]);
    this.pools.retain(destinations);
    this.h2.retain(destinations);
    this.log("info", "routes applied", {
      revision: this.revisionNo,
      source,
      ports: table.table.ports.map((p) => ({ port: p.port, mode: p.mode, bridges: p.bridges.map((b) => b.name), original: Boolean(p.original) })),
    });
  }

  /**
   * Start draining: the readiness probe fails from now on (every other probe path still answers
   * 200, and every request is still routed), so that kubelet's own prober reports the container
   * not ready. Until kubelet does, it writes Ready=True back whenever it reconciles the pod's status
   * (at any moment, about every 10 s), and kube-proxy then sends new connections here for about a
   * second: Carrier must still be listening then. Idempotent.
   */
  drain(): DrainState {
    if (!this.draining) {
      let out!: () => void;
      const done = new Promise<void>((resolve) => (out = resolve));
      this.draining = { since: Date.now(), failed: 0, firstFailAt: 0, outAt: 0, out, done };
      this.log("info", "carrier draining: the readiness probe fails from now on", { readiness: this.cfg.readiness ?? null });
    }
    return this.drainState();
  }

  drainState(): DrainState {
    const d = this.draining;
    return { draining: d !== undefined, since: d ? new Date(d.since).toISOString() : null, failedProbes: d?.failed ?? 0, outOfRotation: Boolean(d?.outAt), readiness: this.cfg.readiness ?? null };
  }

  /**
   * How long to keep listening after SIGTERM. With an httpGet readiness probe: until kubelet has
   * seen enough failures to take the pod out by itself, then `settleMs` for the endpoints and
   * kube-proxy to follow; when that cannot happen within `maxMs` (a long probe period), or without
   * such a probe: `fixedMs`.
   */
  async drainAfterSigterm(opts: { fixedMs: number; maxMs: number; settleMs: number }): Promise<void> {
    const r = this.cfg.readiness;
    const d = this.draining ?? (this.drain(), this.draining!);
    const now = Date.now();
    // kubelet gives up after failureThreshold failures one period apart; the first may be a period away
    const latest = r ? d.since + r.failureThreshold * r.periodSeconds * 1000 : 0;
    if (!r || latest + opts.settleMs - now > opts.maxMs) return sleep(opts.fixedMs);
    const timeout = Math.max(0, latest + 1000 - now);
    await Promise.race([d.done, sleep(timeout)]);
    const from = d.outAt || Date.now();
    await sleep(Math.max(0, from + opts.settleMs - Date.now()));
  }

  /** The status a probe path gets: 503 for the readiness probe while draining, else 200. */
  private probeStatus(port: number, path: string): number {
    const d = this.draining;
    const r = this.cfg.readiness;
    if (!d || !r || r.port !== port || r.path !== path) return 200;
    const now = Date.now();
    d.failed++;
    if (!d.firstFailAt) d.firstFailAt = now;
    // a liveness probe on the same path counts here too: also ask that the periods have passed
    if (!d.outAt && d.failed >= r.failureThreshold && now - d.firstFailAt >= (r.failureThreshold - 1) * r.periodSeconds * 900) {
      d.outAt = now;
      this.log("info", "carrier out of rotation: kubelet has seen the readiness probe fail", { failures: d.failed });
      d.out();
    }
    return 503;
  }

  /**
   * Move to a new configuration while running: validate its routes against its listen ports, listen
   * on the ports it adds, swap the route table (the next request on every connection uses it), stop
   * listening on the ports it drops (their idle connections close at once, the rest within
   * shutdownGraceMs) and take the new token. All or nothing: on any error nothing changed.
   * Everything else in the configuration (control, records, timeouts, routesFile…) is fixed at start.
   */
  async reconfigure(next: CarrierConfig, token: string, opts: { source?: string } = {}): Promise<ReconfigureResult> {
    const fixed = firstDifference(withoutLive(this.cfg), withoutLive(next));
    if (fixed !== undefined) {
      return {
        ok: false,
        error: {
          code: "CONFIG_FIXED",
          message: `${fixed} cannot change while Carrier runs (only listen.ports, routes, readiness and the token do); apply the running value, or restart the container to start over`,
        },
      };
    }
    const r = compileFor(next.routes, next.listen.ports);
    if (!r.ok) return r;
    const added = next.listen.ports.filter((p) => !this.listeners.has(p));
    const removed = [...this.listeners.keys()].filter((p) => !next.listen.ports.includes(p));
    for (const [i, port] of added.entries()) {
      try {
        await this.listen(port);
      } catch (e) {
        for (const p of added.slice(0, i)) void this.closePort(p, 0);
        return { ok: false, error: { code: "LISTEN_FAILED", message: errorText(e) } };
      }
    }
    this.cfg = next;
    this.install(r.value, opts.source ?? "apply");
    for (const p of removed) void this.closePort(p, next.shutdownGraceMs);
    if (token !== this.token) {
      this.token = token;
      this.dropConsumers?.();
      this.log("info", "control token replaced; records streams must reconnect with the new one");
    }
    if (added.length || removed.length) this.log("info", "listen ports changed", { ports: this.ports, added, removed });
    return { ok: true, revision: this.revisionNo, ports: this.ports };
  }

  private portRoutes(port: number): CompiledPort {
    const p = this.table.ports.get(port);
    if (p) return p;
    let e = this.empty.get(port);
    if (!e) this.empty.set(port, (e = emptyPort(port)));
    return e;
  }

  private async listen(port: number): Promise<void> {
    const sockets = new Set<net.Socket>();
    const flags = { closing: false };
    const ctx: PortContext = {
      listenPort: port,
      routes: () => this.portRoutes(port),
      recorder: this.recorder,
      recording: this.cfg.records.enabled,
      redact: redactionSet(this.cfg.records.redactHeaders),
      bodyCap: this.cfg.records.bodyCapBytes,
      routeHeader: this.cfg.routeHeader,
      connectTimeoutMs: this.cfg.connectTimeoutMs,
      pools: this.pools,
      log: this.log,
      probeStatus: (path) => this.probeStatus(port, path),
      http1: {
        begin: (req, res) => {
          if (this.closed || flags.closing) res.setHeader("connection", "close");
          const n = this.http1Active.get(req.socket);
          if (n !== undefined && n >= 0) this.http1Active.set(req.socket, n + 1);
        },
        end: (socket) => {
          const n = this.http1Active.get(socket);
          if (n !== undefined && n > 0) this.http1Active.set(socket, n - 1);
        },
      },
    };
    const http1 = createHttp1Server(ctx);
    http1.on("upgrade", (req: http.IncomingMessage) => this.http1Active.set(req.socket, -1));
    const h2 = createH2Server(ctx, this.h2);
    h2.on("session", (session: Http2Session) => {
      this.h2Sessions.add(session);
      session.once("close", () => this.h2Sessions.delete(session));
    });
    // noDelay as node:http's own servers do: responses must not wait for Nagle + delayed ACKs
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      this.sockets.add(socket);
      sockets.add(socket);
      socket.once("close", () => {
        this.sockets.delete(socket);
        sockets.delete(socket);
      });
      socket.on("error", () => {});
      const routes = ctx.routes();
      if (routes.mode === "tcp") return pipeTcp(ctx, socket, routeConnection(routes), null);
      sniff(socket, this.cfg.sniffTimeoutMs, (protocol, first) => {
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
    await listenOn(server, port, this.cfg.listen.host);
    if (this.closed) {
      server.close();
      throw new Error("Carrier is stopping");
    }
    this.listeners.set(port, { server, sockets, flags });
  }

  /** Stop listening on one port; its idle HTTP/1 connections close at once, the rest after graceMs. */
  private async closePort(port: number, graceMs: number): Promise<void> {
    const l = this.listeners.get(port);
    if (!l) return;
    this.listeners.delete(port);
    l.flags.closing = true;
    const closed = new Promise<void>((resolve) => l.server.close(() => resolve()));
    const deadline = Date.now() + graceMs;
    for (;;) {
      for (const s of l.sockets) if (this.http1Active.get(s) === 0) s.destroy();
      if (l.sockets.size === 0 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const s of l.sockets) s.destroy();
    await closed;
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
    const closing = [...this.listeners.values()].map((l) => new Promise<void>((resolve) => l.server.close(() => resolve())));
    this.listeners.clear();
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

interface Drain {
  since: number;
  failed: number;
  firstFailAt: number;
  /** When kubelet had seen failureThreshold failures (0: not yet). */
  outAt: number;
  out: () => void;
  done: Promise<void>;
}

/** What `carrier drain` prints (one JSON line). */
export interface DrainState {
  draining: boolean;
  since: string | null;
  failedProbes: number;
  outOfRotation: boolean;
  readiness: CarrierConfig["readiness"] | null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Compile a route table and check that it names only ports in `listening`. */
export function compileFor(input: unknown, listening: readonly number[]): { ok: true; value: CompiledRouteTable } | { ok: false; error: RouteError } {
  const r = compileRouteTable(input);
  if (!r.ok) return r;
  const stray = r.value.table.ports.find((p) => !listening.includes(p.port));
  if (stray) {
    return {
      ok: false,
      error: {
        code: "ROUTES_INVALID",
        message: `the route table names port ${stray.port}, which Carrier does not listen on (it listens on ${listening.join(", ")}); routes can only be set for those ports (add it to listen.ports)`,
        port: stray.port,
      },
    };
  }
  return r;
}

/** The configuration minus what reconfigure may change (and control.tokenFile, unused once running). */
function withoutLive(c: CarrierConfig): unknown {
  const { routes: _routes, readiness: _readiness, listen, control, ...rest } = c;
  const { tokenFile: _tokenFile, ...controlRest } = control;
  return { ...rest, listen: { host: listen.host }, control: controlRest };
}

/** The dotted path of the first place where two JSON-like values differ, or undefined. */
export function firstDifference(a: unknown, b: unknown, path = ""): string | undefined {
  if (Object.is(a, b)) return undefined;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return path || "the configuration";
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return path || "the configuration";
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  for (const k of new Set([...Object.keys(ao), ...Object.keys(bo)])) {
    const d = firstDifference(ao[k], bo[k], path ? `${path}.${k}` : k);
    if (d !== undefined) return d;
  }
  return undefined;
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
