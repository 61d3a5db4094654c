import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStore, type RequestRecordInput, type Store } from "./index";

const rec = (sessionId: string, seq: number, extra: Partial<RequestRecordInput> = {}): RequestRecordInput => ({
  sessionId,
  bridge: "b",
  seq,
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)),
  method: "GET",
  path: `/r/${seq}`,
  status: 200,
  durationMs: seq,
  bytesIn: 10,
  bytesOut: 20,
  route: "local",
  requestHeaders: [["x-user", "me"]],
  responseBody: new Uint8Array([1, 2, 3]),
  ...extra,
});

describe("request writer (prepared statements beside Prisma)", () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-writer-"));
    store = await openStore({ dataDir: dir });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("stores rows Prisma reads back as it wrote them, with figures, and ignores replays", async () => {
    const s = await store.startSession({ kind: "bridge", target: "b" });
    expect(await store.recordRequests([rec(s.id, 1), rec(s.id, 2, { status: 503, sampled: true, bodyTruncated: true })])).toBe(2);
    expect(await store.recordRequests([rec(s.id, 2), rec(s.id, 3)])).toBe(1);
    const rows = await store.listRequests({ sessionId: s.id });
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(rows[0]!.at.toISOString()).toBe("2026-01-01T00:00:01.000Z");
    expect(rows[1]).toMatchObject({ status: 503, sampled: true, bodyTruncated: true, requestHeaders: '[["x-user","me"]]' });
    expect([...rows[0]!.responseBody!]).toEqual([1, 2, 3]);
    const stats = (await store.sessionStats([s.id])).get(s.id)!;
    expect(stats).toMatchObject({ requests: 3, errors: 1, bytesIn: 30, bytesOut: 60, storedRequests: 3, storedBytes: rows.reduce((n, r) => n + r.size, 0) });
    expect(stats.firstAt?.toISOString()).toBe("2026-01-01T00:00:01.000Z");
    expect(stats.lastAt?.toISOString()).toBe("2026-01-01T00:00:03.000Z");
    expect(stats.latencyMs.p50).toBeCloseTo(2, 1);
  });

  it("writes the settings in the same transaction as the rows, and neither when the batch fails", async () => {
    const s = await store.startSession({ kind: "bridge", target: "b" });
    await store.recordRequests([rec(s.id, 1)], [{ key: "cursor", value: "1" }]);
    expect(await store.getSetting("cursor")).toBe("1");
    // a row of a session that does not exist fails the whole batch (foreign key)
    await expect(store.recordRequests([rec(s.id, 2), rec("no-such-session", 1)], [{ key: "cursor", value: "2" }])).rejects.toThrow(/FOREIGN KEY/);
    expect(await store.getSetting("cursor")).toBe("1");
    expect((await store.listRequests({ sessionId: s.id })).map((r) => r.seq)).toEqual([1]);
  });

  it("waits for another connection's write lock without holding the event loop", async () => {
    const s = await store.startSession({ kind: "bridge", target: "b" });
    const other = new Database(path.join(dir, "gefyra.db"));
    other.exec("BEGIN IMMEDIATE");
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    const write = store.recordRequests([rec(s.id, 1)]);
    await new Promise((r) => setTimeout(r, 150));
    expect(ticks).toBeGreaterThan(5); // the loop kept running while the write waited
    expect((await store.listRequests({ sessionId: s.id })).length).toBe(0);
    other.exec("COMMIT");
    other.close();
    expect(await write).toBe(1);
    clearInterval(ticker);
  });
});
