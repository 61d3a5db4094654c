import { describe, expect, it } from "vitest";
import { parseSamples, previewRules, suggestSamples, type RuleDraft } from "./rules";
import type { BridgeInfo } from "./types";

const header = (name: string, op: RuleDraft["op"], value: string): RuleDraft => ({ kind: "header", name, op, value });
const path = (op: RuleDraft["op"], value: string): RuleDraft => ({ kind: "path", name: "", op, value });

const sibling = (name: string, match: BridgeInfo["match"], port = 8080): BridgeInfo => ({
  name,
  connection: "c",
  namespace: "shop",
  target: { kind: "deployment", name: "api", container: "app" },
  ports: [{ remote: port, local: port }],
  match,
  local: "other",
  state: "Active",
  pods: [],
  createdAt: "2025-01-01T00:00:00Z",
});

function preview(rules: RuleDraft[], samples: string, siblings: BridgeInfo[] = []) {
  const p = previewRules({ name: "mine", rules, port: 8080, siblings, samples: parseSamples(samples) });
  if (!p.ok) throw new Error(p.error);
  return p.rows.map((r) => `${r.sample.line} -> ${r.to}${r.bridge && r.to === "other" ? ` ${r.bridge}` : ""}`);
}

describe("sample requests", () => {
  it("parse method, path with query, and headers by lower-cased name", () => {
    expect(parseSamples("GET /a?x=1 | X-User: alice | accept: text/html\n\n/b")).toEqual([
      { line: "GET /a?x=1 | X-User: alice | accept: text/html", method: "GET", target: "/a?x=1", headers: { "x-user": "alice", accept: "text/html" } },
      { line: "/b", method: "GET", target: "/b", headers: {} },
    ]);
  });

  it("are suggested from the rules: one that matches and one that does not", () => {
    expect(suggestSamples([header("x-user", "exact", "alice"), path("prefix", "/api")])).toBe(
      "GET /api/example | x-user: alice\nGET /\nGET /api/example\nGET /elsewhere | x-user: alice",
    );
  });
});

describe("rule preview (Carrier's decision)", () => {
  it("without rules every request goes to the local container", () => {
    expect(preview([], "GET /\nGET /api | x-user: bob")).toEqual(["GET / -> mine", "GET /api | x-user: bob -> mine"]);
  });

  it("header exact, prefix and regex; rules are ANDed; paths are matched without the query string", () => {
    const rules = [header("x-user", "regex", "^(alice|bob)$"), path("prefix", "/api/")];
    expect(preview(rules, "GET /api/orders?id=1 | x-user: alice\nGET /api/orders | x-user: carol\nGET /health | x-user: bob\nGET /api/x | X-USER: bob")).toEqual([
      "GET /api/orders?id=1 | x-user: alice -> mine",
      "GET /api/orders | x-user: carol -> cluster",
      "GET /health | x-user: bob -> cluster",
      "GET /api/x | X-USER: bob -> mine",
    ]);
    expect(preview([header("x-user", "prefix", "team-")], "/ | x-user: team-a\n/ | x-user: a-team")).toEqual(["/ | x-user: team-a -> mine", "/ | x-user: a-team -> cluster"]);
    expect(preview([path("exact", "/v2")], "/v2\n/v2/x")).toEqual(["/v2 -> mine", "/v2/x -> cluster"]);
  });

  it("shows requests that another bridge on the container takes", () => {
    const others = [sibling("bob-api", [{ kind: "header", name: "x-user", op: "exact", value: "bob" }])];
    expect(preview([header("x-user", "exact", "alice")], "/ | x-user: alice\n/ | x-user: bob\n/", others)).toEqual(["/ | x-user: alice -> mine", "/ | x-user: bob -> other bob-api", "/ -> cluster"]);
    // a bridge on another port does not take part
    expect(preview([header("x-user", "exact", "alice")], "/ | x-user: bob", [sibling("elsewhere", [], 9090)])).toEqual(["/ | x-user: bob -> cluster"]);
  });

  it("refuses what the server would refuse, with its sentence", () => {
    const refused = (rules: RuleDraft[], siblings: BridgeInfo[] = []) => {
      const p = previewRules({ name: "mine", rules, port: 8080, siblings, samples: [] });
      return p.ok ? "accepted" : p.error;
    };
    expect(refused([header("x-user", "regex", "(a+)+\\1")])).toMatch(/regex "\(a\+\)\+\\\\1" is refused/);
    expect(refused([header("bad name", "exact", "x")])).toMatch(/must be an HTTP header name/);
    expect(refused([header("x-user", "exact", "alice")], [sibling("everyone", [])])).toMatch(/overlaps/);
    expect(refused([header("x-user", "prefix", "al")], [sibling("alice-api", [{ kind: "header", name: "x-user", op: "exact", value: "alice" }])])).toMatch(/overlaps bridge "alice-api"/);
  });
});
