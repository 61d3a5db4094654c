import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_PROFILE_PLURAL, CRD_GROUP, CRD_VERSION, NAMESPACE, PROFILE_PUBLISHED_BY_ANNOTATION } from "@gefyra/shared";
import { openStore, type Store } from "../../store";
import { isStreamMarker } from "../backpressure";
import { createCaller, createContextFactory } from "../index";
import { stopProfileWatches, type ProfilesMessage } from "./profiles";

const spec = (image: string) => ({
  target: { namespace: "shop", workload: "deploy/api/app" },
  ports: [{ remote: 8080, local: 8080 }],
  rules: [],
  local: { image, env: {}, ports: [] },
});
const object = (name: string, rv: string, image: string, by = "bob@laptop") => ({
  apiVersion: `${CRD_GROUP}/${CRD_VERSION}`,
  kind: "BridgeProfile",
  metadata: { name, namespace: NAMESPACE, resourceVersion: rv, uid: `uid-${name}`, creationTimestamp: "2025-01-01T00:00:00Z", annotations: { [PROFILE_PUBLISHED_BY_ANNOTATION]: by } },
  spec: spec(image),
});

/** A fake API server: discovery, a BridgeProfile list with one object, a watch the test writes events into, and GET of that object. */
async function fakeApiServer() {
  let current = object("team-api", "10", "api:1");
  const watchers = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    res.setHeader("Content-Type", "application/json");
    const p = url.pathname;
    const list = `/apis/${CRD_GROUP}/${CRD_VERSION}/namespaces/${NAMESPACE}/${BRIDGE_PROFILE_PLURAL}`;
    if (p === "/version") return res.end(JSON.stringify({ gitVersion: "v1.34.0" }));
    if (p === "/api") return res.end(JSON.stringify({ kind: "APIVersions", versions: ["v1"] }));
    if (p === list && url.searchParams.get("watch") === "true") {
      res.writeHead(200);
      res.flushHeaders();
      watchers.add(res);
      res.on("close", () => watchers.delete(res));
      return;
    }
    if (p === list) return res.end(JSON.stringify({ kind: "BridgeProfileList", metadata: { resourceVersion: current.metadata.resourceVersion }, items: [current] }));
    if (p === `${list}/team-api` && req.method === "GET") return res.end(JSON.stringify(current));
    res.writeHead(404);
    res.end(JSON.stringify({ kind: "Status", code: 404, message: "not found", details: { name: p.split("/").at(-1) } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    /** A teammate publishes a new version: the watch says so. */
    edit(image: string, rv: string) {
      current = object("team-api", rv, image);
      for (const w of watchers) w.write(`${JSON.stringify({ type: "MODIFIED", object: current })}\n`);
    },
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

let dir: string;
let store: Store;
let api: Awaited<ReturnType<typeof fakeApiServer>>;
let caller: ReturnType<typeof createCaller>;
let makeContext: ReturnType<typeof createContextFactory>;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-trpc-profiles-"));
  api = await fakeApiServer();
  const kubeconfig = path.join(dir, "kubeconfig");
  fs.writeFileSync(
    kubeconfig,
    `apiVersion: v1\ncurrent-context: dev\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:${api.port}', insecure-skip-tls-verify: true}\n- name: gone\n  cluster: {server: 'https://127.0.0.1:9'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: dev\n  context: {cluster: c, user: u}\n- name: away\n  context: {cluster: gone, user: u}\n`,
  );
  store = await openStore({ dataDir: dir });
  makeContext = createContextFactory({ store, version: "0", startedAt: Date.now(), kube: { env: { KUBECONFIG: kubeconfig } } }, "http");
  caller = createCaller(makeContext());
});
afterEach(() => stopProfileWatches());
afterAll(async () => {
  await store.close();
  await api.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const file = (name: string, image = "api:dev") => ({ apiVersion: "gefyra-ts.dev/v1alpha1", kind: "BridgeProfile", metadata: { name }, spec: spec(image) });

/** Every message of a subscription, as it arrives (read in the background until the signal aborts). */
function collect(iterable: AsyncIterable<unknown>): ProfilesMessage[] {
  const seen: ProfilesMessage[] = [];
  void (async () => {
    for await (const m of iterable) if (!isStreamMarker(m)) seen.push(m as ProfilesMessage);
  })().catch(() => undefined);
  return seen;
}

/** The first message from now on (or already seen) for which `until` holds. */
async function next(seen: ProfilesMessage[], until: (m: ProfilesMessage) => boolean, what: string): Promise<ProfilesMessage> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = seen.findLast(until);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no message with ${what} within 10 s; last: ${JSON.stringify(seen.at(-1))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("profiles router", () => {
  it("checks a form's profile with the schema's messages per field, and refuses to save an invalid one", async () => {
    const bad = { ...file("Bad"), spec: { ...spec(""), ports: [{ remote: 70000, local: 1 }] } };
    const r = await caller.profiles.check({ profile: bad });
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => p.field)).toEqual(expect.arrayContaining(["metadata.name", "spec.ports[0].remote", "spec.local.image"]));
    await expect(caller.profiles.save({ profile: bad, create: true })).rejects.toThrow(/metadata\.name: must be a lowercase DNS label .*nothing was saved/);
    expect((await caller.profiles.check({ profile: file("good") })).ok).toBe(true);
  });

  it("streams local and shared profiles; a local save and a teammate's publish both appear without asking again", async () => {
    const ac = new AbortController();
    const seen = collect(await createCaller(makeContext(), { signal: ac.signal }).profiles.watch({ context: "dev" }));
    try {
      const first = await next(seen, (m) => m.shared !== null, "the shared list");
      expect(first.shared?.map((s) => [s.name, s.local, s.changedBy])).toEqual([["team-api", "not pulled", "bob@laptop"]]);

      await caller.profiles.save({ profile: file("mine"), create: true });
      const saved = await next(seen, (m) => m.local.some((r) => r.profile.metadata.name === "mine"), "mine saved");
      expect(saved.local.find((r) => r.profile.metadata.name === "mine")?.shared).toBeNull();
      await expect(caller.profiles.save({ profile: file("mine"), create: true })).rejects.toThrow(/already exists/);

      // a local copy that says what the cluster's says is in sync; a teammate's edit shows at once
      await caller.profiles.save({ profile: file("team-api", "api:1"), create: true });
      await next(seen, (m) => m.local.find((r) => r.profile.metadata.name === "team-api")?.shared === "in sync", "team-api in sync");
      api.edit("api:2", "11");
      const edited = await next(seen, (m) => m.shared?.[0]?.resourceVersion === "11", "bob's edit");
      expect(edited.shared?.[0]?.profile?.spec.local.image).toBe("api:2");
      expect(edited.local.find((r) => r.profile.metadata.name === "team-api")?.shared).not.toBe("in sync");
    } finally {
      ac.abort();
    }
  });

  it("says why the shared list is missing when the cluster is away, and still lists local profiles", async () => {
    const ac = new AbortController();
    const seen = collect(await createCaller(makeContext(), { signal: ac.signal }).profiles.watch({ context: "away" }));
    try {
      const m = await next(seen, (x) => x.sharedError !== null, "an error");
      expect(m.shared).toBeNull();
      expect(m.sharedError?.message).toMatch(/away/);
      expect(m.local.length).toBeGreaterThan(0);
    } finally {
      ac.abort();
    }
  });

  it("refuses to publish over a teammate's newer version, naming them", async () => {
    // this machine last saw version 10; the cluster is at 11 since bob's edit above
    await store.prisma.profile.update({
      where: { name: "team-api" },
      data: { spec: JSON.stringify({ spec: spec("api:mine"), shared: { dev: { resourceVersion: "10", uid: "uid-team-api", digest: "x" } } }) },
    });
    await expect(caller.profiles.publish({ context: "dev", name: "team-api" })).rejects.toThrow(/profile team-api was changed by bob@laptop since you loaded it/);
  });
});
