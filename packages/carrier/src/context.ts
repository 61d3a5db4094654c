import { type CompiledPort, type Destination, type RouteDecision } from "../../shared/src/rules/index";
import type { Logger } from "./log";
import type { Recorder, RouteTaken } from "./records";
import { Pool } from "undici";

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

/** One undici connection pool (keep-alive) per destination; pools of destinations no longer routed to are closed. */
export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();
  constructor(private readonly connectTimeoutMs: number) {}

  get(d: Destination): Pool {
    const key = hostPort(d);
    let p = this.pools.get(key);
    if (!p || p.closed || p.destroyed) {
      p = new Pool(`http://${key}`, { connect: { timeout: this.connectTimeoutMs }, keepAliveTimeout: 4000, pipelining: 1 });
      this.pools.set(key, p);
    }
    return p;
  }

  /** Close (gracefully: in-flight requests finish) the pools of destinations not in `keep`. */
  retain(keep: Iterable<Destination>): void {
    const wanted = new Set(Array.from(keep, hostPort));
    for (const [key, p] of this.pools) {
      if (wanted.has(key)) continue;
      this.pools.delete(key);
      p.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.destroy().catch(() => {})));
  }
}
