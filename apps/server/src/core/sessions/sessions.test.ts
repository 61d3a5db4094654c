import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../store";
import { GefyraError } from "../errors";
import { openSession, streamOperation, type OperationEvent } from "./index";

let dir: string;
let store: Store;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-sessions-"));
  store = await openStore({ dataDir: dir });
});
afterAll(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function collect<P, R>(it: AsyncGenerator<OperationEvent<P, R>>): Promise<Array<OperationEvent<P, R>>> {
  const out: Array<OperationEvent<P, R>> = [];
  for await (const e of it) out.push(e);
  return out;
}

describe("streamOperation", () => {
  it("yields progress then done, and records them in the session", async () => {
    const events = await collect(
      streamOperation<{ step: string }, number>({
        run: (progress) => {
          progress({ step: "one" });
          progress({ step: "two" });
          return Promise.resolve(42);
        },
        session: () => openSession(store, { kind: "connection", context: "dev", target: "alice" }),
        describeProgress: (p) => ({ type: `up.${p.step}`, message: p.step }),
        describeResult: (r) => ({ type: "up", message: `answer ${r}` }),
      }),
    );
    expect(events.map((e) => e.type)).toEqual(["progress", "progress", "done"]);
    const done = events.at(-1);
    expect(done).toMatchObject({ type: "done", result: 42 });
    const id = done?.type === "done" ? (done.sessionId ?? "") : "";
    expect((await store.listSessionEvents(id)).map((e) => e.type)).toEqual(["up.one", "up.two", "up"]);
    // a later operation on the same connection continues the open session, and may end it
    await collect(
      streamOperation<never, null>({
        run: () => Promise.resolve(null),
        session: () => openSession(store, { kind: "connection", context: "dev", target: "alice" }),
        describeResult: () => ({ type: "down", message: "down", endSession: "down" }),
      }),
    );
    const [session] = await store.listSessions({ kind: "connection" });
    expect(session).toMatchObject({ id, stopReason: "down" });
  });

  it("turns a failure into an error event with the one-line sentence and ends the session", async () => {
    const events = await collect(
      streamOperation<never, never>({
        run: () => Promise.reject(new GefyraError("DOCKER_UNAVAILABLE", "Docker is not running: start Docker and retry.")),
        session: () => openSession(store, { kind: "run", target: "app" }),
      }),
    );
    expect(events).toMatchObject([{ type: "error", error: { code: "DOCKER_UNAVAILABLE", message: "Docker is not running: start Docker and retry." } }]);
    const session = (await store.listSessions({ kind: "run" }))[0];
    expect(session?.stopReason).toBe("failed: Docker is not running: start Docker and retry.");
  });

  it("aborts the operation when the consumer goes away", async () => {
    let aborted = false;
    const it = streamOperation<string, void>({
      run: (progress, signal) =>
        new Promise((_, reject) => {
          progress("started");
          signal.addEventListener("abort", () => {
            aborted = true;
            reject(new Error("aborted"));
          });
        }),
    });
    expect((await it.next()).value).toMatchObject({ type: "progress", progress: "started" });
    await it.return(undefined);
    expect(aborted).toBe(true);
  });
});
