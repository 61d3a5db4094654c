import { describe, expect, it } from "vitest";
import type { FeedRecord } from "./traffic-types";
import { LiveBuffer, compileFilterText } from "./traffic";

const rec = (i: number, over: Partial<FeedRecord> = {}): FeedRecord => ({
  id: `L${i}`,
  seq: i,
  kind: "http",
  port: 8080,
  time: new Date(Date.UTC(2026, 4, 1, 8, 0, 0, i)).toISOString(),
  client: "",
  method: i % 2 ? "POST" : "GET",
  path: `/r${i}`,
  status: 200,
  ttfbMs: 1,
  durationMs: 1,
  bytesIn: 0,
  bytesOut: 0,
  route: { to: "local", bridge: "b" },
  bridge: "b",
  bridges: ["b"],
  namespace: "ns",
  pod: "p",
  carrierSeq: i,
  stored: [],
  ...over,
});

describe("the inspector's live buffer", () => {
  it("keeps time order, drops repeats, filters incrementally and stays within its bound", () => {
    const buffer = new LiveBuffer(5);
    const posts = compileFilterText("method:POST");
    if (!posts.ok) throw new Error(posts.error);
    buffer.setMatch(posts.match);
    buffer.add([rec(1), rec(2), rec(4)]);
    buffer.add([rec(3, { pod: "q" }), rec(1)]); // a slower pod's older record, and a repeat
    expect(buffer.rows.map((r) => r.path)).toEqual(["/r1", "/r2", "/r3", "/r4"]);
    expect(buffer.shown.map((r) => r.path)).toEqual(["/r1", "/r3"]);
    buffer.add([5, 6, 7].map((i) => rec(i)));
    expect(buffer.rows.map((r) => r.path)).toEqual(["/r3", "/r4", "/r5", "/r6", "/r7"]);
    expect(buffer.shown.map((r) => r.path)).toEqual(["/r3", "/r5", "/r7"]);
    expect(buffer.trimmed).toBe(2);
    // /r1 went from the front of the shown rows: the others keep their positions (base + index)
    expect(buffer.shownBase).toBe(1);
    buffer.setMatch(null);
    expect(buffer.shown).toHaveLength(5);
    expect(buffer.shownBase).toBe(0);
  });

  it("reports filter mistakes with their column", () => {
    expect(compileFilterText("method:GET stauts:500")).toMatchObject({ ok: false, column: 12 });
    expect(compileFilterText("  ")).toEqual({ ok: true, match: null });
  });
});
