import { describe, expect, expectTypeOf, it } from "vitest";
import type { RequestRecord as CarrierRecord } from "../../../carrier/src/records";
import { compileFilter, matchRecord, parseFilter, type FilterTerm, type TrafficFilter } from "./filter";
import type { TrafficRecord } from "./record";

function record(over: Partial<TrafficRecord> = {}): TrafficRecord {
  return {
    seq: 1,
    kind: "http",
    port: 8080,
    time: "2026-03-01T10:00:00.000Z",
    client: "10.244.0.7:51234",
    method: "GET",
    path: "/api/v2/items?limit=10&q=Red%20Shoes",
    status: 200,
    ttfbMs: 12,
    durationMs: 15.5,
    bytesIn: 0,
    bytesOut: 2048,
    route: { to: "local", bridge: "api-alice", rule: 'header x-user exact "alice"', destination: "192.168.213.2:8080" },
    request: { headers: [["Host", "api.shop"], ["X-User", "alice"], ["Accept", "application/json"]], body: { bytes: 0, truncated: false, encoding: "utf8", data: "" } },
    response: { headers: [["Content-Type", "application/json"], ["X-Trace", "abc-123"]], body: { bytes: 2048, truncated: false, encoding: "utf8", data: "{}" } },
    ...over,
  };
}

function filter(text: string): TrafficFilter {
  const parsed = parseFilter(text);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.filter;
}

const matches = (text: string, r: TrafficRecord = record()) => matchRecord(filter(text), r);

describe("traffic filter: parsing", () => {
  it("keeps Carrier's RequestRecord assignable to the shape filters work on", () => {
    expectTypeOf<CarrierRecord>().toExtend<TrafficRecord>();
  });

  it("an empty or blank filter matches everything", () => {
    expect(filter("").terms).toEqual([]);
    expect(filter("   \t ").terms).toEqual([]);
    expect(matches("")).toBe(true);
    expect(matches("", record({ kind: "tcp", method: undefined, path: undefined, status: undefined, route: null }))).toBe(true);
  });

  it("reads every key of the example from the reference", () => {
    const terms = filter("method:POST status:>=500 path:/api header:x-user=me dur:>200ms").terms;
    expect(terms.map((t) => t.key)).toEqual(["method", "status", "path", "header", "dur"]);
    expect(terms[0]).toMatchObject({ key: "method", values: ["POST"], negate: false, column: 1 });
    expect(terms[1]).toMatchObject({ key: "status", tests: [{ op: ">=", value: 500 }], column: 13 });
    expect(terms[2]).toMatchObject({ key: "path", prefix: true, column: 26 });
    expect(terms[3]).toMatchObject({ key: "header", name: "x-user" });
    expect(terms[4]).toMatchObject({ key: "dur", test: { op: ">", value: 200 } });
  });

  it("negates with - or ! and records the column of the term", () => {
    const [a, b, c] = filter("-method:GET  !status:200 -/health").terms as [FilterTerm, FilterTerm, FilterTerm];
    expect([a.negate, a.column]).toEqual([true, 1]);
    expect([b.negate, b.column]).toEqual([true, 14]);
    expect(c).toMatchObject({ key: "text", value: "/health", negate: true, column: 26 });
  });

  it("takes quoted values with spaces and escapes, in either quote", () => {
    expect(filter('header:x-note="hello world"').terms[0]).toMatchObject({ name: "x-note" });
    expect(matches('header:x-note="hello world"', record({ request: { headers: [["x-note", "hello world"]], body: { bytes: 0, truncated: false, encoding: "utf8", data: "" } } }))).toBe(true);
    expect(filter(`"a \\"quoted\\" b"`).terms[0]).toMatchObject({ key: "text", value: 'a "quoted" b' });
    expect(filter("'it''s'").terms[0]).toMatchObject({ key: "text", value: "its" });
    // a quoted key:value is free text, not a key
    expect(filter('"method:GET"').terms[0]).toMatchObject({ key: "text", value: "method:GET" });
  });

  it("accepts keys in any case and a few aliases", () => {
    expect(filter("METHOD:get Duration:<1s latency:1..2s response-header:x").terms.map((t) => t.key)).toEqual(["method", "dur", "dur", "resheader"]);
  });

  it.each([
    ["stauts:500", 1, /unknown filter key "stauts".*quote the word/],
    ["method:GET stauts:500", 12, /unknown filter key "stauts"/],
    ["method:", 8, /method: needs a value, got nothing/],
    ["status:abc", 8, /status: needs a status like 404, >=500, 5xx/],
    ["status:1000", 8, /status: needs a status/],
    ["status:500..400", 8, /status: needs a status/],
    ["dur:fast", 5, /dur: needs a duration like >200ms/],
    ["dur:>200parsecs", 5, /dur: needs a duration/],
    ["size:>10zb", 6, /size: needs a size like >10kb/],
    ["route:somewhere", 7, /route: must be local, original, carrier/],
    ["kind:udp", 6, /kind: must be http, ws, h2, tcp/],
    ["is:slow", 4, /is: must be error, sampled, truncated/],
    ["path:api", 6, /path: needs a path starting with \//],
    ["path:/a?b=1", 6, /without the query string/],
    ["header:=me", 8, /header: needs a header name/],
    ['header:"bad name=x"', 8, /header: needs a header name/],
    ["method:G3T", 8, /method: needs a method/],
    ['path:"/api', 6, /the quote " opened here is never closed/],
    ["method:GET -", 12, /'-' must be followed by the term it negates/],
    ['""', 1, /empty quoted text/],
  ])("rejects %s at column %i with one line", (text, column, message) => {
    const parsed = parseFilter(text);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.column).toBe(column);
    expect(parsed.error).toMatch(new RegExp(`^column ${column}: `));
    expect(parsed.error).toMatch(message);
    expect(parsed.error).not.toContain("\n");
  });

  it("compileFilter throws the same one-line message", () => {
    expect(() => compileFilter("status:x")).toThrow(/^column 8: status:/);
    expect(compileFilter("status:200")(record())).toBe(true);
  });
});

describe("traffic filter: matching", () => {
  it("method: case-insensitive, alternatives", () => {
    expect(matches("method:get")).toBe(true);
    expect(matches("method:POST")).toBe(false);
    expect(matches("method:POST,GET")).toBe(true);
    expect(matches("method:POST|PUT")).toBe(false);
    expect(matches("-method:POST")).toBe(true);
    expect(matches("method:GET", record({ kind: "tcp", method: undefined }))).toBe(false);
  });

  it("status: exact, comparisons, classes, ranges, lists; missing status never matches", () => {
    const r = (status?: number) => record(status === undefined ? { status: undefined, error: "ECONNREFUSED" } : { status });
    expect(matches("status:200", r(200))).toBe(true);
    expect(matches("status:=200", r(201))).toBe(false);
    expect(matches("status:>=500", r(500))).toBe(true);
    expect(matches("status:>=500", r(499))).toBe(false);
    expect(matches("status:>500", r(500))).toBe(false);
    expect(matches("status:<300", r(204))).toBe(true);
    expect(matches("status:<=300", r(301))).toBe(false);
    expect(matches("status:5xx", r(503))).toBe(true);
    expect(matches("status:4XX", r(503))).toBe(false);
    expect(matches("status:400..499", r(404))).toBe(true);
    expect(matches("status:400..499", r(499))).toBe(true);
    expect(matches("status:400..499", r(500))).toBe(false);
    expect(matches("status:404,5xx", r(502))).toBe(true);
    expect(matches("status:404,5xx", r(200))).toBe(false);
    expect(matches("status:>=100", r())).toBe(false);
    expect(matches("-status:200", r())).toBe(true);
  });

  it("path: a prefix of the path without its query; with * a whole-path glob", () => {
    expect(matches("path:/api")).toBe(true);
    expect(matches("path:/api/v2/items")).toBe(true);
    expect(matches("path:/v2")).toBe(false);
    expect(matches("path:/api/*/items")).toBe(true);
    expect(matches("path:/api/*/item")).toBe(false); // a glob must match the whole path
    expect(matches("path:*/items")).toBe(true);
    expect(matches("path:/API")).toBe(false); // paths are case-sensitive
    expect(matches("path:/api/v2/items.json", record({ path: "/api/v2/itemsxjson" }))).toBe(false); // '.' is literal
    expect(matches("path:/api", record({ path: undefined, kind: "tcp" }))).toBe(false);
    expect(matches("-path:/health")).toBe(true);
  });

  it("free text: case-insensitive substring of path and query", () => {
    expect(matches("items")).toBe(true);
    expect(matches("ITEMS")).toBe(true);
    expect(matches("limit=10")).toBe(true);
    expect(matches("Red%20Shoes")).toBe(true);
    expect(matches("v2 items")).toBe(true); // two terms, both hold
    expect(matches("v2 orders")).toBe(false);
    expect(matches('"v2/items?limit"')).toBe(true);
    expect(matches("-items")).toBe(false);
    expect(matches("!orders")).toBe(true);
    expect(matches("items", record({ kind: "tcp", path: undefined }))).toBe(false);
  });

  it("header: request headers, name case-insensitive, value exact or glob; presence alone", () => {
    expect(matches("header:x-user=alice")).toBe(true);
    expect(matches("header:X-USER=alice")).toBe(true);
    expect(matches("header:x-user=Alice")).toBe(false);
    expect(matches("header:x-user=ali")).toBe(false);
    expect(matches("header:x-user=ali*")).toBe(true);
    expect(matches("header:x-user=*")).toBe(true);
    expect(matches("header:x-user")).toBe(true);
    expect(matches("header:x-admin")).toBe(false);
    expect(matches("-header:x-admin")).toBe(true);
    expect(matches("header:x-trace")).toBe(false); // a response header
    expect(matches("resheader:x-trace=abc-*")).toBe(true);
    expect(matches("resheader:content-type=*json*")).toBe(true);
    expect(matches("header:x-user=alice", record({ request: undefined }))).toBe(false);
    // a value with '=' keeps everything after the first '='
    const eq = record({ request: { headers: [["x-q", "a=b"]], body: { bytes: 0, truncated: false, encoding: "utf8", data: "" } } });
    expect(matches("header:x-q=a=b", eq)).toBe(true);
  });

  it("dur and ttfb: units us, ms, s, m; ranges; a missing ttfb never matches", () => {
    expect(matches("dur:>15ms")).toBe(true);
    expect(matches("dur:>15.5")).toBe(false);
    expect(matches("dur:<1s")).toBe(true);
    expect(matches("dur:>0.01s")).toBe(true);
    expect(matches("dur:>1m", record({ durationMs: 61_000 }))).toBe(true);
    expect(matches("dur:>15000us")).toBe(true);
    expect(matches("dur:10ms..20ms")).toBe(true);
    expect(matches("dur:10ms..15ms")).toBe(false);
    expect(matches("ttfb:<=12ms")).toBe(true);
    expect(matches("ttfb:>0", record({ ttfbMs: null }))).toBe(false);
    expect(matches("-ttfb:>0", record({ ttfbMs: null }))).toBe(true);
  });

  it("size: bytes both ways, kb = 1024 bytes", () => {
    expect(matches("size:>=2kb")).toBe(true);
    expect(matches("size:>2kb")).toBe(false);
    expect(matches("size:2048")).toBe(true);
    expect(matches("size:>1kb", record({ bytesIn: 600, bytesOut: 600 }))).toBe(true);
    expect(matches("size:>10kb", record({ bytesOut: 10 * 1024 + 1 }))).toBe(true);
    expect(matches("size:<1mb")).toBe(true);
    expect(matches("size:1k..1.5k", record({ bytesOut: 1500 }))).toBe(true);
    expect(matches("size:>1GB", record({ bytesOut: 2 * 1024 ** 3 }))).toBe(true);
  });

  it("bridge and route", () => {
    expect(matches("bridge:api-alice")).toBe(true);
    expect(matches("bridge:api-*")).toBe(true);
    expect(matches("bridge:api")).toBe(false);
    expect(matches("bridge:api-bob,api-alice")).toBe(true);
    expect(matches("bridge:api-alice", record({ route: { to: "original" } }))).toBe(false);
    expect(matches("-bridge:api-alice", record({ route: null }))).toBe(true);
    expect(matches("route:local")).toBe(true);
    expect(matches("route:original")).toBe(false);
    expect(matches("route:local|original")).toBe(true);
    expect(matches("route:ORIGINAL", record({ route: { to: "original" } }))).toBe(true);
    expect(matches("route:carrier", record({ route: null }))).toBe(false);
    expect(matches("-route:original", record({ route: null }))).toBe(true);
  });

  it("kind and is:error|sampled|truncated", () => {
    expect(matches("kind:http")).toBe(true);
    expect(matches("kind:ws,tcp")).toBe(false);
    expect(matches("is:error")).toBe(false);
    expect(matches("is:error", record({ status: 502 }))).toBe(true);
    expect(matches("is:error", record({ status: undefined, error: "connect ECONNREFUSED" }))).toBe(true);
    expect(matches("-is:error")).toBe(true);
    expect(matches("is:sampled", record({ sampled: true }))).toBe(true);
    expect(matches("is:sampled")).toBe(false);
    expect(matches("is:truncated", record({ response: { headers: [], body: { bytes: 100_000, truncated: true, encoding: "utf8", data: "x" } } }))).toBe(true);
    expect(matches("is:truncated")).toBe(false);
  });

  it("all terms must hold; the same key twice narrows", () => {
    const r = record({ method: "POST", status: 503, durationMs: 350, path: "/api/orders" });
    expect(matches("method:POST status:>=500 path:/api header:x-user=alice dur:>200ms", r)).toBe(true);
    expect(matches("method:POST status:>=500 path:/api header:x-user=bob dur:>200ms", r)).toBe(false);
    expect(matches("status:>=500 status:<503", r)).toBe(false);
    expect(matches("status:>=500 status:<=503", r)).toBe(true);
    expect(matches("orders -method:GET !route:original bridge:api-* size:>1kb", r)).toBe(true);
  });

  it("filters a stream of records", () => {
    const records = Array.from({ length: 20 }, (_, i) =>
      record({ seq: i + 1, status: i % 5 === 0 ? 500 : 200, method: i % 2 ? "POST" : "GET", durationMs: i * 20 }),
    );
    const keep = compileFilter("status:5xx -method:GET dur:>=100ms");
    expect(records.filter(keep).map((r) => r.seq)).toEqual([6, 16]);
  });
});
