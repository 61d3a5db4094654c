import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../store";
import { parseProfiles } from "./profile-file";
import { exportProfiles, importProfiles, listProfiles } from "./profiles";

const GOOD = `apiVersion: gefyra-ts.dev/v1alpha1
kind: BridgeProfile
metadata:
  name: api-alice
  description: Alice's checkout work
spec:
  target:
    namespace: shop
    workload: deploy/api/app
  ports:
    - remote: 80
      local: 8080
  rules:
    - kind: header
      name: X-User
      op: exact
      value: alice
  local:
    image: api:dev
    envFrom: deploy/api
    env:
      LOG_LEVEL: debug
    ports: ["9229:9229"]
personal:
  build: ./api
  volumes: ["./api/src:/app/src"]
`;

let dir: string;
let store: Store;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-profiles-"));
  store = await openStore({ dataDir: dir });
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("profile files", () => {
  it("round-trips export → import unchanged", async () => {
    expect(await importProfiles(store, GOOD)).toEqual(["api-alice"]);
    const exported = await exportProfiles(store, [], { personal: true });
    expect(parseProfiles(exported)).toEqual(parseProfiles(GOOD));

    const other = await openStore({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-profiles-b-")) });
    try {
      await importProfiles(other, exported);
      expect(await listProfiles(other)).toEqual(await listProfiles(store));
    } finally {
      await other.close();
    }
  });

  it("keeps personal values out of an export unless asked", async () => {
    await importProfiles(store, GOOD);
    const shared = await exportProfiles(store);
    expect(shared).not.toContain("personal");
    expect(shared).not.toContain("./api/src");
    expect(shared).toContain("X-User");
  });

  it("reports the line and field of every problem, and imports nothing", async () => {
    const bad = GOOD.replace("remote: 80", "remote: 80000").replace("namespace: shop", "namespace: Shop_Floor").replace("op: exact", "op: fuzzy");
    const second = GOOD.replace("name: api-alice", "name: api-bob");
    await expect(importProfiles(store, `${second}---\n${bad}`, { file: "team.yaml" })).rejects.toThrow(
      /team\.yaml:\d+: .*nothing was imported/,
    );
    const message = await importProfiles(store, bad, { file: "p.yaml" }).then(
      () => "imported",
      (error: Error) => error.message,
    );
    expect(message).toMatch(/p\.yaml:8: spec\.target\.namespace: must be a lowercase DNS label/);
    expect(message).toMatch(/p\.yaml:11: spec\.ports\[0\]\.remote: must be a port number/);
    expect(message).toMatch(/p\.yaml:16: spec\.rules\[0\]\.op/);
    expect(await listProfiles(store)).toEqual([]);
  });

  it("names unknown fields, YAML syntax errors and a wrong version", () => {
    expect(() => parseProfiles(GOOD.replace("  description:", "  colour: red\n  description:"), "x.yaml")).toThrow(/x\.yaml:5: metadata\.colour: unknown field/);
    expect(() => parseProfiles("spec: [unclosed", "y.yaml")).toThrow(/y\.yaml:1: \(yaml\)/);
    expect(() => parseProfiles(GOOD.replace("v1alpha1", "v9"), "z.yaml")).toThrow(/z\.yaml:1: apiVersion: must be gefyra-ts\.dev\/v1alpha1/);
  });

  it("refuses to overwrite an existing profile unless replace is asked", async () => {
    await importProfiles(store, GOOD);
    await expect(importProfiles(store, GOOD.replace("LOG_LEVEL: debug", "LOG_LEVEL: info"))).rejects.toThrow(/already exists: import with --replace/);
    await importProfiles(store, GOOD.replace("LOG_LEVEL: debug", "LOG_LEVEL: info"), { replace: true });
    expect((await listProfiles(store))[0]?.spec.local.env.LOG_LEVEL).toBe("info");
  });
});
