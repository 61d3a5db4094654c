/**
 * Route tables: which bridge (developer) gets which request on a bridged container port.
 *
 * Shared by Carrier (matching), the operator (builds tables and PUTs them to Carrier) and the
 * server/CLI (validates `--match-header` / `--match-path-*` before anything touches the cluster).
 * Decision 0010 describes the model; decision 0011 the regex engine.
 */
import { z } from "zod";
import { compileSafeRegex, RegexSyntaxError, type SafeRegex } from "./regex";

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export const DestinationSchema = z.object({
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535),
});
export type Destination = z.infer<typeof DestinationSchema>;

export const MatchOpSchema = z.enum(["exact", "prefix", "regex"]);
export type MatchOp = z.infer<typeof MatchOpSchema>;

export const HeaderMatchSchema = z.object({
  kind: z.literal("header"),
  /** Header name, case-insensitive (compared lowercased). */
  name: z.string().regex(HEADER_NAME, "must be an HTTP header name"),
  op: MatchOpSchema,
  value: z.string().max(1024),
});
export const PathMatchSchema = z.object({
  kind: z.literal("path"),
  op: MatchOpSchema,
  /** Compared with the request path without its query string, as sent (no decoding or normalising). */
  value: z.string().max(1024),
});
export const MatchSchema = z.discriminatedUnion("kind", [HeaderMatchSchema, PathMatchSchema]);
export type Match = z.infer<typeof MatchSchema>;

export const BridgeRouteSchema = z.object({
  /** The bridge's name (unique per port); shown in records and errors. */
  name: z.string().min(1).max(253),
  /** Where matching traffic goes: the developer's container through the tunnel. */
  local: DestinationSchema,
  /** ANDed. Empty = global bridge: the whole port (HTTP and raw TCP) goes to `local`. */
  match: z.array(MatchSchema).max(16).default([]),
});
export type BridgeRoute = z.infer<typeof BridgeRouteSchema>;

export const PortModeSchema = z.enum(["auto", "http", "tcp"]);
export type PortMode = z.infer<typeof PortModeSchema>;

export const PortRoutesSchema = z.object({
  port: z.number().int().min(1).max(65535),
  /** auto: sniff HTTP/1, h2c or raw TCP per connection; http: HTTP only; tcp: pipe bytes, no sniffing. */
  mode: PortModeSchema.default("auto"),
  /** The original application (e.g. the shadow workload); null when there is none. */
  original: DestinationSchema.nullable().default(null),
  /** Checked in order; the first bridge whose matches all hold wins. */
  bridges: z.array(BridgeRouteSchema).max(64).default([]),
  /** GET/HEAD on these exact paths is answered 200 by Carrier itself (kubelet httpGet probes). */
  probePaths: z.array(z.string().startsWith("/").max(1024)).max(16).default([]),
});
export type PortRoutes = z.infer<typeof PortRoutesSchema>;

export const RouteTableSchema = z.object({
  ports: z.array(PortRoutesSchema).max(64),
});
export type RouteTable = z.infer<typeof RouteTableSchema>;
/** What callers write (defaults optional). */
export type RouteTableInput = z.input<typeof RouteTableSchema>;

// ---------------------------------------------------------------- validation

export type RouteErrorCode = "ROUTES_INVALID" | "ROUTES_OVERLAP" | "ROUTES_UNSAFE_REGEX";

export interface RouteError {
  code: RouteErrorCode;
  /** One line: what is wrong, where, what to do. */
  message: string;
  /** For overlaps: the two bridges. */
  bridges?: [string, string];
  port?: number;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: RouteError };

export interface CompiledMatch {
  readonly match: Match;
  /** Lowercased header name for header matches. */
  readonly header?: string;
  readonly regex?: SafeRegex;
  /** Human-readable, e.g. `header x-user exact "alice"`. */
  readonly label: string;
}

export interface CompiledBridge {
  readonly name: string;
  readonly local: Destination;
  readonly matches: readonly CompiledMatch[];
  /** Label of the whole rule (matches joined with " and "), or "global" for a global bridge. */
  readonly label: string;
}

export interface CompiledPort {
  readonly port: number;
  readonly mode: PortMode;
  readonly original: Destination | null;
  readonly bridges: readonly CompiledBridge[];
  /** The bridge with no matches, if this port is bridged whole. */
  readonly global: CompiledBridge | null;
  readonly probePaths: ReadonlySet<string>;
}

export interface CompiledRouteTable {
  readonly table: RouteTable;
  readonly ports: ReadonlyMap<number, CompiledPort>;
}

export function describeMatch(m: Match): string {
  return m.kind === "header"
    ? `header ${m.name.toLowerCase()} ${m.op} ${JSON.stringify(m.value)}`
    : `path ${m.op} ${JSON.stringify(m.value)}`;
}

function describeRule(matches: readonly Match[]): string {
  return matches.length === 0 ? "global (no matches)" : matches.map(describeMatch).join(" and ");
}

/** Parse, compile and check a route table: schema, safe regexes, unique names, no overlaps. */
export function compileRouteTable(input: unknown): Result<CompiledRouteTable> {
  const parsed = RouteTableSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length ? ` at ${issue.path.join(".")}` : "";
    return fail("ROUTES_INVALID", `the route table is invalid${where}: ${issue?.message ?? "unknown problem"}`);
  }
  const table = parsed.data;
  const ports = new Map<number, CompiledPort>();
  for (const p of table.ports) {
    if (ports.has(p.port)) return fail("ROUTES_INVALID", `port ${p.port} appears twice in the route table; merge its bridges into one entry`, { port: p.port });
    const bridges: CompiledBridge[] = [];
    const names = new Set<string>();
    for (const b of p.bridges) {
      if (names.has(b.name)) return fail("ROUTES_INVALID", `bridge "${b.name}" appears twice on port ${p.port}; bridge names must be unique per port`, { port: p.port });
      names.add(b.name);
      const matches: CompiledMatch[] = [];
      for (const m of b.match) {
        let regex: SafeRegex | undefined;
        if (m.op === "regex") {
          try {
            regex = compileSafeRegex(m.value);
          } catch (e) {
            if (!(e instanceof RegexSyntaxError)) throw e;
            return fail(
              "ROUTES_UNSAFE_REGEX",
              `bridge "${b.name}" on port ${p.port}: regex ${JSON.stringify(m.value)} is refused: ${e.message}; use exact or prefix matches, or a simpler pattern`,
              { port: p.port },
            );
          }
        }
        matches.push({
          match: m,
          ...(m.kind === "header" ? { header: m.name.toLowerCase() } : {}),
          ...(regex ? { regex } : {}),
          label: describeMatch(m),
        });
      }
      if (p.mode === "tcp" && matches.length > 0) {
        return fail(
          "ROUTES_INVALID",
          `bridge "${b.name}" on port ${p.port} has header/path matches, but the port is in tcp mode where no request is seen; bridge the port whole (no matches) or use mode auto/http`,
          { port: p.port },
        );
      }
      bridges.push({ name: b.name, local: b.local, matches, label: describeRule(b.match) });
    }
    for (let i = 0; i < bridges.length; i++) {
      for (let j = i + 1; j < bridges.length; j++) {
        const overlap = overlapBetween(bridges[i]!, bridges[j]!);
        if (overlap) {
          return {
            ok: false,
            error: {
              code: "ROUTES_OVERLAP",
              message: `bridge "${overlap.general.name}" on port ${p.port} overlaps bridge "${overlap.specific.name}": every request matching ${overlap.specific.name} (${overlap.specific.label}) also matches ${overlap.general.name} (${overlap.general.label}); give each bridge rules that tell them apart`,
              bridges: [bridges[j]!.name, bridges[i]!.name],
              port: p.port,
            },
          };
        }
      }
    }
    ports.set(p.port, {
      port: p.port,
      mode: p.mode,
      original: p.original,
      bridges,
      global: bridges.find((b) => b.matches.length === 0) ?? null,
      probePaths: new Set(p.probePaths),
    });
  }
  return { ok: true, value: { table, ports } };
}

function fail(code: RouteErrorCode, message: string, extra: Partial<RouteError> = {}): { ok: false; error: RouteError } {
  return { ok: false, error: { code, message, ...extra } };
}

/**
 * Overlap, defined conservatively (decision 0010): two bridges on one port overlap when every
 * request matching one of them provably matches the other — identical match sets, or one set is
 * implied by the other (its matches are a subset, or each of its matches is implied by a match of
 * the other: exact "alice" implies prefix "al", prefix "/v2/x" implies prefix "/v2", an exact value
 * that the other's regex accepts). A global bridge (no matches) therefore overlaps every other
 * bridge. Bridges that can both match one request but neither contains the other (header x-user vs
 * path /v2) are allowed; the first in the table wins.
 */
export function overlapBetween(a: CompiledBridge, b: CompiledBridge): { general: CompiledBridge; specific: CompiledBridge } | undefined {
  if (implies(a, b)) return { general: b, specific: a };
  if (implies(b, a)) return { general: a, specific: b };
  return undefined;
}

/** Every request matching `specific` also matches `general`. */
function implies(specific: CompiledBridge, general: CompiledBridge): boolean {
  return general.matches.every((g) => specific.matches.some((s) => matchImplies(s, g)));
}

function matchImplies(s: CompiledMatch, g: CompiledMatch): boolean {
  if (s.match.kind !== g.match.kind || s.header !== g.header) return false;
  const sv = s.match.value;
  const gv = g.match.value;
  switch (g.match.op) {
    case "exact":
      return s.match.op === "exact" && sv === gv;
    case "prefix":
      return (s.match.op === "exact" || s.match.op === "prefix") && sv.startsWith(gv);
    case "regex":
      return (s.match.op === "regex" && sv === gv) || (s.match.op === "exact" && g.regex!.test(sv));
  }
}

// ---------------------------------------------------------------- matching

/** What routing needs from a request (HTTP/1 or HTTP/2). */
export interface RoutableRequest {
  /** Request target path without the query string. */
  path: string;
  /** Header value by lowercased name; repeated headers joined with ", " (Node's convention). */
  header(name: string): string | undefined;
}

export type RouteDecision =
  | { to: "local"; bridge: CompiledBridge; destination: Destination }
  | { to: "original"; destination: Destination }
  | { to: "none" };

function holds(m: CompiledMatch, req: RoutableRequest): boolean {
  const v = m.match.kind === "path" ? req.path : req.header(m.header!);
  if (v === undefined) return false;
  switch (m.match.op) {
    case "exact":
      return v === m.match.value;
    case "prefix":
      return v.startsWith(m.match.value);
    case "regex":
      return m.regex!.test(v);
  }
}

/** First bridge whose matches all hold, else the original, else nothing. */
export function routeRequest(port: CompiledPort, req: RoutableRequest): RouteDecision {
  for (const b of port.bridges) {
    if (b.matches.every((m) => holds(m, req))) return { to: "local", bridge: b, destination: b.local };
  }
  return port.original ? { to: "original", destination: port.original } : { to: "none" };
}

/** Raw TCP connections (and non-HTTP bytes on auto ports) see no request: global bridge, else original. */
export function routeConnection(port: CompiledPort): RouteDecision {
  if (port.global) return { to: "local", bridge: port.global, destination: port.global.local };
  return port.original ? { to: "original", destination: port.original } : { to: "none" };
}

/** Split "/a/b?x=1" into its path. */
export function pathOf(target: string): string {
  const q = target.indexOf("?");
  return q < 0 ? target : target.slice(0, q);
}
