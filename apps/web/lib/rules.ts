/**
 * Bridge rules in the wizard: the same compile step the server and the operator use
 * (compileRouteTable: header names, the linear-time regex engine, overlaps with other bridges on
 * the port) and the same decision Carrier makes for a request (routeRequest on the request's path
 * without its query string, headers by lower-cased name), run in the browser on sample requests.
 */
import { compileRouteTable, describeMatch, pathOf, routeRequest, type Match, type MatchOp } from "@gefyra/shared/rules";
import type { BridgeInfo } from "./types";

export interface RuleDraft {
  kind: "header" | "path";
  /** Header name (header rules). */
  name: string;
  op: MatchOp;
  value: string;
}

export const toMatch = (r: RuleDraft): Match => (r.kind === "header" ? { kind: "header", name: r.name.trim(), op: r.op, value: r.value } : { kind: "path", op: r.op, value: r.value });

export { describeMatch };

export interface SampleRequest {
  line: string;
  method: string;
  target: string;
  headers: Record<string, string>;
}

/** One sample per line: `[METHOD] PATH[?query] [| Name: value]...`, e.g. `GET /api/orders | x-user: alice`. */
export function parseSamples(text: string): SampleRequest[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const [first = "", ...headerParts] = line.split("|");
      const words = first.trim().split(/\s+/);
      const method = words.length > 1 && /^[A-Z]+$/.test(words[0] ?? "") ? (words.shift() ?? "GET") : "GET";
      const headers: Record<string, string> = {};
      for (const part of headerParts) {
        const colon = part.indexOf(":");
        if (colon > 0) headers[part.slice(0, colon).trim().toLowerCase()] = part.slice(colon + 1).trim();
      }
      return { line, method, target: words.join(" ") || "/", headers };
    });
}

/** Samples that show the rules at work: one request each rule lets through (when one can be made up), and one plain request. */
export function suggestSamples(rules: RuleDraft[]): string {
  const path = rules.find((r) => r.kind === "path" && r.op !== "regex");
  const headers = rules.filter((r) => r.kind === "header" && r.op !== "regex" && r.name.trim());
  const matchingPath = path ? (path.op === "exact" ? path.value : `${path.value}${path.value.endsWith("/") ? "" : "/"}example`) : "/api/orders";
  const lines = [`GET ${matchingPath}${headers.map((h) => ` | ${h.name.trim()}: ${h.value}${h.op === "prefix" ? "-example" : ""}`).join("")}`, "GET /"];
  if (headers.length > 0) lines.push(`GET ${matchingPath}`);
  if (path) lines.push(`GET /elsewhere${headers.map((h) => ` | ${h.name.trim()}: ${h.value}`).join("")}`);
  return lines.join("\n");
}

export type PreviewRow = { sample: SampleRequest; to: "mine" | "other" | "cluster"; bridge: string | null };

export type Preview = { ok: true; rows: PreviewRow[]; label: string } | { ok: false; error: string };

/**
 * What Carrier would do with each sample on `port` once this bridge is added next to the active
 * bridges of the same container; or the sentence that refuses the rules.
 */
export function previewRules(input: { name: string; rules: RuleDraft[]; port: number; siblings: BridgeInfo[]; samples: SampleRequest[] }): Preview {
  const others = input.siblings.filter((b) => b.name !== input.name && b.ports.some((p) => p.remote === input.port));
  const compiled = compileRouteTable({
    ports: [
      {
        port: input.port,
        original: { host: "cluster", port: input.port },
        // the operator's order: bridges with more matches are tried first
        bridges: [...others.map((b) => ({ name: b.name, local: { host: "other", port: 1 }, match: b.match })), { name: input.name, local: { host: "mine", port: 1 }, match: input.rules.map(toMatch) }].sort(
          (a, b) => b.match.length - a.match.length,
        ),
      },
    ],
  });
  if (!compiled.ok) return { ok: false, error: compiled.error.message };
  const port = compiled.value.ports.get(input.port);
  if (!port) return { ok: false, error: "no port" };
  const mine = port.bridges.find((b) => b.name === input.name);
  const rows = input.samples.map((sample): PreviewRow => {
    const decision = routeRequest(port, { path: pathOf(sample.target), header: (n) => sample.headers[n] });
    if (decision.to === "local") return { sample, to: decision.bridge.name === input.name ? "mine" : "other", bridge: decision.bridge.name };
    return { sample, to: "cluster", bridge: null };
  });
  return { ok: true, rows, label: mine?.label ?? "" };
}
