import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compileFilter, toHar } from "@gefyra/shared";
import { openStore, type Store } from "./index";
import { toTrafficRecord } from "./traffic";

let dir: string;
let store: Store;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-store-traffic-"));
  store = await openStore({ dataDir: dir });
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("stored records as traffic records", () => {
  it("filter and HAR export work on history", async () => {
    const s = await store.startSession({ kind: "bridge", target: "deploy/api" });
    const at = new Date("2026-05-01T08:00:00Z");
    await store.recordRequests([
      {
        sessionId: s.id, bridge: "api-me", seq: 1, at, method: "POST", path: "/api/orders?x=1", status: 503, ttfbMs: 250, durationMs: 300, bytesIn: 2, bytesOut: 5,
        route: "local", kind: "http", port: 8080, client: "10.244.0.5:4000", rule: 'header x-user exact "me"', destination: "192.168.213.2:8080",
        requestHeaders: [["Host", "api"], ["X-User", "me"], ["X-User", "again"]], responseHeaders: { "content-type": "text/plain" },
        requestBody: Buffer.from("{}"), responseBody: Buffer.from("oops!"),
      },
      { sessionId: s.id, bridge: "api-me", seq: 2, at: new Date(at.getTime() + 1000), method: "GET", path: "/health", status: 200, durationMs: 1, route: "cluster", responseBody: Buffer.from([0xff, 0x00, 0x01]), bytesOut: 10 },
      { sessionId: s.id, bridge: "db", seq: 3, at: new Date(at.getTime() + 2000), method: "", path: "", durationMs: 5000, bytesIn: 100, bytesOut: 200, route: "local", kind: "tcp" },
    ]);
    const records = (await store.listRequests({ sessionId: s.id })).map(toTrafficRecord);
    expect(records[0]).toMatchObject({
      seq: 1, kind: "http", port: 8080, method: "POST", status: 503, ttfbMs: 250,
      route: { to: "local", bridge: "api-me", rule: 'header x-user exact "me"', destination: "192.168.213.2:8080" },
      request: { headers: [["Host", "api"], ["X-User", "me"], ["X-User", "again"]], body: { bytes: 2, truncated: false, encoding: "utf8", data: "{}" } },
      response: { headers: [["content-type", "text/plain"]], body: { data: "oops!" } },
    });
    expect(records[1]).toMatchObject({ route: { to: "original" }, response: { body: { bytes: 10, truncated: true, encoding: "base64", data: Buffer.from([0xff, 0x00, 0x01]).toString("base64") } } });
    expect(records[2]).toMatchObject({ kind: "tcp", route: { to: "local", bridge: "db" } });
    expect(records[2]?.method).toBeUndefined();

    expect(records.filter(compileFilter("status:5xx header:x-user=me dur:>200ms")).map((r) => r.seq)).toEqual([1]);
    expect(records.filter(compileFilter("-route:original -kind:tcp")).map((r) => r.seq)).toEqual([1]);
    expect(records.filter(compileFilter("is:truncated")).map((r) => r.seq)).toEqual([2]);
    const har = toHar(records, { version: "1" });
    expect(har.log.entries.map((e) => e.request.url)).toEqual(["http://api/api/orders?x=1", "http://carrier:0/health"]);
    expect(har.log.entries[1]?.response.content).toMatchObject({ encoding: "base64", _truncated: true });
  });
});
