import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStore, type RequestRecordInput, type Store } from "./index";
import { MIGRATIONS_DIR } from "./paths";
import { DEFAULT_RETENTION, enforceRetention, resolveRetention, setRetention, startRetention } from "./retention";
import { addLatency, bucketOf, percentile, recordSize } from "./stats";

let dataDir: string;
let store: Store;
const DAY = 86_400_000;
const NOW = new Date("2026-06-30T12:00:00Z");

beforeEach(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-retention-"));
  store = await openStore({ dataDir });
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function requests(sessionId: string, count: number, over: Partial<RequestRecordInput> & { startSeq?: number; startAt?: Date } = {}): RequestRecordInput[] {
  const { startSeq = 1, startAt = new Date(NOW.getTime() - 60_000), ...rest } = over;
  return Array.from({ length: count }, (_, i) => ({
    sessionId,
    bridge: "api-me",
    seq: startSeq + i,
    at: new Date(startAt.getTime() + i * 10),
    method: "GET",
    path: `/items/${i}`,
    status: 200,
    durationMs: 10,
    bytesIn: 0,
    bytesOut: 100,
    route: "local" as const,
    ...rest,
  }));
}

/** A session that started `daysAgo` and (unless open) ended an hour later. */
async function session(daysAgo: number, options: { open?: boolean; target?: string } = {}) {
  const s = await store.startSession({ kind: "bridge", target: options.target ?? `t-${daysAgo}` });
  const startedAt = new Date(NOW.getTime() - daysAgo * DAY);
  await store.prisma.session.update({ where: { id: s.id }, data: { startedAt, ...(options.open ? {} : { endedAt: new Date(startedAt.getTime() + 3_600_000), stopReason: "unbridged" }) } });
  await store.recordSessionEvent(s.id, { type: "bridge", message: "bridged", at: startedAt });
  return s.id;
}

const count = async () => ({
  sessions: await store.prisma.session.count(),
  events: await store.prisma.sessionEvent.count(),
  requests: await store.prisma.requestRecord.count(),
  stats: await store.prisma.sessionStats.count(),
});

describe("session stats", () => {
  it("are computed as records are stored: requests, errors, bytes, latency percentiles; replays do not count", async () => {
    const id = await session(0, { open: true });
    // latencies 1..1000 ms: exact p50 = 500, p95 = 950, p99 = 990
    const batch = Array.from({ length: 1000 }, (_, i) => ({
      ...requests(id, 1, { startSeq: i + 1 })[0]!,
      durationMs: i + 1,
      status: i % 100 === 0 ? 503 : 200,
      bytesIn: 10,
      bytesOut: 1000,
      ...(i === 7 ? { status: null, error: "connect ECONNREFUSED" } : {}),
    }));
    expect(await store.recordRequests(batch.slice(0, 400))).toBe(400);
    expect(await store.recordRequests(batch.slice(300))).toBe(600); // 100 replayed
    const stats = (await store.sessionStats([id])).get(id)!;
    expect(stats).toMatchObject({ requests: 1000, errors: 11, bytesIn: 10_000, bytesOut: 1_000_000, storedRequests: 1000 });
    expect(stats.latencyMs.p50).toBeCloseTo(500, -1);
    expect(Math.abs(stats.latencyMs.p50! - 500) / 500).toBeLessThan(0.015);
    expect(Math.abs(stats.latencyMs.p95! - 950) / 950).toBeLessThan(0.015);
    expect(Math.abs(stats.latencyMs.p99! - 990) / 990).toBeLessThan(0.015);
    const sizes = await store.prisma.requestRecord.aggregate({ _sum: { size: true } });
    expect(stats.storedBytes).toBe(sizes._sum.size);
    expect(stats.firstAt?.getTime()).toBe(batch[0]!.at.getTime());
    expect(stats.lastAt?.getTime()).toBe(batch[999]!.at.getTime());
    expect((await store.sessionStats(["no-such-session"])).size).toBe(0);
  });

  it("keeps the fields Carrier records and sizes each row by what it holds", async () => {
    const id = await session(0, { open: true });
    await store.recordRequests([
      {
        ...requests(id, 1)[0]!,
        kind: "h2",
        port: 8080,
        client: "10.244.0.9:4000",
        rule: 'header x-user exact "me"',
        destination: "192.168.213.2:8080",
        sampled: true,
        route: "original",
        requestHeaders: { "x-user": "me" },
        responseBody: Buffer.alloc(5000, 1),
      },
    ]);
    const [row] = await store.listRequests({ sessionId: id });
    expect(row).toMatchObject({ kind: "h2", port: 8080, client: "10.244.0.9:4000", destination: "192.168.213.2:8080", sampled: true, route: "original" });
    expect(row?.size).toBe(recordSize(row!));
    expect(row?.size).toBeGreaterThan(5000);
  });

  it("the histogram stays within about 1 % at any scale", () => {
    for (const ms of [0.02, 0.5, 3, 47, 999, 12_345, 3_600_000]) {
      const h = {};
      addLatency(h, ms);
      expect(Math.abs(percentile(h, 50)! - ms) / ms).toBeLessThan(0.011);
    }
    expect(percentile({}, 50)).toBeNull();
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(-5)).toBe(0);
    expect(bucketOf(86_400_000)).toBeLessThan(1200);
  });
});

describe("retention policy", () => {
  it("defaults to 14 days and 200 MB; settings, then the environment override; bad values are ignored with a reason", async () => {
    expect(DEFAULT_RETENTION).toEqual({ days: 14, mb: 200 });
    expect(await resolveRetention(store, {})).toMatchObject({ days: 14, mb: 200, source: { days: "default", mb: "default" }, problems: [] });
    await setRetention(store, { days: 3 });
    expect(await resolveRetention(store, {})).toMatchObject({ days: 3, mb: 200, source: { days: "setting", mb: "default" } });
    expect(await resolveRetention(store, { GEFYRA_HISTORY_RETENTION_DAYS: "30", GEFYRA_HISTORY_RETENTION_MB: "0" })).toMatchObject({
      days: 30,
      mb: 0,
      source: { days: "env", mb: "env" },
    });
    const bad = await resolveRetention(store, { GEFYRA_HISTORY_RETENTION_MB: "lots" });
    expect(bad).toMatchObject({ days: 3, mb: 200 });
    expect(bad.problems).toEqual(['GEFYRA_HISTORY_RETENTION_MB="lots" is not a number >= 0 and was ignored']);
    await expect(setRetention(store, { mb: -1 })).rejects.toThrow(/must be a number >= 0 \(0 = no limit\)/);
  });
});

describe("retention by age", () => {
  it("removes sessions untouched for longer than the limit with their events, records and figures; trims old records of sessions in use", async () => {
    const oldEnded = await session(20);
    await store.recordRequests(requests(oldEnded, 30, { startAt: new Date(NOW.getTime() - 20 * DAY) }));
    const crashed = await session(30, { open: true }); // never ended, nothing happened since
    const recent = await session(2);
    await store.recordRequests(requests(recent, 5, { startAt: new Date(NOW.getTime() - 2 * DAY) }));
    const longRunning = await session(40, { open: true }); // a bridge open for 40 days, still recording
    await store.recordRequests([
      ...requests(longRunning, 20, { startAt: new Date(NOW.getTime() - 39 * DAY) }),
      ...requests(longRunning, 10, { startSeq: 100, startAt: new Date(NOW.getTime() - DAY) }),
    ]);
    const connection = await store.startSession({ kind: "connection", target: "me" }); // today, no records

    const r = await enforceRetention(store, { policy: { days: 14, mb: 0 }, now: NOW, batchSize: 7 });
    expect(r).toMatchObject({ sessionsDeleted: 2, requestsDeleted: 50, eventsDeleted: 2 });
    const left = (await store.listSessions({ limit: 100 })).map((s) => s.id).sort();
    expect(left).toEqual([recent, longRunning, connection.id].sort());
    expect(crashed).not.toBe(recent);
    expect((await store.listRequests({ sessionId: longRunning })).map((x) => x.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
    expect(await store.listSessionEvents(longRunning)).toHaveLength(1);
    const stats = (await store.sessionStats([longRunning])).get(longRunning)!;
    expect(stats.requests).toBe(30); // what the session saw
    expect(stats.storedRequests).toBe(10); // what is still kept
    const sizes = await store.prisma.requestRecord.aggregate({ _sum: { size: true } });
    expect(r.storedBytes).toBe(sizes._sum.size);
    expect(await count()).toEqual({ sessions: 3, events: 2, requests: 15, stats: 2 });

    // nothing left to do: a second run removes nothing
    expect(await enforceRetention(store, { policy: { days: 14, mb: 0 }, now: NOW })).toMatchObject({ sessionsDeleted: 0, requestsDeleted: 0, batches: 0 });
  });

  it("0 days keeps everything", async () => {
    await session(400);
    expect((await enforceRetention(store, { policy: { days: 0, mb: 0 }, now: NOW })).sessionsDeleted).toBe(0);
    expect(await store.prisma.session.count()).toBe(1);
  });
});

describe("retention by size", () => {
  const body = Buffer.alloc(100 * 1024, 7); // ~100 KiB per record

  it("removes the oldest sessions with records first, trims a session that is still recording, and spares sessions without records", async () => {
    const connectionOnly = await session(10, { target: "connection" });
    const a = await session(5, { target: "a" });
    const b = await session(4, { target: "b" });
    const c = await session(3, { open: true, target: "c" });
    for (const id of [a, b]) await store.recordRequests(requests(id, 10, { responseBody: body, startAt: new Date(NOW.getTime() - DAY) }));
    await store.recordRequests(requests(c, 20, { responseBody: body }));
    // 40 records of ~100 KiB = ~4 MB; keep 1.5 MB: a and b go whole (c alone holds ~2 MB), c loses its oldest
    const r = await enforceRetention(store, { policy: { days: 0, mb: 1.5 }, now: NOW, batchSize: 4 });
    expect(r.sessionsDeleted).toBe(2);
    expect(r.storedBytes).toBeLessThanOrEqual(1.5 * 1024 * 1024);
    expect(r.storedBytes).toBeGreaterThan(1.5 * 1024 * 1024 - 4 * body.length - 4096); // no more than one batch too many
    const left = await store.listSessions({ limit: 10 });
    expect(left.map((s) => s.target).sort()).toEqual(["c", "connection"]);
    expect(left.some((s) => s.id === connectionOnly)).toBe(true);
    const kept = (await store.listRequests({ sessionId: c })).map((x) => x.seq);
    expect(kept.length).toBeGreaterThan(10);
    expect(kept.length).toBeLessThan(20);
    expect(kept.at(-1)).toBe(20); // the newest stay
    expect(kept[0]).toBe(21 - kept.length);
    expect((await store.sessionStats([c])).get(c)?.storedBytes).toBe(r.storedBytes);
  });

  it("stays under the limit and does nothing when the store is small", async () => {
    const a = await session(1);
    await store.recordRequests(requests(a, 3, { responseBody: body }));
    expect(await enforceRetention(store, { policy: { days: 14, mb: 200 }, now: NOW })).toMatchObject({ sessionsDeleted: 0, requestsDeleted: 0, batches: 0 });
  });

  it("works in small batches that let other writers in between", async () => {
    const old = await session(30);
    await store.recordRequests(requests(old, 95, { startAt: new Date(NOW.getTime() - 30 * DAY) }));
    const live = await session(0, { open: true });
    let writes = 0;
    const r = await enforceRetention(store, {
      policy: { days: 14, mb: 0 },
      now: NOW,
      batchSize: 10,
      // another writer between every batch: each batch's transaction is already committed
      pause: async () => {
        await store.recordRequests(requests(live, 1, { startSeq: ++writes }));
      },
    });
    expect(r.requestsDeleted).toBe(95);
    expect(r.batches).toBe(10 + 1 + 1); // 10 record batches, 1 event batch, the session row
    expect(writes).toBe(r.batches);
    expect(await store.prisma.requestRecord.count({ where: { sessionId: live } })).toBe(writes);
  });

  it("stops between batches when aborted", async () => {
    const old = await session(30);
    await store.recordRequests(requests(old, 50, { startAt: new Date(NOW.getTime() - 30 * DAY) }));
    const controller = new AbortController();
    const r = await enforceRetention(store, { policy: { days: 14, mb: 0 }, now: NOW, batchSize: 10, signal: controller.signal, pause: () => Promise.resolve(controller.abort()) });
    expect(r.requestsDeleted).toBe(10);
    expect(await store.prisma.session.count()).toBe(1);
  });
});

describe("background retention", () => {
  it("runs after start, on nudge and on demand, and stops cleanly", async () => {
    const old = await session(30);
    await store.recordRequests(requests(old, 3, { startAt: new Date(NOW.getTime() - 30 * DAY) }));
    const lines: string[] = [];
    const runner = startRetention(store, { firstRunMs: 10, nudgeMs: 10, intervalMs: 60_000, env: { GEFYRA_HISTORY_RETENTION_DAYS: "1", GEFYRA_HISTORY_RETENTION_MB: "x" }, log: (l) => lines.push(l) });
    try {
      await expect.poll(() => store.prisma.session.count(), { timeout: 5000 }).toBe(0);
      expect(lines.some((l) => /removed 1 session\(s\), 3 request record\(s\)/.test(l))).toBe(true);
      expect(lines.some((l) => /GEFYRA_HISTORY_RETENTION_MB="x" is not a number/.test(l))).toBe(true);

      await session(5);
      runner.nudge();
      await expect.poll(() => store.prisma.session.count(), { timeout: 5000 }).toBe(0);
      await session(6);
      expect((await runner.runNow()).sessionsDeleted).toBe(1);
    } finally {
      await runner.stop();
    }
  });
});

describe("migration", () => {
  it("adds sizes and figures for records stored before it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-retention-mig-"));
    const onlyInit = path.join(dir, "migrations");
    fs.mkdirSync(onlyInit);
    const names = fs.readdirSync(MIGRATIONS_DIR).filter((n) => fs.existsSync(path.join(MIGRATIONS_DIR, n, "migration.sql"))).sort();
    fs.cpSync(path.join(MIGRATIONS_DIR, names[0]!), path.join(onlyInit, names[0]!), { recursive: true });
    try {
      const before = await openStore({ dataDir: dir, migrationsDir: onlyInit });
      await before.close();
      const db = new Database(path.join(dir, "gefyra.db"));
      db.prepare("INSERT INTO Session (id, kind, startedAt) VALUES ('s1', 'bridge', 1767225600000)").run();
      const insert = db.prepare("INSERT INTO RequestRecord (sessionId, bridge, seq, at, method, path, status, bytesIn, bytesOut, route, responseBody) VALUES ('s1', 'b', ?, 1767225600000, 'GET', '/x', ?, 1, 2, 'local', ?)");
      insert.run(1, 200, Buffer.alloc(1000));
      insert.run(2, 502, null);
      db.close();
      const after = await openStore({ dataDir: dir });
      try {
        const rows = await after.listRequests({ sessionId: "s1" });
        expect(rows.map((r) => r.size)).toEqual(rows.map((r) => recordSize(r)));
        expect((await after.sessionStats(["s1"])).get("s1")).toMatchObject({ requests: 2, errors: 1, bytesIn: 2, bytesOut: 4, storedRequests: 2, storedBytes: rows[0]!.size + rows[1]!.size });
      } finally {
        await after.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
