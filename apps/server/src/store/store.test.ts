import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GefyraError } from "../core/errors";
import { openStore, resolveDataDir, type Store } from "./index";
import { MIGRATIONS_DIR } from "./paths";

let dataDir: string;
const opened: Store[] = [];

beforeEach(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-store-"));
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function open(dir = dataDir): Promise<Store> {
  const store = await openStore({ dataDir: dir });
  opened.push(store);
  return store;
}

function migrationNames(): string[] {
  return fs.readdirSync(MIGRATIONS_DIR).filter((n) => fs.existsSync(path.join(MIGRATIONS_DIR, n, "migration.sql"))).sort();
}

describe("store", () => {
  it("applies every migration to a new file, in WAL mode, with Prisma-compatible bookkeeping", async () => {
    const store = await open();
    expect(store.file).toBe(path.join(dataDir, "gefyra.db"));
    const db = new Database(store.file, { readonly: true });
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      const rows = db.prepare("SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY migration_name").all() as {
        migration_name: string;
        finished_at: string | null;
      }[];
      expect(rows.map((r) => r.migration_name)).toEqual(migrationNames());
      expect(rows.every((r) => r.finished_at)).toBe(true);
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type='table'").all() as { name: string }[]).map((t) => t.name);
      expect(tables).toEqual(expect.arrayContaining(["Session", "SessionEvent", "RequestRecord", "Profile", "Setting"]));
    } finally {
      db.close();
    }
  });

  it("keeps sessions and their events across a reopen, and applies nothing twice", async () => {
    const first = await open();
    const session = await first.startSession({ kind: "bridge", context: "dev", namespace: "shop", target: "deploy/api", user: "me" });
    await first.recordSessionEvent(session.id, { type: "progress", message: "patching pods", data: { pods: 2 } });
    await first.endSession(session.id, "user stopped");
    await first.close();
    opened.splice(opened.indexOf(first), 1);

    const second = await open();
    const sessions = await second.listSessions();
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ id: session.id, kind: "bridge", target: "deploy/api", stopReason: "user stopped" });
    expect(sessions[0]?.endedAt).toBeInstanceOf(Date);
    const events = await second.listSessionEvents(session.id);
    expect(events.map((e) => [e.type, e.message, e.data])).toEqual([["progress", "patching pods", '{"pods":2}']]);
    const db = new Database(second.file, { readonly: true });
    try {
      expect(db.prepare("SELECT count(*) AS n FROM _prisma_migrations").get()).toEqual({ n: migrationNames().length });
    } finally {
      db.close();
    }
  });

  it("refuses a corrupt file with a one-line error and leaves the file as it was", async () => {
    const file = path.join(dataDir, "gefyra.db");
    const garbage = Buffer.from("this is not an sqlite database, just some bytes ".repeat(200));
    fs.writeFileSync(file, garbage);
    const error = await openStore({ dataDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GefyraError);
    expect((error as GefyraError).code).toBe("STORE_CORRUPT");
    expect((error as GefyraError).message).toContain(file);
    expect((error as GefyraError).message).toMatch(/move it aside/);
    expect((error as GefyraError).message).not.toContain("\n");
    expect(fs.readFileSync(file).equals(garbage)).toBe(true);
  });

  it("refuses a store migrated by a newer version, without touching it", async () => {
    const store = await open();
    await store.close();
    opened.splice(0);
    const db = new Database(path.join(dataDir, "gefyra.db"));
    db.prepare(
      "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count) VALUES ('x', 'abc', '29990101000000_from_the_future', '2999-01-01', '2999-01-01', 1)",
    ).run();
    db.close();
    const error = await openStore({ dataDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GefyraError);
    expect((error as GefyraError).code).toBe("STORE_TOO_NEW");
    expect((error as GefyraError).message).toMatch(/newer gefyra-ts .*29990101000000_from_the_future.*upgrade gefyra-ts/);
  });

  it("stores request records idempotently, profiles and settings", async () => {
    const store = await open();
    const session = await store.startSession({ kind: "bridge", target: "deploy/api" });
    const record = {
      sessionId: session.id,
      bridge: "api-me",
      seq: 1,
      at: new Date("2026-01-01T00:00:00Z"),
      method: "GET",
      path: "/v2/items",
      status: 200,
      ttfbMs: 3.5,
      durationMs: 4.25,
      bytesOut: 12,
      route: "local" as const,
      requestHeaders: { "x-user": "me" },
      responseBody: Buffer.from("hello"),
    };
    expect(await store.recordRequests([record, { ...record, seq: 2, path: "/v2/other", route: "cluster" as const }])).toBe(2);
    expect(await store.recordRequests([{ ...record, path: "/replayed" }])).toBe(0);
    const requests = await store.listRequests({ bridge: "api-me" });
    expect(requests.map((r) => [r.seq, r.path, r.route])).toEqual([
      [1, "/v2/items", "local"],
      [2, "/v2/other", "cluster"],
    ]);
    expect(Buffer.from(requests[0]?.responseBody ?? []).toString()).toBe("hello");
    expect(JSON.parse(requests[0]?.requestHeaders ?? "null")).toEqual({ "x-user": "me" });
    expect((await store.listRequests({ sessionId: session.id, afterSeq: 1 })).map((r) => r.seq)).toEqual([2]);

    await store.saveProfile({ name: "api-v2", spec: { target: "deploy/api" } });
    await store.saveProfile({ name: "api-v2", description: "mine", spec: { target: "deploy/api", port: "8080:80" } });
    const profiles = await store.listProfiles();
    expect(profiles).toHaveLength(1);
    expect(profiles[0]).toMatchObject({ name: "api-v2", description: "mine" });
    expect(JSON.parse(profiles[0]?.spec ?? "{}")).toEqual({ target: "deploy/api", port: "8080:80" });
    expect(await store.deleteProfile("api-v2")).toBe(true);
    expect(await store.deleteProfile("api-v2")).toBe(false);

    expect(await store.getSetting("theme")).toBeNull();
    await store.setSetting("theme", "dark");
    await store.setSetting("theme", "light");
    expect(await store.getSetting("theme")).toBe("light");
  });

  it("resolves the data dir from the option, GEFYRA_DATA_DIR, then XDG_DATA_HOME", () => {
    expect(resolveDataDir("/x/y", {})).toBe("/x/y");
    expect(resolveDataDir(undefined, { GEFYRA_DATA_DIR: "/d" })).toBe("/d");
    expect(resolveDataDir(undefined, { XDG_DATA_HOME: "/xdg" })).toBe("/xdg/gefyra-ts");
    expect(resolveDataDir(undefined, {})).toBe(path.join(os.homedir(), ".local", "share", "gefyra-ts"));
  });
});
