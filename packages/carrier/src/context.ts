import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { type CompiledPort, type Destination, type RouteDecision } from "../../shared/src/rules/index";
import type { Logger } from "./log";
import type { Recorder, RouteTaken } from "./records";
import { UpstreamPool } from "./upstream";

/** What each protocol handler of one listening port needs; built by carrier.ts. */
export interface PortContext {
  readonly listenPort: number;
  /** The port's routes as of now (a snapshot; a route change swaps it for the next request). */
  routes(): CompiledPort;
  readonly recorder: Recorder;
  readonly recording: boolean;
  readonly redact: ReadonlySet<string>;
  readonly bodyCap: number;
  readonly routeHeader: boolean;
  readonly connectTimeoutMs: number;
  readonly pools: UpstreamPools;
  readonly log: Logger;
  /** The status to answer a probe path with (200; 503 for the readiness probe while draining). */
  probeStatus(path: string): number;
  /** The listener's bookkeeping of HTTP/1 requests in flight per connection (idle ones are closed at shutdown). */
  readonly http1?: {
    begin(req: IncomingMessage, res: ServerResponse): void;
    end(socket: Socket): void;
  };
}

/** A port with no routes: nothing goes anywhere (requests get 502, connections are closed). */
export function emptyPort(port: number): CompiledPort {
  return { port, mode: "auto", original: null, bridges: [], global: null, probePaths: new Set() };
}

export function hostPort(d: Destination): string {
  return d.host.includes(":") ? `[${d.host}]:${d.port}` : `${d.host}:${d.port}`;
}

export function routeTaken(d: RouteDecision): RouteTaken | null {
  switch (d.to) {
    case "local":
      return { to: "local", bridge: d.bridge.name, rule: d.bridge.label, destination: hostPort(d.destination) };
    case "original":
      return { to: "original", destination: hostPort(d.destination) };
    case "none":
      return null;
  }
}

/** Value of the optional x-gefyra-route response header. */
export function routeHeaderValue(d: RouteDecision): string {
  return d.to === "local" ? `local; bridge=${d.bridge.name}` : d.to;
}

/** One line for 502s and records: which destination could not be reached and why. */
export function unreachable(d: RouteDecision, reason: string): string {
  if (d.to === "local") return `cannot reach the local destination ${hostPort(d.destination)} of bridge "${d.bridge.name}": ${reason}`;
  if (d.to === "original") return `cannot reach the original application at ${hostPort(d.destination)}: ${reason}`;
  return reason;
}

export function noRouteMessage(port: number): string {
  return `no route on port ${port}: no bridge matched and there is no original destination`;
}

export const since = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

/**
 * One keep-alive pool per destination (upstream.ts), kept across route changes that still route to
 * it; pools of destinations no longer routed to are closed once their requests are done.
 */
export class UpstreamPools {
  private readonly pools = new Map<string, UpstreamPool>();
  /** The compiled route table's destination objects live until the next change: look them up without building the key. */
  private byDestination = new WeakMap<Destination, UpstreamPool>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly connectTimeoutMs: number) {
    this.sweeper = setInterval(() => {
      const now = performance.now();
      for (const p of this.pools.values()) p.sweep(now);
    }, 1000);
    this.sweeper.unref();
  }

  get(d: Destination): UpstreamPool {
    let p = this.byDestination.get(d);
    if (p && !p.isClosed) return p;
    const key = hostPort(d);
    p = this.pools.get(key);
    if (!p || p.isClosed) {
      p = new UpstreamPool(d.host, d.port, this.connectTimeoutMs);
      this.pools.set(key, p);
    }
    this.byDestination.set(d, p);
    return p;
  }

  /** Close (gracefully: in-flight requests finish) the pools of destinations not in `keep`. */
  retain(keep: Iterable<Destination>): void {
    const wanted = new Set(Array.from(keep, hostPort));
    for (const [key, p] of this.pools) {
      if (wanted.has(key)) continue;
      this.pools.delete(key);
      p.close();
    }
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const p of this.pools.values()) p.destroy();
    this.pools.clear();
    this.byDestination = new WeakMap();
    return Promise.resolve();
  }
}
