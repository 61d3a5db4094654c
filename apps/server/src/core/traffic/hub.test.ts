import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bridgeGroupId, type TrafficRecord } from "@gefyra/shared";
import type { BridgeInfo } from "../bridge";
import { openStore, type Store } from "../../store";
import type { PodCursor, PodStreamEvent } from "./carrier-stream";
import { TrafficHub, type HubSource } from "./hub";
import { TrafficIngest } from "./ingest";
import type { TrafficEvent } from "./types";

// ---- test doubles ------------------------------------------------------------------------------

/** A pod's Carrier as the hub sees it: a buffer of records and the stream events fed to the hub. */
class FakeCarrier {
  readonly records: Array<TrafficRecord & { type: "record" }> = [];
  readonly streams = new Set<{ push: (e: PodStreamEvent) => void; end: () => void }>();
  readonly opened: Array<PodCursor | undefined> = [];
  constructor(public instance = "i-1") {}

  add(r: Partial<TrafficRecord>): TrafficRecord & { type: "record" } {
    const rec = { type: "record" as const, seq: this.records.length + 1, kind: "http" as const, port: 8080, time: new Date().toISOString(), client: "10.0.0.9:1", method: "GET", path: "/", status: 200, ttfbMs: 1, durationMs: 2, bytesIn: 0, bytesOut: 2, route: null, ...r };
    this.records.push(rec);
    for (const s of this.streams) s.push(rec);
    return rec;
  }
}

function fakeSource() {
  let publish: (b: BridgeInfo[]) => void = () => undefined;
  const carriers = new Map<string, FakeCarrier>();
  const tokens: string[] = [];
  const source: HubSource = {
    watchBridges(onChange) {
      publish = onChange;
      return () => undefined;
    },
    token(group) {
      tokens.push(group);
      return Promise.resolve("t0ken-of-the-group");
    },
    async *podEvents(pod, token, cursor, signal) {
      await token();
      const carrier = carriers.get(pod.name)!;
      carrier.opened.push(cursor);
      const queue: PodStreamEvent[] = [];
      let wake: (() => void) | null = null;
      let ended = false;
      const handle = { push: (e: PodStreamEvent) => (queue.push(e), wake?.()), end: () => ((ended = true), wake?.()) };
      const since = cursor && cursor.instance === carrier.instance ? cursor.seq : 0;
      const hello = { type: "hello" as const, instance: carrier.instance, oldestSeq: 1, nextSeq: carrier.records.length + 1, bufferSize: 100, maxRatePerSecond: 200 };
      queue.push({ type: "connected", hello, resumedFrom: since, restarted: false });
      queue.push(...carrier.records.filter((r) => r.seq > since));
      queue.push({ type: "caught-up", seq: carrier.records.length });
      carrier.streams.add(handle);
      signal.addEventListener("abort", () => handle.end(), { once: true });
      try {
        while (!signal.aborted) {
          const e = queue.shift();
          if (e) yield e;
          else if (ended) return;
          else await new Promise<void>((r) => (wake = r));
        }
      } finally {
        carrier.streams.delete(handle);
      }
    },
  };
  return {
    source,
    tokens,
    carrier: (pod: string, instance?: string) => {
      const c = new FakeCarrier(instance);
      carriers.set(pod, c);
      return c;
    },
    publish: (b: BridgeInfo[]) => publish(b),
  };
}

function bridgeInfo(name: string, pods: Array<[string, boolean]>, over: Partial<BridgeInfo> = {}): BridgeInfo {
  return {
    name,
    connection: "me",
    namespace: "shop",
    target: { kind: "deployment", name: "api", container: "app" },
    ports: [{ remote: 8080, local: 8080 }],
    match: [{ kind: "header", name: "x-user", op: "exact", value: name }],
    local: `${name}-local`,
    state: "Active",
    pods: pods.map(([n, ready]) => ({ name: n, ready })),
    createdAt: new Date().toISOString(),
    ...over,
  };
}

const until = async (what: string, probe: () => boolean, ms = 3000) => {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

// ---- tests ---------------------------------------------------------------------------------------

describe("TrafficHub", () => {
  let hub: TrafficHub | undefined;
  afterEach(async () => hub?.close());

  it("merges the pods of a group, attributes records to the bridge that took them (or all of the group), and follows a rollout", async () => {
    const fake = fakeSource();
    const a = fake.carrier("api-1");
    const b = fake.carrier("api-2");
    a.add({ path: "/before", route: { to: "local", bridge: "alice" } });
    hub = new TrafficHub({ context: "dev", source: fake.source, batchMs: 5, leaveGraceMs: 50 }).start();
    const events: TrafficEvent[] = [];
    const onlyBob: TrafficEvent[] = [];
    hub.subscribe({}, (e) => events.push(e));
    hub.subscribe({ bridge: "bob" }, (e) => onlyBob.push(e));
    fake.publish([bridgeInfo("alice", [["api-1", true], ["api-2", true]]), bridgeInfo("bob", [["api-1", true], ["api-2", true]])]);
    expect(await hub.waitCaughtUp(2000)).toBe(true);
    b.add({ path: "/bob", route: { to: "local", bridge: "bob" } });
    a.add({ path: "/anyone", route: { to: "original" } });
    const records = () => events.flatMap((e) => (e.type === "records" ? e.records : []));
    await until("3 records", () => records().length === 3);
    expect(records().map((r) => [r.path, r.bridge, r.bridges, r.pod, r.carrierSeq])).toEqual([
      ["/before", "alice", ["alice"], "api-1", 1],
      ["/bob", "bob", ["bob"], "api-2", 1],
      ["/anyone", "", ["alice", "bob"], "api-1", 2],
    ]);
    expect(onlyBob.flatMap((e) => (e.type === "records" ? e.records.map((r) => r.path) : []))).toEqual(["/bob", "/anyone"]);
    expect(fake.tokens).toEqual([bridgeGroupId({ namespace: "shop", kind: "deployment", name: "api", container: "app" }), bridgeGroupId({ namespace: "shop", kind: "deployment", name: "api", container: "app" })]);

    // rollout: api-2 leaves, api-3 comes (first not ready: Carrier is being configured, then ready)
    const c = fake.carrier("api-3");
    fake.publish([bridgeInfo("alice", [["api-1", true], ["api-3", false]]), bridgeInfo("bob", [["api-1", true], ["api-3", false]])]);
    await until("api-2 leaving", () => hub!.status().bridges[0]!.pods.some((p) => p.name === "api-2" && p.state === "leaving"));
    expect(hub.status().bridges[0]!.pods.find((p) => p.name === "api-3")).toMatchObject({ state: "connecting" });
    b.add({ path: "/last-of-api-2", route: { to: "local", bridge: "alice" } });
    await until("api-2's last record", () => records().some((r) => r.path === "/last-of-api-2"));
    await until("api-2 gone", () => !hub!.status().bridges[0]!.pods.some((p) => p.name === "api-2"));
    fake.publish([bridgeInfo("alice", [["api-1", true], ["api-3", true]]), bridgeInfo("bob", [["api-1", true], ["api-3", true]])]);
    c.add({ path: "/new-pod", route: { to: "local", bridge: "alice" } });
    await until("api-3's record", () => records().some((r) => r.path === "/new-pod" && r.pod === "api-3"));
    expect(hub.status().bridges.find((x) => x.name === "alice")!.counts.records).toBe(4);
  });

  it("counts Carrier's samples, aggregates and missed ranges per bridge, never silently", async () => {
    const fake = fakeSource();
    const a = fake.carrier("api-1");
    hub = new TrafficHub({ context: "dev", source: fake.source, batchMs: 5 }).start();
    const aggregates: TrafficEvent[] = [];
    hub.subscribe({}, (e) => e.type === "aggregate" && aggregates.push(e));
    fake.publish([bridgeInfo("alice", [["api-1", true]])]);
    await hub.waitCaughtUp(2000);
    a.add({ sampled: true, route: { to: "local", bridge: "alice" } });
    for (const s of a.streams) {
      s.push({ type: "aggregate", seq: 2, time: new Date().toISOString(), windowMs: 1000, count: 500, errors: 3, bytesIn: 0, bytesOut: 0, latencyMs: { p50: 1, p90: 2, p99: 3, max: 4 }, kept: 50, dropped: 450 });
      s.push({ type: "missed", count: 7, fromSeq: 3, toSeq: 9, reason: "slow-consumer" });
    }
    await until("counts", () => hub!.status().bridges[0]!.counts.missed === 7);
    expect(hub.status().bridges[0]!.counts).toEqual({ records: 1, sampled: 1, dropped: 450, missed: 7, notStored: 0 });
    expect(aggregates).toHaveLength(1);
  });

  it("follows only the bridges it is told to, and lets go of one when the answer changes", async () => {
    const fake = fakeSource();
    const a = fake.carrier("api-1");
    const o = fake.carrier("other-1");
    let mine = new Set(["me"]);
    hub = new TrafficHub({ context: "dev", source: fake.source, batchMs: 5, leaveGraceMs: 20, follows: (b) => mine.has(b.connection) }).start();
    const other = bridgeInfo("bob", [["other-1", true]], { connection: "someone-else", target: { kind: "deployment", name: "web", container: "app" } });
    fake.publish([bridgeInfo("alice", [["api-1", true]]), other]);
    await hub.waitCaughtUp(2000);
    expect(hub.status().bridges.map((b) => b.name)).toEqual(["alice"]);
    expect(o.opened).toHaveLength(0); // nobody asked the other developer's Carrier
    mine = new Set(["me", "someone-else"]);
    hub.refollow();
    await until("bob followed", () => o.opened.length === 1);
    mine = new Set(["someone-else"]);
    hub.refollow();
    await until("alice let go", () => a.streams.size === 0);
    expect(hub.status().bridges.map((b) => b.name)).toEqual(["bob"]);
  });

  it("keeps a bounded ring for details and backlogs", async () => {
    const fake = fakeSource();
    const a = fake.carrier("api-1");
    hub = new TrafficHub({ context: "dev", source: fake.source, batchMs: 5, ringSize: 10 }).start();
    fake.publish([bridgeInfo("alice", [["api-1", true]])]);
    await hub.waitCaughtUp(2000);
    for (let i = 0; i < 25; i++) a.add({ path: `/r${i}`, route: { to: "local", bridge: "alice" } });
    await until("25 records", () => hub!.status().bridges[0]!.counts.records === 25);
    const recent = hub.recent({}, 100);
    expect(recent.map((r) => r.path)).toEqual(Array.from({ length: 10 }, (_, i) => `/r${i + 15}`));
    expect(hub.find(recent[0]!.id)?.path).toBe("/r15");
    expect(hub.find("L1")).toBeUndefined();
    const backlog: TrafficEvent[] = [];
    hub.subscribe({ backlog: 3 }, (e) => backlog.push(e));
    expect(backlog[0]).toMatchObject({ type: "records", records: [{ path: "/r22" }, { path: "/r23" }, { path: "/r24" }] });
  });
});

describe("TrafficIngest with the hub", () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-traffic-ingest-"));
    store = await openStore({ dataDir: dir });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("leads a live id whose record left the ring to its stored copy", async () => {
    const session = await store.startSession({ kind: "bridge", context: "dev", namespace: "shop", target: "alice" });
    const fake = fakeSource();
    const a = fake.carrier("api-1");
    const ingest = new TrafficIngest({ store, context: "dev", flushMs: 5 });
    const hub = new TrafficHub({ context: "dev", source: fake.source, ingest, batchMs: 5, ringSize: 3 }).start();
    try {
      fake.publish([bridgeInfo("alice", [["api-1", true]])]);
      await hub.waitCaughtUp(2000);
      await until("recording", () => hub.status().bridges[0]!.recording);
      const ids: string[] = [];
      hub.subscribe({}, (e) => e.type === "records" && ids.push(...e.records.map((r) => r.id)));
      for (let i = 0; i < 6; i++) a.add({ path: `/r${i}`, route: { to: "local", bridge: "alice" } });
      await until("6 records", () => ids.length === 6);
      await ingest.flush();
      expect(hub.find(ids[0]!)).toBeUndefined();
      const at = hub.storedAs(ids[0]!)!;
      expect(at.sessionId).toBe(session.id);
      expect((await store.listRequests({ sessionId: session.id })).find((r) => r.seq === at.seq)?.path).toBe("/r0");
      expect(hub.storedAs(ids[5]!)).toBeUndefined(); // still held
    } finally {
      await hub.close();
    }
  });

  it("stores records under the bridge's open session with figures, and a second process only shows them until the first lets go; it then resumes from the cursor without duplicates", async () => {
    const session = await store.startSession({ kind: "bridge", context: "dev", namespace: "shop", target: "alice" });
    const fake = fakeSource();
    const a = fake.carrier("api-1");
    for (let i = 0; i < 3; i++) a.add({ path: `/a${i}`, status: i === 2 ? 503 : 200, durationMs: 10 + i, route: { to: "local", bridge: "alice" } });

    const ingest1 = new TrafficIngest({ store, context: "dev", flushMs: 5, renewMs: 50, leaseMs: 300 });
    const hub1 = new TrafficHub({ context: "dev", source: fake.source, ingest: ingest1, batchMs: 5 }).start();
    fake.publish([bridgeInfo("alice", [["api-1", true]])]);
    await hub1.waitCaughtUp(2000);
    await until("recording", () => hub1.status().bridges[0]!.recording);
    await ingest1.flush();
    expect(hub1.status().bridges[0]!.sessionId).toBe(session.id);
    let rows = await store.listRequests({ sessionId: session.id });
    expect(rows.map((r) => [r.seq, r.path, r.status, r.route, r.bridge])).toEqual([
      [1, "/a0", 200, "local", "alice"],
      [2, "/a1", 200, "local", "alice"],
      [3, "/a2", 503, "local", "alice"],
    ]);
    const stats = (await store.sessionStats([session.id])).get(session.id)!;
    expect(stats).toMatchObject({ requests: 3, errors: 1 });

    // a second process (the CLI while the dashboard runs) shows, but does not write
    const holder: { hub?: TrafficHub } = {};
    const ingest2 = new TrafficIngest({ store, context: "dev", flushMs: 5, renewMs: 50, leaseMs: 300, onRecordingGained: (b) => holder.hub?.rewind(b) });
    const hub2 = (holder.hub = new TrafficHub({ context: "dev", source: fake.source, ingest: ingest2, batchMs: 5 }).start());
    const shown: string[] = [];
    hub2.subscribe({}, (e) => e.type === "records" && shown.push(...e.records.map((r) => r.path!)));
    fake.publish([bridgeInfo("alice", [["api-1", true]])]);
    await hub2.waitCaughtUp(2000);
    expect(hub2.status().bridges[0]).toMatchObject({ recording: false, sessionId: session.id });
    expect(hub2.status().bridges[0]!.recordingMessage).toMatch(/another gefyra process .* records these requests/);
    a.add({ path: "/b", route: { to: "local", bridge: "alice" } });
    await until("both show /b", () => shown.includes("/b") && hub1.recent().some((r) => r.path === "/b"));
    await ingest1.flush();
    await ingest2.flush();
    expect((await store.listRequests({ sessionId: session.id })).length).toBe(4);

    // the first stops; records arrive meanwhile; the second takes over from the saved cursor
    await hub1.close();
    a.add({ path: "/c", route: { to: "local", bridge: "alice" } });
    await until("second records", () => hub2.status().bridges[0]!.recording, 3000);
    await until("/c asked for again", () => a.opened.length >= 3);
    await hub2.waitCaughtUp(2000);
    await ingest2.flush();
    rows = await store.listRequests({ sessionId: session.id });
    expect(a.opened.at(-1)).toEqual({ instance: "i-1", seq: 4 });
    expect(rows.map((r) => r.path)).toEqual(["/a0", "/a1", "/a2", "/b", "/c"]);
    expect(new Set(rows.map((r) => r.seq)).size).toBe(5);
    expect(shown.filter((p) => p === "/c")).toHaveLength(1); // the rewind shows nothing twice
    await hub2.close();
    // the lease is given back on close
    expect(await store.getSetting(`traffic.lease.${session.id}`)).toBeNull();
  });

  it("opens a session for a bridge started elsewhere, and ends it when the bridge is gone", async () => {
    const fake = fakeSource();
    const a = fake.carrier("api-1");
    const ingest = new TrafficIngest({ store, context: "dev", flushMs: 5 });
    const hub = new TrafficHub({ context: "dev", source: fake.source, ingest, batchMs: 5, detachGraceMs: 20 }).start();
    fake.publish([bridgeInfo("carol", [["api-1", true]])]);
    await hub.waitCaughtUp(2000);
    a.add({ path: "/x", route: { to: "local", bridge: "carol" } });
    await until("recorded", () => hub.status().bridges[0]?.counts.records === 1);
    const sessionId = hub.status().bridges[0]!.sessionId!;
    fake.publish([]);
    await until("ended", () => false, 200).catch(() => undefined);
    const [s] = (await store.listSessions({ kind: "bridge" })).filter((x) => x.id === sessionId);
    expect(s).toMatchObject({ target: "carol", namespace: "shop", context: "dev", stopReason: "bridge removed" });
    expect((await store.listRequests({ sessionId })).map((r) => r.path)).toEqual(["/x"]);
    await hub.close();
  });

  it("bounds what waits for the store and counts what it could not keep", async () => {
    await store.startSession({ kind: "bridge", context: "dev", target: "alice" });
    const ingest = new TrafficIngest({ store, context: "dev", flushMs: 10_000, batchSize: 10_000, maxPending: 5 });
    await ingest.attach({ name: "alice", namespace: "shop", target: "deployment/api/app" });
    const rec = (seq: number): TrafficRecord => ({ seq, kind: "http", port: 8080, time: new Date().toISOString(), client: "", method: "GET", path: `/${seq}`, status: 200, ttfbMs: 1, durationMs: 1, bytesIn: 0, bytesOut: 0, route: { to: "local", bridge: "alice" } });
    for (let i = 1; i <= 8; i++) ingest.accept("alice", "api-1", "i-1", rec(i));
    expect(ingest.accept("alice", "api-1", "i-1", rec(8))).toBeUndefined(); // a duplicate
    await ingest.flush();
    expect(ingest.state("alice").notStored).toBe(3);
    await ingest.close();
  });
});
