import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TrafficRecord } from "@gefyra/shared";
import { openStore, type Store } from "../../store";
import { compareAnswers, diffLines } from "./diff";
import { toInput } from "./ingest";
import { resumeRecording } from "./index";
import { queryStored, series, storedRecord } from "./query";
import { requestToSend } from "./replay";
import type { ReplayResult } from "./types";

const record = (over: Partial<TrafficRecord> = {}): TrafficRecord => ({
  seq: 1,
  kind: "http",
  port: 8080,
  time: "2026-05-01T08:00:00.000Z",
  client: "10.0.0.9:1234",
  method: "POST",
  path: "/orders?id=7",
  status: 201,
  ttfbMs: 4,
  durationMs: 5,
  bytesIn: 7,
  bytesOut: 2,
  route: { to: "local", bridge: "alice", rule: 'header x-user exact "alice"' },
  request: {
    headers: [["Host", "api:8080"], ["X-User", "alice"], ["Authorization", "[redacted]"], ["Content-Length", "7"], ["Connection", "keep-alive"], ["Content-Type", "application/json"]],
    body: { bytes: 7, truncated: false, encoding: "utf8", data: '{"a":1}' },
  },
  response: { headers: [["content-type", "application/json"]], body: { bytes: 2, truncated: false, encoding: "utf8", data: "{}" } },
  ...over,
});

const answer = (over: Partial<ReplayResult>): ReplayResult => ({
  target: "local",
  via: "",
  request: { method: "GET", path: "/", headers: [], body: null },
  notSent: [],
  status: 200,
  statusText: "OK",
  headers: [],
  body: { bytes: 0, truncated: false, encoding: "utf8", data: "" },
  ttfbMs: 1,
  durationMs: 1,
  ...over,
});

describe("the request a replay sends", () => {
  it("is the recorded one without redacted and connection headers, with the body", () => {
    const { request, notSent } = requestToSend(record());
    expect(request).toEqual({ method: "POST", path: "/orders?id=7", headers: [["Host", "api:8080"], ["X-User", "alice"], ["Content-Type", "application/json"]], body: { encoding: "utf8", data: '{"a":1}' } });
    expect(notSent.map((n) => n.name)).toEqual(["Authorization", "Content-Length", "Connection"]);
    expect(notSent[0]!.reason).toMatch(/redacted .* add it with Edit/);
  });

  it("takes edits of method, path, headers and body", () => {
    const { request } = requestToSend(record(), { method: "put", path: "/x", headers: [["Authorization", "Bearer mine"]], body: null });
    expect(request).toEqual({ method: "PUT", path: "/x", headers: [["Authorization", "Bearer mine"]], body: null });
  });

  it("refuses a body Carrier cut, TCP and WebSocket records, each with the reason", () => {
    const cut = record({ request: { headers: [], body: { bytes: 100_000, truncated: true, encoding: "utf8", data: "x".repeat(65_536) } } });
    expect(() => requestToSend(cut)).toThrow(/kept only the first .* Edit/);
    expect(requestToSend(cut, { body: { encoding: "utf8", data: "whole" } }).request.body).toEqual({ encoding: "utf8", data: "whole" });
    expect(() => requestToSend(record({ kind: "tcp" }))).toThrow(/raw TCP/);
    expect(() => requestToSend(record({ kind: "ws" }))).toThrow(/WebSocket/);
  });
});

describe("compare", () => {
  it("diffs lines with common head and tail", () => {
    expect(diffLines(["a", "b", "c", "d"], ["a", "x", "c", "d", "e"])).toEqual([
      { op: "=", text: "a" },
      { op: "-", text: "b" },
      { op: "+", text: "x" },
      { op: "=", text: "c" },
      { op: "=", text: "d" },
      { op: "+", text: "e" },
    ]);
  });

  it("pretty-prints JSON bodies so one changed field is one line; volatile headers do not count", () => {
    const original = answer({ target: "original", headers: [["Date", "Mon"], ["Content-Type", "application/json"]], body: { bytes: 40, truncated: false, encoding: "utf8", data: '{"identity":"original","n":1}' } });
    const local = answer({ headers: [["date", "Tue"], ["content-type", "application/json"]], body: { bytes: 30, truncated: false, encoding: "utf8", data: '{"identity":"local","n":1}' } });
    const c = compareAnswers(local, original);
    expect(c.body).toMatchObject({ same: false, json: true, truncated: false });
    expect(c.body.lines.filter((l) => l.op !== "=")).toEqual([
      { op: "-", text: '  "identity": "original",' },
      { op: "+", text: '  "identity": "local",' },
    ]);
    expect(c.headers).toEqual([
      { name: "content-type", local: "application/json", original: "application/json", same: true, volatile: false },
      { name: "date", local: "Tue", original: "Mon", same: false, volatile: true },
    ]);
    expect(c.same).toBe(false);
    const again = compareAnswers(answer({ headers: [["date", "Tue"]], body: { bytes: 9, truncated: false, encoding: "utf8", data: '{ "a":1 }' } }), answer({ headers: [["date", "Mon"]], body: { bytes: 7, truncated: false, encoding: "utf8", data: '{"a":1}' } }));
    expect(again.same).toBe(true);
  });
});

describe("stored history", () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-traffic-query-"));
    store = await openStore({ dataDir: dir });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("forgets the leases and cursors of sessions that are gone when recording resumes", async () => {
    const s = await store.startSession({ kind: "bridge", context: "dev", target: "alice" });
    await store.endSession(s.id, "unbridged");
    await store.setSetting(`traffic.cursor.${s.id}`, "{}");
    await store.setSetting("traffic.lease.gone-session", "{}");
    await store.setSetting("traffic.cursor.gone-session", "{}");
    expect(await resumeRecording({ store, kube: {} })).toEqual([]);
    expect((await store.prisma.setting.findMany({ where: { key: { startsWith: "traffic." } } })).map((x) => x.key)).toEqual([`traffic.cursor.${s.id}`]);
  });

  it("lists through the filter language newest first, opens one by id, and gives figures over time", async () => {
    const s = await store.startSession({ kind: "bridge", context: "dev", namespace: "shop", target: "alice" });
    const t0 = Date.parse("2026-05-01T08:00:00.000Z");
    const rows = Array.from({ length: 30 }, (_, i) =>
      toInput(s.id, "alice", i + 1, record({ seq: i + 1, time: new Date(t0 + i * 1000).toISOString(), method: i % 3 ? "GET" : "POST", status: i % 10 === 9 ? 503 : 200, durationMs: i + 1, path: `/items/${i}` })),
    );
    await store.recordRequests(rows);
    const page = await queryStored(store, { filter: "method:POST status:<500", limit: 3 });
    expect(page.records.map((r) => r.path)).toEqual(["/items/27", "/items/24", "/items/21"]);
    expect(page.records[0]).toMatchObject({ id: `S${s.id}:28`, bridge: "alice", namespace: "shop", request: { body: { data: '{"a":1}' } } });
    await expect(queryStored(store, { filter: "stauts:500" })).rejects.toThrow(/column 1: unknown filter key "stauts"/);
    expect((await storedRecord(store, `S${s.id}:5`))?.path).toBe("/items/4");

    const sr = series(store, { bridge: "alice", from: new Date(t0), to: new Date(t0 + 30_000), buckets: 3 });
    expect(sr.bucketMs).toBe(10_000);
    expect(sr.scanned).toBe(30);
    expect(sr.points.map((p) => [p.t, p.requests, p.errors, p.perSecond])).toEqual([
      ["2026-05-01T08:00:00.000Z", 10, 1, 1],
      ["2026-05-01T08:00:10.000Z", 10, 1, 1],
      ["2026-05-01T08:00:20.000Z", 10, 1, 1],
    ]);
    // percentiles come from 2 %-wide latency buckets: within about 1 % of the exact value
    const exact = [
      [5, 10],
      [15, 20],
      [25, 30],
    ];
    sr.points.forEach((p, i) => {
      expect(Math.abs(p.p50! / exact[i]![0]! - 1)).toBeLessThan(0.011);
      expect(Math.abs(p.p99! / exact[i]![1]! - 1)).toBeLessThan(0.011);
    });
    // the range's edges: a record at `to` counts in the last bucket, one a millisecond before `from` nowhere;
    // a record without a duration counts, but not in the percentiles; another session is left out
    const other = await store.startSession({ kind: "bridge", context: "dev", namespace: "shop", target: "alice" });
    await store.recordRequests([
      toInput(s.id, "alice", 31, record({ seq: 31, time: new Date(t0 + 30_000).toISOString(), status: 200, durationMs: 1000 })),
      toInput(s.id, "alice", 32, record({ seq: 32, time: new Date(t0 - 1).toISOString(), status: 200, durationMs: 1 })),
      toInput(other.id, "alice", 1, record({ seq: 1, time: new Date(t0 + 10_000).toISOString(), status: 500, durationMs: 7 })),
    ]);
    const edges = series(store, { bridge: "alice", sessionIds: [s.id], from: new Date(t0), to: new Date(t0 + 30_000), buckets: 3 });
    expect(edges.points.map((p) => p.requests)).toEqual([10, 10, 11]);
    expect(Math.abs(edges.points[2]!.p99! / 1000 - 1)).toBeLessThan(0.011);
    const both = series(store, { bridge: "alice", from: new Date(t0), to: new Date(t0 + 30_000), buckets: 3 });
    expect(both.points.map((p) => [p.requests, p.errors])).toEqual([
      [10, 1],
      [11, 2],
      [11, 1],
    ]);
    expect(series(store, { bridge: "bob", from: new Date(t0), to: new Date(t0 + 30_000), buckets: 3 }).scanned).toBe(0);
  });
});
