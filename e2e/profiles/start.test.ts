// Profiles as running bridges on the real devcluster, Docker engine and tunnel: starting a profile
// runs its local container and bridges the workload to it (the NodePort answers from the local
// container), a profile saved from that running bridge says the same as the one started, and a
// stop leaves nothing (no container, no bridge, the pods as they were). Also through the CLI, and
// a start whose bridge is refused removes its container again. Uses its own namespace and
// connection; never uninstalls.
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listBridges, unbridge } from "../../apps/server/src/core/bridge";
import { down, up } from "../../apps/server/src/core/connection";
import { GefyraError } from "../../apps/server/src/core/errors";
import { saveProfileFromBridge } from "../../apps/server/src/core/profiles/from-bridge";
import { parseProfiles } from "../../apps/server/src/core/profiles/profile-file";
import { importProfiles, listProfiles } from "../../apps/server/src/core/profiles/profiles";
import { PROFILE_LABEL, startProfile, stopProfile, type ProfileStartProgress } from "../../apps/server/src/core/profiles/run";
import { listLocal, removeLocal } from "../../apps/server/src/core/run/local-container";
import { openStore, type Store } from "../../apps/server/src/store";
import { clients, ensureFixtureImage, kubeconfigPath, repoRoot, testNamespace, waitFor } from "../support/devcluster";

const run = promisify(execFile);
const NODE_IP = process.env.GEFYRA_E2E_NODE_IP ?? "10.87.0.1";
const suffix = () => Math.random().toString(36).slice(2, 7);

interface Echo {
  identity: string;
  user?: string | null;
}

function viaNodePort(port: number, headers: Record<string, string> = {}): Promise<Echo> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: NODE_IP, port, path: "/profile", headers, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body) as Echo);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

describe("profiles: start, save from the running bridge, stop", () => {
  const { core, apps } = clients();
  const connection = `e2e-pf-${suffix()}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-e2e-profile-start-"));
  const mounted = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-e2e-profile-vol-"));
  const hostPort = 20_000 + Math.floor(Math.random() * 10_000);
  const base = { kubeconfig: kubeconfigPath, connection };
  const made: string[] = [];
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let store: Store;
  let echo = "";
  let nodePort = 0;

  const gefyra = (...args: string[]) =>
    run(path.join(repoRoot, "apps/server/bin/gefyra.js"), [...args, "--kubeconfig", kubeconfigPath, "--data-dir", dataDir], {
      env: { ...process.env, GEFYRA_DATA_DIR: dataDir },
      timeout: 240_000,
    });

  const podsOf = async () => (await core.listNamespacedPod({ namespace: ns.name, labelSelector: "app=api" })).items.filter((p) => !p.metadata?.deletionTimestamp);
  const comparable = (p: k8s.V1Pod) => ({ name: p.metadata!.name, labels: p.metadata!.labels, annotations: p.metadata!.annotations ?? {}, spec: p.spec });
  const snapshot = async () => (await podsOf()).map(comparable).sort((a, b) => a.name!.localeCompare(b.name!));

  /** Nothing of the profile is left: no container (app or network holder), no bridge, the pods as before, the original answers. */
  const expectNothingLeft = async (name: string, before: Awaited<ReturnType<typeof snapshot>>) => {
    const docker = await run("docker", ["ps", "-a", "--filter", `name=^${name}(-gefyra-netns)?$`, "--format", "{{.Names}}"]);
    expect(docker.stdout.trim()).toBe("");
    expect((await listLocal()).some((c) => c.name === name)).toBe(false);
    expect((await listBridges(base)).some((b) => b.name === name || b.local === name)).toBe(false);
    await waitFor("the pods restored", async () => JSON.stringify(await snapshot()) === JSON.stringify(before), 60_000);
    expect(await snapshot()).toEqual(before);
    await waitFor("the original answers again", async () => (await viaNodePort(nodePort, { "x-user": "alice" })).identity === "original", 30_000);
  };

  const profileYaml = (name: string, extra: { remote?: number } = {}) => `apiVersion: gefyra-ts.dev/v1alpha1
kind: BridgeProfile
metadata:
  name: ${name}
  description: checkout work for alice
spec:
  target: { namespace: ${ns.name}, workload: deploy/api/app }
  ports: [{ remote: ${extra.remote ?? 8080}, local: 8080 }]
  rules: [{ kind: header, name: x-user, op: exact, value: alice }]
  local: { image: "${echo}", envFrom: deploy/api, env: { IDENTITY: profile-local }, ports: ["${hostPort}:8080"] }
personal:
  volumes: ["${mounted}:/data:ro"]
`;

  beforeAll(async () => {
    echo = await ensureFixtureImage("echo");
    ns = await testNamespace(core, "profile-start");
    store = await openStore({ dataDir });
    const labels = { app: "api" };
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: "api" },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              terminationGracePeriodSeconds: 2,
              containers: [
                {
                  name: "app",
                  image: echo,
                  imagePullPolicy: "IfNotPresent",
                  ports: [{ containerPort: 8080, name: "http" }],
                  env: [
                    { name: "IDENTITY", value: "original" },
                    { name: "FROM_CLUSTER", value: "yes" },
                  ],
                  readinessProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      },
    });
    const svc = await core.createNamespacedService({
      namespace: ns.name,
      body: { metadata: { name: "api" }, spec: { type: "NodePort", selector: labels, ports: [{ port: 8080, targetPort: 8080 }] } },
    });
    nodePort = svc.spec!.ports![0]!.nodePort!;
    await up({ kubeconfig: kubeconfigPath, name: connection });
    await waitFor("api ready", async () => ((await apps.readNamespacedDeployment({ name: "api", namespace: ns.name })).status?.readyReplicas ?? 0) >= 1);
    await waitFor("the Service answers through its NodePort", async () => (await viaNodePort(nodePort)).identity === "original");
  }, 300_000);

  afterAll(async () => {
    for (const name of made) await unbridge({ ...base, name }).catch(() => undefined);
    for (const name of made) await removeLocal(name).catch(() => undefined);
    await down({ kubeconfig: kubeconfigPath, name: connection }).catch(() => undefined);
    await store?.close();
    await ns?.dispose();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(mounted, { recursive: true, force: true });
  }, 300_000);

  it("starts a profile (local container, then bridge), saves the same profile from the running bridge, and stops leaving nothing", async () => {
    const name = `alice-${suffix()}`;
    made.push(name);
    await importProfiles(store, profileYaml(name));
    const before = await snapshot();

    const steps: ProfileStartProgress[] = [];
    const t0 = Date.now();
    const started = await startProfile(name, { ...base, store }, (p) => steps.push(p));
    console.log(`profile started in ${Date.now() - t0} ms: ${steps.map((s) => `${s.elapsedMs} ms ${s.step}/${s.detail ?? "-"}: ${s.message}`).join("\n  ")}`);
    expect([...new Set(steps.map((s) => s.step))]).toEqual(["profile", "container", "bridge", "ready"]);
    expect(steps.some((s) => s.step === "bridge" && s.detail === "create")).toBe(true);
    expect(started.bridge).toMatchObject({ name, local: name, state: "Active", namespace: ns.name });
    expect(started.container).toMatchObject({ name, state: "running", namespace: ns.name, connection });

    // the Service answers from the local container for alice, from the cluster for everyone else
    await waitFor("alice reaches the local container", async () => (await viaNodePort(nodePort, { "x-user": "alice" })).identity === "profile-local", 60_000);
    expect((await viaNodePort(nodePort, { "x-user": "bob" })).identity).toBe("original");
    // the profile's published port and volume, and env-from with the profile's env winning
    const direct = await fetch(`http://127.0.0.1:${hostPort}/direct`, { signal: AbortSignal.timeout(5000) }).then((r) => r.json() as Promise<Echo>);
    expect(direct.identity).toBe("profile-local");
    const inspected = JSON.parse((await run("docker", ["inspect", name])).stdout) as Array<{ Config: { Env: string[]; Labels: Record<string, string> }; HostConfig: { Binds: string[] } }>;
    expect(inspected[0]!.Config.Env).toEqual(expect.arrayContaining(["IDENTITY=profile-local", "FROM_CLUSTER=yes"]));
    expect(inspected[0]!.Config.Labels[PROFILE_LABEL]).toBe(name);
    expect(inspected[0]!.HostConfig.Binds).toEqual([`${mounted}:/data:ro`]);

    // a profile saved from the running bridge says what the started one says
    const saved = await saveProfileFromBridge(store, { ...base, bridge: name, name: `${name}-saved` });
    const original = parseProfiles(profileYaml(name))[0]!;
    expect(saved.notes).toEqual([]);
    expect(saved.profile.spec).toEqual(original.spec);
    expect(saved.profile.personal).toEqual(original.personal);
    expect(saved.profile.metadata).toEqual({ name: `${name}-saved`, description: `saved from bridge ${name}` });
    expect((await listProfiles(store)).map((p) => p.metadata.name)).toContain(`${name}-saved`);
    // what env-from brought stays out of it
    expect(saved.profile.spec.local.env).not.toHaveProperty("FROM_CLUSTER");

    // a second start of the same profile is refused while it runs
    const again = await startProfile(name, { ...base, store }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(again).toBeInstanceOf(GefyraError);
    expect((again as GefyraError).code).toBe("PROFILE_RUNNING");

    const stopped = await stopProfile(name, base);
    expect(stopped).toEqual({ profile: name, bridges: [name], containers: [name] });
    await expectNothingLeft(name, before);
  }, 300_000);

  it("works the same through the CLI: profiles start, save --from-bridge, stop; the start is in the history", async () => {
    const name = `cli-${suffix()}`;
    made.push(name);
    await importProfiles(store, profileYaml(name));
    const before = await snapshot();

    const startedOut = await gefyra("profiles", "start", name, "--connection", connection, "--json");
    const started = JSON.parse(startedOut.stdout) as { bridge: { name: string; state: string }; container: { name: string } };
    expect(started.bridge).toMatchObject({ name, state: "Active" });
    expect(startedOut.stderr).toMatch(/container: starting/);
    expect(startedOut.stderr).toMatch(/bridge: creating bridge/);
    await waitFor("alice reaches the local container", async () => (await viaNodePort(nodePort, { "x-user": "alice" })).identity === "profile-local", 60_000);

    const savedOut = await gefyra("profiles", "save", `${name}-copy`, "--from-bridge", name, "--json");
    const saved = JSON.parse(savedOut.stdout) as { saved: { spec: unknown } };
    expect(saved.saved.spec).toEqual(parseProfiles(profileYaml(name))[0]!.spec);
    const refused = await gefyra("profiles", "save", `${name}-copy`, "--from-bridge", name).then(
      () => "",
      (e: { stderr?: string }) => e.stderr ?? "",
    );
    expect(refused).toMatch(/already exists/);

    const stoppedOut = await gefyra("profiles", "stop", name, "--connection", connection);
    expect(stoppedOut.stdout).toContain(`profile ${name} stopped: bridge ${name}, container ${name} removed`);
    await expectNothingLeft(name, before);

    const history = JSON.parse((await gefyra("history", "--kind", "bridge", "--json")).stdout) as {
      sessions: Array<{ target: string | null; stopReason: string | null; events: Array<{ type: string }> }>;
    };
    const session = history.sessions.find((s) => s.target === name);
    expect(session?.stopReason).toBe("stopped");
    const types = session?.events.map((e) => e.type) ?? [];
    expect(types).toEqual(expect.arrayContaining(["profile.profile", "profile.container", "profile.bridge", "profile.ready", "profile.start", "profile.stop"]));
  }, 300_000);

  it("removes the local container again when the bridge is refused, and says why", async () => {
    const name = `bad-${suffix()}`;
    made.push(name);
    // port 9999 is not declared by the container: the bridge refuses it after the container runs
    await importProfiles(store, profileYaml(name, { remote: 9999 }));
    const steps: string[] = [];
    const error = await startProfile(name, { ...base, store }, (p) => steps.push(p.step)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GefyraError);
    expect((error as GefyraError).code).toBe("PORT_NOT_DECLARED");
    expect((error as GefyraError).message).toMatch(/does not declare port 9999.*the local container bad-\w+ was removed again/);
    expect(steps).toContain("container");
    expect(steps.at(-1)).toBe("rollback");
    expect((await listLocal()).some((c) => c.name === name)).toBe(false);
    expect((await listBridges(base)).some((b) => b.name === name)).toBe(false);
  }, 120_000);
});
