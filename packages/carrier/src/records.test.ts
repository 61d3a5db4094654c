import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AggregateRecord, MissedMessage, RequestRecord } from "./records";
import { openRecords, records, request, startCarrier, startUpstream, TOKEN, type StreamMessage, type TestCarrier, type Upstream } from "./test-support";

let A: Upstream, O: Upstream;
beforeAll(async () => {
  [A, O] = await Promise.all([startUpstream("A"), startUpstream("original")]);
});
afterAll(async () => {
  await Promise.all([A.close(), O.close()]);
});

const auth = { authorization: `Bearer ${TOKEN}` };
const table = ([port]: number[]) => ({
  ports: [{ port: port!, original: O.dest, bridges: [{ name: "alice", local: A.dest, match: [{ kind: "header" as const, name: "x-user", op: "exact" as const, value: "alice" }] }] }],
});
const snapshot = async (c: TestCarrier, since = 0) =>
  (await request(c.control, { path: `/records?since=${since}`, headers: auth })).json<{ oldestSeq: number; nextSeq: number; missed?: MissedMessage; entries: RequestRecord[] }>();

describe("request records", () => {
  let c: TestCarrier;
  beforeAll(async () => {
    c = await startCarrier(table, { records: { bodyCapBytes: 16, redactHeaders: ["X-Api-Key"] } });
  });
  afterAll(() => c.close());

  it("records time, method, path+query, status, timings, bytes, route, headers and capped bodies with secrets redacted", async () => {
    const body = "0123456789abcdefghijklmnopqrstuvwxyz"; // 36 bytes, cap 16
    const r = await request(c.port, {
      method: "POST",
      path: "/echo?x=1",
      headers: { "x-user": "alice", authorization: "Bearer user-secret", cookie: "sid=abc", "x-api-key": "k-123", "x-visible": "yes", "content-type": "text/plain" },
      body,
    });
    expect(r.status).toBe(201);
    const rec = (await snapshot(c)).entries.at(-1)!;
    expect(rec).toMatchObject({
      type: "record",
      kind: "http",
      port: c.port,
      method: "POST",
      path: "/echo?x=1",
      status: 201,
      bytesIn: 36,
      bytesOut: 36,
      route: { to: "local", bridge: "alice", rule: 'header x-user exact "alice"', destination: `127.0.0.1:${A.port}` },
      request: { body: { bytes: 36, truncated: true, encoding: "utf8", data: body.slice(0, 16) } },
      response: { body: { bytes: 36, truncated: true, data: body.slice(0, 16) } },
    });
    expect(rec.error).toBeUndefined();
    expect(Date.parse(rec.time)).toBeGreaterThan(Date.now() - 10_000);
    expect(rec.ttfbMs).toBeGreaterThan(0);
    expect(rec.durationMs).toBeGreaterThanOrEqual(rec.ttfbMs!);
    const reqHeaders = Object.fromEntries(rec.request!.headers.map(([k, v]) => [k.toLowerCase(), v]));
    expect(reqHeaders).toMatchObject({ authorization: "[redacted]", cookie: "[redacted]", "x-api-key": "[redacted]", "x-visible": "yes", "x-user": "alice" });
    expect(JSON.stringify(rec)).not.toMatch(/user-secret|sid=abc|k-123/);

    await request(c.port, { path: "/plain" }); // original, set-cookie in the response
    const plain = (await snapshot(c)).entries.at(-1)!;
    expect(plain.route).toEqual({ to: "original", destination: `127.0.0.1:${O.port}` });
    const resHeaders = Object.fromEntries(plain.response!.headers.map(([k, v]) => [k.toLowerCase(), v]));
    expect(resHeaders["set-cookie"]).toBe("[redacted]");
    expect(JSON.stringify(plain)).not.toContain("secret-upstream-cookie");
  });

  it("records failures with the error and the route that failed", async () => {
    const dead = await startCarrier((ports) => ({ ports: [{ port: ports[0]!, bridges: [{ name: "gone", local: { host: "127.0.0.1", port: 1 } }] }] }));
    try {
      expect((await request(dead.port)).status).toBe(502);
      const rec = (await snapshot(dead)).entries.at(-1)!;
      expect(rec).toMatchObject({ status: 502, route: { to: "local", bridge: "gone" } });
      expect(rec.error).toMatch(/cannot reach the local destination 127\.0\.0\.1:1 of bridge "gone"/);
    } finally {
      await dead.close();
    }
  });

  it("numbers records 1, 2, 3… and streams the rest after ?since= followed by live records", async () => {
    for (let i = 0; i < 5; i++) await request(c.port, { path: `/seq/${i}` });
    const snap = await snapshot(c);
    const seqs = snap.entries.map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const since = seqs.at(-3)!;
    const consumer = await openRecords(c.control, `?since=${since}`);
    await consumer.waitFor((m) => records(m).length === 2);
    expect(consumer.messages[0]).toMatchObject({ type: "hello", instance: expect.any(String) as string, oldestSeq: 1, nextSeq: seqs.at(-1)! + 1 });
    expect(records(consumer.messages).map((r) => r.seq)).toEqual([since + 1, since + 2]);
    await request(c.port, { path: "/live" });
    await consumer.waitFor((m) => records(m).length === 3);
    expect(records(consumer.messages)[2]).toMatchObject({ seq: since + 3, path: "/live" });
    consumer.ws.close();
  });
});

describe("ring buffer and consumers", () => {
  it("tells a consumer how many records it missed when it asks for ones no longer in the buffer", async () => {
    const c = await startCarrier(table, { records: { bufferSize: 5 } });
    try {
      for (let i = 0; i < 12; i++) await request(c.port, { path: `/r${i}` });
      const consumer = await openRecords(c.control, "?since=2");
      await consumer.waitFor((m) => records(m).length === 5);
      const [hello, missed, ...rest] = consumer.messages;
      expect(hello).toMatchObject({ type: "hello", oldestSeq: 8, nextSeq: 13, bufferSize: 5 });
      expect(missed).toEqual({ type: "missed", count: 5, fromSeq: 3, toSeq: 7, reason: "not-in-buffer" });
      expect(rest.map((r) => (r as RequestRecord).seq)).toEqual([8, 9, 10, 11, 12]);
      consumer.ws.close();
      expect((await snapshot(c, 0)).missed).toEqual({ type: "missed", count: 7, fromSeq: 1, toSeq: 7, reason: "not-in-buffer" });
    } finally {
      await c.close();
    }
  });

  it("keeps the ring within its byte budget by evicting the oldest records, and says so", async () => {
    const c = await startCarrier(table, { records: { bufferBytes: 300_000, bodyCapBytes: 64 * 1024 } });
    try {
      for (let i = 0; i < 10; i++) await request(c.port, { path: "/download?bytes=65536" });
      const stats = (await request(c.control, { path: "/stats", headers: auth })).json<{ records: { bytesHeld: number; oldestSeq: number; nextSeq: number } }>().records;
      expect(stats.nextSeq).toBe(11);
      expect(stats.oldestSeq).toBeGreaterThan(1);
      expect(stats.bytesHeld).toBeLessThanOrEqual(300_000);
      const snap = await snapshot(c, 0);
      expect(snap.missed).toMatchObject({ reason: "not-in-buffer", fromSeq: 1, toSeq: stats.oldestSeq - 1 });
      expect(snap.entries.map((e) => e.seq)).toEqual(Array.from({ length: 11 - stats.oldestSeq }, (_, i) => stats.oldestSeq + i));
    } finally {
      await c.close();
    }
  });

  it("above the rate it samples, sends per-second aggregates and counts every dropped record", async () => {
    const c = await startCarrier(table, { records: { maxRatePerSecond: 5, sampleEvery: 4 } });
    try {
      const consumer = await openRecords(c.control, "");
      const N = 60;
      await Promise.all(Array.from({ length: N }, (_, i) => request(c.port, { path: `/burst/${i}` })));
      const aggregates = (m: StreamMessage[]) => m.filter((x): x is AggregateRecord => x.type === "aggregate");
      // every request is accounted for: kept in full, or counted as dropped in an aggregate
      await consumer.waitFor((m) => records(m).length + aggregates(m).reduce((n, a) => n + a.dropped, 0) === N, 4000);
      const aggs = aggregates(consumer.messages);
      expect(aggs.length).toBeGreaterThanOrEqual(1);
      const dropped = aggs.reduce((n, a) => n + a.dropped, 0);
      expect(dropped).toBeGreaterThan(0);
      for (const a of aggs) {
        expect(a.count).toBe(a.kept + a.dropped);
        expect(a.count).toBeGreaterThan(5);
        expect(a.latencyMs.p50).toBeLessThanOrEqual(a.latencyMs.p99);
        expect(a.latencyMs.p99).toBeLessThanOrEqual(a.latencyMs.max);
        expect(a.bytesOut).toBeGreaterThan(0);
      }
      expect(records(consumer.messages).some((r) => r.sampled)).toBe(true);
      expect(((await request(c.control, { path: "/stats", headers: auth })).json<{ records: { dropped: number } }>()).records.dropped).toBe(dropped);
      consumer.ws.close();
    } finally {
      await c.close();
    }
  });

  it("a consumer that stops reading is told how many it lost; Carrier keeps only a bounded backlog for it", async () => {
    const c = await startCarrier(table, { records: { consumerQueue: 10, consumerHighWaterBytes: 1024, bodyCapBytes: 64 * 1024, bufferSize: 1000, maxRatePerSecond: 100_000 } });
    try {
      const consumer = await openRecords(c.control, "");
      const raw = (consumer.ws as unknown as { _socket: Socket })._socket;
      raw.pause(); // a consumer that does not read: the kernel buffers fill, then Carrier's high-water mark
      for (let i = 0; i < 300; i++) await request(c.port, { path: "/download?bytes=65536" });
      raw.resume();
      await consumer.waitFor((m) => m.some((x) => x.type === "missed"), 10_000);
      const missed = consumer.messages.find((x): x is MissedMessage => x.type === "missed")!;
      expect(missed.reason).toBe("slow-consumer");
      expect(missed.count).toBeGreaterThan(0);
      // what arrived plus what it was told it missed covers every record, in order, no duplicates
      await consumer.waitFor((m) => {
        const got = records(m).length + m.filter((x): x is MissedMessage => x.type === "missed").reduce((n, x) => n + x.count, 0);
        return got === 300;
      }, 10_000);
      const seqs = records(consumer.messages).map((r) => r.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      consumer.ws.close();
    } finally {
      await c.close();
    }
  });
});
