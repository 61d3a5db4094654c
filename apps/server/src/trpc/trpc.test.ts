import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../store";
import { createCaller, createContextFactory } from "./index";

let dir: string;
let store: Store;
let caller: ReturnType<typeof createCaller>;
let makeContext: ReturnType<typeof createContextFactory>;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-trpc-"));
  store = await openStore({ dataDir: dir });
  makeContext = createContextFactory({ store, version: "9.9.9", startedAt: Date.now() - 1000, kube: { env: { KUBECONFIG: path.join(dir, "none") } } }, "http");
  caller = createCaller(makeContext());
});
afterAll(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("tRPC routers", () => {
  it("health.info reports version and uptime", async () => {
    const info = await caller.health.info();
    expect(info.version).toBe("9.9.9");
    expect(info.uptimeMs).toBeGreaterThanOrEqual(1000);
  });

  it("health.ticks yields until its signal aborts", async () => {
    const controller = new AbortController();
    const ticks = await createCaller(makeContext(), { signal: controller.signal }).health.ticks({ intervalMs: 50 });
    const seen: string[] = [];
    for await (const tick of ticks) {
      if ("stream" in tick) continue;
      seen.push(tick.at);
      if (seen.length === 2) controller.abort();
    }
    expect(seen).toHaveLength(2);
  });

  it("contexts.list is empty without a kubeconfig", async () => {
    expect(await caller.contexts.list()).toMatchObject({ files: [], contexts: [], currentContext: null });
  });

  it("sessions.list returns sessions from the store, newest first, with ISO dates", async () => {
    const older = await store.startSession({ kind: "connection", context: "dev" });
    await new Promise((r) => setTimeout(r, 5));
    const newer = await store.startSession({ kind: "bridge", context: "dev", namespace: "shop", target: "deploy/api" });
    await store.endSession(older.id, "user stopped");
    const all = await caller.sessions.list();
    expect(all.map((s) => s.id)).toEqual([newer.id, older.id]);
    expect(all[1]).toMatchObject({ kind: "connection", stopReason: "user stopped" });
    expect(typeof all[1]?.endedAt).toBe("string");
    expect((await caller.sessions.list({ kind: "bridge" })).map((s) => s.id)).toEqual([newer.id]);
    expect((await caller.sessions.list({ activeOnly: true })).map((s) => s.id)).toEqual([newer.id]);
  });
});
