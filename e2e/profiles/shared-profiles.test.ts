// Profiles shared through the cluster: two users (two data directories, two stores) share a
// BridgeProfile on the real devcluster. Only the objects this file creates are removed afterwards.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import YAML from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_PROFILE_CRD_NAME, BRIDGE_PROFILE_PLURAL, CRD_GROUP, CRD_VERSION, NAMESPACE, PROFILE_EDITOR_ROLE, PROFILE_VIEWER_ROLE } from "@gefyra/shared";
import { connectCluster, type Cluster } from "../../apps/server/src/core/connection/cluster";
import { GefyraError } from "../../apps/server/src/core/errors";
import { importProfiles, listProfiles } from "../../apps/server/src/core/profiles/profiles";
import {
  deleteSharedFromStore,
  ensureProfileCrd,
  getSharedProfile,
  listSharedWithLocal,
  publishProfile,
  pullProfile,
  watchSharedProfiles,
  type SharedProfile,
} from "../../apps/server/src/core/profiles/shared";
import { openStore, type Store } from "../../apps/server/src/store";
import { kubeconfigPath, repoRoot, waitFor } from "../support/devcluster";

const run = promisify(execFile);
const suffix = Math.random().toString(36).slice(2, 7);
const NAME = `e2e-shared-${suffix}`;
const CLI_NAME = `e2e-cli-${suffix}`;
const group = { group: CRD_GROUP, version: CRD_VERSION, namespace: NAMESPACE, plural: BRIDGE_PROFILE_PLURAL };

const profileYaml = (name: string, opts: { image?: string; description?: string } = {}) => `apiVersion: gefyra-ts.dev/v1alpha1
kind: BridgeProfile
metadata:
  name: ${name}
  description: ${opts.description ?? "checkout work"}
spec:
  target: { namespace: shop, workload: deploy/api/app }
  ports: [{ remote: 80, local: 8080 }]
  rules: [{ kind: header, name: x-user, op: exact, value: alice }]
  local: { image: "${opts.image ?? "api:dev"}", env: { LOG_LEVEL: debug } }
personal:
  build: ./api
  volumes: ["/home/alice/src/api:/app/src"]
`;

async function failure(p: Promise<unknown>): Promise<GefyraError> {
  const e = await p.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(e instanceof GefyraError)) throw new Error(`expected a GefyraError, got ${String(e)}`);
  return e;
}

describe("profiles shared through the cluster", () => {
  let cluster: Cluster;
  const dirs: string[] = [];
  let alice: Store;
  let bob: Store;
  const created = { namespace: false, crd: false };
  const extraObjects: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    cluster = await connectCluster({ kubeconfig: kubeconfigPath });
    const hasNamespace = await cluster.core.readNamespace({ name: NAMESPACE }).then(
      () => true,
      () => false,
    );
    if (!hasNamespace) {
      await cluster.core.createNamespace({ body: { metadata: { name: NAMESPACE, labels: { "app.kubernetes.io/part-of": "gefyra-ts" } } } });
      created.namespace = true;
    }
    created.crd = (await ensureProfileCrd(cluster)).created;
    for (const who of ["alice", "bob"]) dirs.push(fs.mkdtempSync(path.join(os.tmpdir(), `gefyra-e2e-profiles-${who}-`)));
    alice = await openStore({ dataDir: dirs[0]! });
    bob = await openStore({ dataDir: dirs[1]! });
  });

  afterAll(async () => {
    for (const name of [NAME, CLI_NAME]) await cluster?.custom.deleteNamespacedCustomObject({ ...group, name }).catch(() => undefined);
    for (const undo of extraObjects) await undo().catch(() => undefined);
    if (created.crd) {
      await cluster.ext.deleteCustomResourceDefinition({ name: BRIDGE_PROFILE_CRD_NAME }).catch(() => undefined);
      for (const role of [PROFILE_EDITOR_ROLE, PROFILE_VIEWER_ROLE]) await cluster.rbac.deleteNamespacedRole({ name: role, namespace: NAMESPACE }).catch(() => undefined);
    }
    if (created.namespace) {
      // only when nothing else was installed into it meanwhile
      const deployments = await cluster.apps.listNamespacedDeployment({ namespace: NAMESPACE }).catch(() => ({ items: [] }));
      if (!deployments.items.length) await cluster.core.deleteNamespace({ name: NAMESPACE }).catch(() => undefined);
    }
    await alice?.close();
    await bob?.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("alice publishes, bob sees it through the watch within seconds and pulls it; personal values never reach the cluster", async () => {
    const seen: Array<{ type: string; profile: SharedProfile; at: number }> = [];
    let synced = false;
    const stop = watchSharedProfiles(cluster, {
      onSync: () => (synced = true),
      onChange: (type, profile) => {
        if (profile.name === NAME) seen.push({ type, profile, at: Date.now() });
      },
    });
    try {
      await waitFor("the watch's first list", () => Promise.resolve(synced), 15_000);
      await importProfiles(alice, profileYaml(NAME));
      const started = Date.now();
      const published = await publishProfile(alice, NAME, { cluster, user: "alice@e2e" });
      expect(published).toMatchObject({ name: NAME, changedBy: "alice@e2e" });

      await waitFor("bob's watch to see alice's profile", () => Promise.resolve(seen.find((e) => e.type === "upsert")), 5_000, 50);
      const event = seen.find((e) => e.type === "upsert")!;
      expect(event.at - started).toBeLessThan(5_000);
      expect(event.profile.profile?.spec.target).toEqual({ namespace: "shop", workload: "deploy/api/app" });
      expect(event.profile.changedBy).toBe("alice@e2e");

      // the cluster holds the shared part only
      const raw = JSON.stringify(await cluster.custom.getNamespacedCustomObject({ ...group, name: NAME }));
      expect(raw).not.toContain("/home/alice");
      expect(raw).not.toContain("personal");
      expect(raw).toContain("checkout work");

      const listed = await listSharedWithLocal(bob, { cluster });
      expect(listed.profiles.find((p) => p.name === NAME)?.local).toBe("not pulled");
      const pulled = await pullProfile(bob, NAME, { cluster });
      expect(pulled.profile.personal).toBeUndefined();
      expect((await listProfiles(bob)).map((p) => p.metadata.name)).toContain(NAME);
      expect((await listSharedWithLocal(bob, { cluster })).profiles.find((p) => p.name === NAME)?.local).toBe("in sync");
      // alice keeps her personal values locally
      expect((await listProfiles(alice)).find((p) => p.metadata.name === NAME)?.personal?.volumes).toEqual(["/home/alice/src/api:/app/src"]);
    } finally {
      stop();
    }
  });

  it("a publish from a stale version is refused with who changed it; after a pull, the edit goes through", async () => {
    // bob edits his pulled copy and publishes: fine, he had the current version
    await importProfiles(bob, profileYaml(NAME, { image: "api:bob" }), { replace: true });
    expect((await listSharedWithLocal(bob, { cluster })).profiles.find((p) => p.name === NAME)?.local).toBe("local edits");
    await publishProfile(bob, NAME, { cluster, user: "bob@e2e" });

    // alice still holds the version she published: her edit must not overwrite bob's
    await importProfiles(alice, profileYaml(NAME, { image: "api:alice" }), { replace: true });
    expect((await listSharedWithLocal(alice, { cluster })).profiles.find((p) => p.name === NAME)?.local).toBe("changed in cluster and locally");
    const refused = await failure(publishProfile(alice, NAME, { cluster, user: "alice@e2e" }));
    expect(refused.code).toBe("PROFILE_CONFLICT");
    expect(refused.message).toMatch(new RegExp(`^profile ${NAME} was changed by bob@e2e since you loaded it; reload and re-apply your edit`));
    expect((await getSharedProfile(cluster, NAME))?.profile?.spec.local.image).toBe("api:bob");

    // someone edits the object with another tool: the conflict names that tool's field manager
    const current = (await cluster.custom.getNamespacedCustomObject({ ...group, name: NAME })) as { spec: { local: { image: string } } };
    current.spec.local.image = "api:kubectl";
    await cluster.custom.replaceNamespacedCustomObject({ ...group, name: NAME, body: current, fieldManager: "kubectl-edit" });
    const again = await failure(publishProfile(bob, NAME, { cluster, user: "bob@e2e" }));
    expect(again.message).toMatch(new RegExp(`^profile ${NAME} was changed by kubectl-edit since you loaded it`));

    // reload, re-apply, publish
    await pullProfile(alice, NAME, { cluster });
    expect((await listProfiles(alice)).find((p) => p.metadata.name === NAME)?.spec.local.image).toBe("api:kubectl");
    expect((await listProfiles(alice)).find((p) => p.metadata.name === NAME)?.personal?.build).toBe("./api"); // kept over the pull
    await importProfiles(alice, profileYaml(NAME, { image: "api:alice" }), { replace: true });
    const ok = await publishProfile(alice, NAME, { cluster, user: "alice@e2e" });
    expect(ok.profile?.spec.local.image).toBe("api:alice");
    expect(ok.changedBy).toBe("alice@e2e");
  });

  it("a first publish never replaces a profile someone else already shares", async () => {
    const carol = await openStore({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-e2e-profiles-carol-")) });
    dirs.push(path.dirname(carol.file));
    try {
      await importProfiles(carol, profileYaml(NAME, { image: "api:carol" }));
      const e = await failure(publishProfile(carol, NAME, { cluster, user: "carol@e2e" }));
      expect(e.code).toBe("PROFILE_EXISTS");
      expect(e.message).toMatch(new RegExp(`profile ${NAME} is already shared in context ".*" \\(by alice@e2e\\); pull it first`));
      expect((await getSharedProfile(cluster, NAME))?.profile?.spec.local.image).toBe("api:alice");
    } finally {
      await carol.close();
    }
  });

  it("delete: refused from a stale version, done after a pull, seen by the watch", async () => {
    const events: string[] = [];
    const stop = watchSharedProfiles(cluster, { onChange: (type, p) => p.name === NAME && events.push(type) });
    try {
      const stale = await failure(deleteSharedFromStore(bob, NAME, { cluster }));
      expect(stale.code).toBe("PROFILE_CONFLICT");
      expect(stale.message).toMatch(/was changed by alice@e2e since you loaded it/);
      expect(await getSharedProfile(cluster, NAME)).not.toBeNull();

      await pullProfile(bob, NAME, { cluster });
      await deleteSharedFromStore(bob, NAME, { cluster });
      expect(await getSharedProfile(cluster, NAME)).toBeNull();
      await waitFor("the watch to see the delete", () => Promise.resolve(events.includes("delete")), 5_000, 50);
      // bob's local copy stays; alice's publish from her old version says it was deleted
      expect((await listProfiles(bob)).map((p) => p.metadata.name)).toContain(NAME);
      const gone = await failure(publishProfile(alice, NAME, { cluster, user: "alice@e2e" }));
      expect(gone.code).toBe("PROFILE_DELETED");
      expect(gone.message).toMatch(/publish with --create to share it again/);
      expect((await listSharedWithLocal(alice, { cluster })).profiles.some((p) => p.name === NAME)).toBe(false);
    } finally {
      stop();
    }
  });

  it("a user bound to the viewer Role can list but not publish", async () => {
    const user = `e2e-viewer-${suffix}`;
    const binding = `e2e-viewer-${suffix}`;
    await cluster.rbac.createNamespacedRoleBinding({
      namespace: NAMESPACE,
      body: { metadata: { name: binding }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: PROFILE_VIEWER_ROLE }, subjects: [{ kind: "User", name: user, apiGroup: "rbac.authorization.k8s.io" }] },
    });
    extraObjects.push(() => cluster.rbac.deleteNamespacedRoleBinding({ name: binding, namespace: NAMESPACE }));
    // the admin kubeconfig, acting as that user
    const doc = YAML.parse(fs.readFileSync(kubeconfigPath, "utf8")) as { users: Array<{ user: Record<string, unknown> }> };
    for (const u of doc.users) u.user.as = user;
    const file = path.join(dirs[0]!, "viewer.kubeconfig");
    fs.writeFileSync(file, YAML.stringify(doc));
    const viewer = await connectCluster({ kubeconfig: file });
    await waitFor("the viewer binding to apply", async () => Array.isArray((await listSharedWithLocal(alice, { cluster: viewer })).profiles), 10_000);
    await importProfiles(alice, profileYaml(`${NAME}-v`));
    const e = await failure(publishProfile(alice, `${NAME}-v`, { cluster: viewer, user: "viewer@e2e" }));
    expect(e.code).toBe("RBAC_FORBIDDEN");
    expect(e.message).toMatch(new RegExp(`ask a cluster admin to bind Role ${PROFILE_EDITOR_ROLE}`));
    expect(await getSharedProfile(cluster, `${NAME}-v`)).toBeNull();
  });

  it("the CLI publishes, lists --shared and pulls", async () => {
    const dataA = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-e2e-profiles-cli-a-"));
    const dataB = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-e2e-profiles-cli-b-"));
    dirs.push(dataA, dataB);
    const gefyra = (data: string, ...args: string[]) =>
      run(path.join(repoRoot, "apps/server/bin/gefyra.js"), args, { env: { ...process.env, KUBECONFIG: kubeconfigPath, GEFYRA_DATA_DIR: data }, timeout: 60_000 });
    const file = path.join(dataA, "p.yaml");
    fs.writeFileSync(file, profileYaml(CLI_NAME));
    await gefyra(dataA, "profiles", "import", file);
    expect((await gefyra(dataA, "profiles", "publish", CLI_NAME)).stdout).toMatch(new RegExp(`^published ${CLI_NAME} \\(version \\d+\\)`));
    const listed = JSON.parse((await gefyra(dataB, "profiles", "list", "--shared", "--json")).stdout) as { profiles: Array<{ name: string; local: string; changedBy: string }> };
    expect(listed.profiles.find((p) => p.name === CLI_NAME)).toMatchObject({ local: "not pulled", changedBy: `${os.userInfo().username}@${os.hostname()}` });
    expect((await gefyra(dataB, "profiles", "pull", CLI_NAME)).stdout).toMatch(new RegExp(`^pulled ${CLI_NAME}`));
    expect((await gefyra(dataB, "profiles", "export", CLI_NAME)).stdout).toContain("deploy/api/app");
    const again = await gefyra(dataA, "profiles", "publish", CLI_NAME, "--create").then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(again?.code).toBe(1);
    expect(again?.stderr.trim()).toMatch(new RegExp(`^gefyra: profile ${CLI_NAME} is already shared`));
    expect((await gefyra(dataB, "profiles", "delete", CLI_NAME, "--shared")).stdout.trim()).toMatch(new RegExp(`^deleted the shared profile ${CLI_NAME}`));
  });
});
