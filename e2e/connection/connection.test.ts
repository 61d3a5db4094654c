// The Connection capability end to end, on the real devcluster and Docker engine with real
// wireguard-go: `up` from nothing, cluster DNS and Services from a container on the connection's
// network, two connections side by side, heartbeat expiry, the failure sentences, and an
// uninstall that leaves nothing behind.
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { down, status, uninstall, up, type ConnectionInfo } from "../../apps/server/src/core/connection";
import { GefyraError } from "../../apps/server/src/core/errors";
import { clients, ensureFixtureImage, kubeconfigPath, repoRoot, testNamespace, waitFor } from "../support/devcluster";
import { clusterSnapshot, dockerExists, dockerSnapshot, ensureProductImages, runOnNetwork, snapshotDiff, stowawayPeers } from "./support";

const run = promisify(execFile);
const PAGE = "hello from the devcluster";
const BIG = 3 * 1024 * 1024;
const opts = { kubeconfig: kubeconfigPath };

async function expectGefyraError(promise: Promise<unknown>, code: string): Promise<GefyraError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeInstanceOf(GefyraError);
  const g = error as GefyraError;
  expect(g.code, g.message).toBe(code);
  expect(g.message).not.toContain("\n");
  return g;
}

describe("connection", () => {
  const { kc, core, apps } = clients();
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let web = "";
  let before: Set<string>;
  let dockerBefore: Set<string>;
  let a: ConnectionInfo;
  const tmp = mkdtempSync(join(tmpdir(), "gts-conn-"));

  const connectionExists = (name: string) =>
    custom.getNamespacedCustomObject({ group: "gefyra-ts.dev", version: "v1alpha1", namespace: "gefyra-ts", plural: "connections", name }).then(
      () => true,
      () => false,
    );

  /** Other suites (e.g. e2e/run) use connections on the same devcluster: never uninstall under them. */
  const othersGone = () =>
    waitFor(
      "other suites' connections to end",
      async () => (await status(opts)).connections.filter((c) => !c.name.startsWith("e2e-")).length === 0,
      300_000,
      2000,
    );

  const peerOf = async (name: string) => {
    const secret = await core.readNamespacedSecret({ namespace: "gefyra-ts", name: `connection-${name}` });
    return Buffer.from(secret.data?.publicKey ?? "", "base64").toString("utf8");
  };

  beforeAll(async () => {
    await ensureProductImages();
    web = await ensureFixtureImage("web");
    // start from nothing (after other suites' connections on this shared devcluster are gone)
    await othersGone();
    if ((await status(opts)).installed) await uninstall(opts);
    ns = await testNamespace(core, "conn");
    const labels = { app: "web" };
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: "web", labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: "web",
                  image: web,
                  imagePullPolicy: "Never",
                  command: ["sh", "-c", `head -c ${BIG} /dev/urandom >/www/big && exec busybox httpd -f -p 8080 -h /www`],
                  ports: [{ containerPort: 8080 }],
                  readinessProbe: { httpGet: { path: "/", port: 8080 }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      },
    });
    await core.createNamespacedService({ namespace: ns.name, body: { metadata: { name: "web" }, spec: { selector: labels, ports: [{ port: 8080, targetPort: 8080 }] } } });
    // a ServiceAccount without any rights, for the missing-RBAC case
    await core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: "nobody" } } });
    await waitFor("web ready", async () => ((await apps.readNamespacedDeployment({ namespace: ns.name, name: "web" })).status?.readyReplicas ?? 0) > 0);
    // the baseline must be a cluster without gefyra-ts; other suites sharing the devcluster may have
    // installed it meanwhile: wait for them and remove it again
    for (let attempt = 0; ; attempt++) {
      before = await clusterSnapshot();
      if (![...before].some((e) => e.includes("gefyra-ts")) || attempt >= 3) break;
      await othersGone();
      await uninstall(opts);
    }
    expect([...before].filter((e) => e.includes("gefyra-ts"))).toEqual([]);
    dockerBefore = await dockerSnapshot();
  });

  afterAll(async () => {
    for (const name of ["e2e-a", "e2e-b", "e2e-c", "e2e-d"]) await down({ ...opts, name }).catch(() => undefined);
    await ns?.dispose();
  });

  it("up from nothing installs the operator and Stowaway and connects", async () => {
    const steps: string[] = [];
    a = await up({ ...opts, name: "e2e-a", client: "alice@e2e" }, (p) => steps.push(p.step));
    expect(steps).toContain("apply");
    expect(steps).toContain("handshake");
    expect(steps.at(-1)).toBe("ready");
    expect(a.network).toBe("gefyra-ts-e2e-a");
    expect(a.podCIDRs).toContain("10.88.0.0/24");
    expect(a.serviceCIDRs).toContain("10.96.0.0/16");
    expect(a.clusterDNS).toBe("10.96.0.10");
    expect(a.endpoint).toBe("10.87.0.1:31820");
    // up converges: a second up of a healthy connection returns it unchanged
    const again = await up({ ...opts, name: "e2e-a", client: "alice@e2e" });
    expect({ ...again, elapsedMs: 0, dnsSearch: undefined }).toEqual({ ...a, elapsedMs: 0, dnsSearch: undefined });
    const s = await status(opts);
    expect(s.operatorReady && s.stowawayReady).toBe(true);
    expect(s.connections.find((c) => c.name === "e2e-a")).toMatchObject({ phase: "Ready", client: "alice@e2e", clientAddress: a.clientAddress });
  });

  it("a container on the connection's network resolves cluster names and reaches a Service", async () => {
    const r = await runOnNetwork(
      web,
      a.network,
      a.cargoIp,
      ns.name,
      [
        "getent hosts kubernetes.default.svc.cluster.local",
        "getent hosts web",
        "curl -sS --max-time 10 http://web:8080/",
        `curl -sS --max-time 10 http://web.${ns.name}.svc.cluster.local:8080/`,
        "curl -sSk --max-time 10 -o /dev/null -w 'api %{http_code}\\n' https://kubernetes.default/version",
      ].join(" && "),
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^10\.96\.0\.1\s+kubernetes\.default\.svc\.cluster\.local$/m);
    expect(r.stdout).toMatch(new RegExp(`^10\\.96\\.\\d+\\.\\d+\\s+web\\.${ns.name}\\.svc\\.cluster\\.local$`, "m"));
    expect(r.stdout.split(PAGE).length - 1).toBe(2);
    expect(r.stdout).toContain("api 200");
  });

  it("a second connection works, and removing it does not interrupt a transfer on the first", async () => {
    const b = await up({ ...opts, name: "e2e-b", client: "bob@e2e" });
    expect(b.clientAddress).not.toBe(a.clientAddress);
    expect(b.subnet).not.toBe(a.subnet);
    const [keyA, keyB] = [await peerOf("e2e-a"), await peerOf("e2e-b")];
    expect(await stowawayPeers(kc)).toEqual(expect.arrayContaining([keyA, keyB]));
    const probe = await runOnNetwork(web, b.network, b.cargoIp, ns.name, "curl -sS --max-time 10 http://web:8080/");
    expect(probe.stdout).toContain(PAGE);

    // ~12 s at 256 KiB/s over a's tunnel, while b is removed in the middle of it
    const transfer = runOnNetwork(web, a.network, a.cargoIp, ns.name, "curl -sS --max-time 60 --limit-rate 256k -o /dev/null -w '%{size_download} %{http_code}' http://web:8080/big", 90_000);
    await new Promise((r) => setTimeout(r, 3000));
    const removed = await down({ ...opts, name: "e2e-b" });
    expect(removed.removed).toEqual({ container: true, network: true, connection: true });
    await waitFor("b's peer removed from Stowaway", async () => !(await stowawayPeers(kc)).includes(keyB), 30_000);
    expect(await stowawayPeers(kc)).toContain(keyA);
    const t = await transfer;
    expect(t.stderr).toBe("");
    expect(t.stdout).toBe(`${BIG} 200`);
    expect(await dockerExists("network", b.network)).toBe(false);
  });

  it("the operator removes a connection whose local side died, after its heartbeat TTL", async () => {
    const c = await up({ ...opts, name: "e2e-c", client: "carol@e2e", heartbeatTTLSeconds: 8 });
    const keyC = await peerOf("e2e-c");
    expect(await stowawayPeers(kc)).toContain(keyC);
    // the laptop vanishes: no `down`, the local side is simply gone
    await run("docker", ["rm", "-f", c.cargoContainer]);
    await run("docker", ["network", "rm", c.network]);
    const started = Date.now();
    await waitFor("Connection e2e-c deleted by the operator", async () => !(await connectionExists("e2e-c")), 60_000, 500);
    const after = Date.now() - started;
    expect(after).toBeGreaterThan(3000);
    await waitFor("e2e-c's peer removed", async () => !(await stowawayPeers(kc)).includes(keyC), 30_000);
    await waitFor("e2e-c's Secret collected", async () =>
      core.readNamespacedSecret({ namespace: "gefyra-ts", name: "connection-e2e-c" }).then(
        () => false,
        () => true,
      ),
    );
    // the first connection still works
    const r = await runOnNetwork(web, a.network, a.cargoIp, ns.name, "curl -sS --max-time 10 http://web:8080/");
    expect(r.stdout).toContain(PAGE);
  });

  it("a restarted Stowaway gets every peer back and the tunnel resumes by itself", async () => {
    const keyA = await peerOf("e2e-a");
    const selector = "app.kubernetes.io/part-of=gefyra-ts,app.kubernetes.io/component=stowaway";
    const old = (await core.listNamespacedPod({ namespace: "gefyra-ts", labelSelector: selector })).items[0]?.metadata?.name;
    expect(old).toBeTruthy();
    await core.deleteNamespacedPod({ namespace: "gefyra-ts", name: old!, gracePeriodSeconds: 0 });
    await waitFor(
      "a new Stowaway pod Ready",
      async () =>
        (await core.listNamespacedPod({ namespace: "gefyra-ts", labelSelector: selector })).items.some(
          (p) => p.metadata?.name !== old && !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        ),
      60_000,
      500,
    );
    expect(await stowawayPeers(kc)).toContain(keyA);
    // WireGuard re-handshakes on its own once the old session gets no answers
    const started = Date.now();
    await waitFor(
      "the tunnel of e2e-a working again",
      async () => (await runOnNetwork(web, a.network, a.cargoIp, ns.name, "curl -sS --max-time 3 http://web:8080/", 10_000)).stdout.includes(PAGE),
      90_000,
      1000,
    );
    console.log(`tunnel resumed ${((Date.now() - started) / 1000).toFixed(1)} s after the new Stowaway was Ready`);
  });

  it("a closed UDP port fails with the reason and the fix, and rolls back", async () => {
    const e = await expectGefyraError(up({ ...opts, name: "e2e-d", endpoint: "10.87.0.1:31999", handshakeTimeoutMs: 4000 }), "UDP_UNREACHABLE");
    expect(e.message).toMatch(/UDP/);
    expect(await dockerExists("container", "gefyra-ts-cargo-e2e-d")).toBe(false);
    expect(await dockerExists("network", "gefyra-ts-e2e-d")).toBe(false);
    await waitFor("Connection e2e-d rolled back", async () => !(await connectionExists("e2e-d")), 30_000);
  });

  it("fails fast with one-line reasons: API server unreachable, missing RBAC, Docker not running, Cargo image missing", async () => {
    const dead = join(tmp, "dead.kubeconfig");
    const cfg = new k8s.KubeConfig();
    cfg.loadFromFile(kubeconfigPath);
    const exported = JSON.parse(cfg.exportConfig()) as { clusters: Array<{ cluster: { server: string } }> };
    for (const c of exported.clusters) c.cluster.server = "https://127.0.0.1:1";
    writeFileSync(dead, JSON.stringify(exported));
    await expectGefyraError(up({ kubeconfig: dead, name: "e2e-x" }), "CLUSTER_UNREACHABLE");

    const token = await core.createNamespacedServiceAccountToken({ namespace: ns.name, name: "nobody", body: { spec: { audiences: [], expirationSeconds: 600 } } });
    const nobody = join(tmp, "nobody.kubeconfig");
    const limited = JSON.parse(cfg.exportConfig()) as { users: Array<{ name: string; user: Record<string, unknown> }> };
    for (const u of limited.users) u.user = { token: token.status?.token };
    writeFileSync(nobody, JSON.stringify(limited));
    const rbac = await expectGefyraError(up({ kubeconfig: nobody, name: "e2e-x" }), "RBAC_FORBIDDEN");
    expect(rbac.message).toMatch(/Not allowed to/);

    await expectGefyraError(up({ ...opts, name: "e2e-x", docker: new Docker({ socketPath: join(tmp, "no-docker.sock") }) }), "DOCKER_UNAVAILABLE");
    await expectGefyraError(up({ ...opts, name: "e2e-x", images: { overrides: { cargo: "gefyra-ts/cargo:absent" } } }), "IMAGE_MISSING");
  });

  it("the CLI prints a one-line reason and exits non-zero; status --json is machine-readable", async () => {
    const bin = join(repoRoot, "apps/server/bin/gefyra.js");
    const ok = await run("node", [bin, "status", "--json", "--kubeconfig", kubeconfigPath]);
    const parsed = JSON.parse(ok.stdout) as {
      installed: boolean;
      connections: Array<{ name: string; local: { lastHandshake: string | null; bytesReceived: number | null; dnsHealthy: boolean | null } | null }>;
    };
    expect(parsed.installed).toBe(true);
    expect(parsed.connections.map((c) => c.name)).toContain("e2e-a");
    // tunnel health as the issue asks: handshake age, bytes, DNS check
    const local = parsed.connections.find((c) => c.name === "e2e-a")?.local;
    expect(local?.lastHandshake).toMatch(/^\d{4}-/);
    expect(local?.bytesReceived).toBeGreaterThan(0);
    expect(local?.dnsHealthy).toBe(true);
    const failed = await run("node", [bin, "down", "--name", "nope", "--kubeconfig", kubeconfigPath]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr.trim().split("\n")).toHaveLength(1);
    expect(failed?.stderr).toMatch(/^gefyra: There is no connection "nope"/);
  });

  it("down removes Cargo, the network and the Connection", async () => {
    const keyA = await peerOf("e2e-a");
    const r = await down({ ...opts, name: "e2e-a" });
    expect(r.removed).toEqual({ container: true, network: true, connection: true });
    expect(await dockerExists("network", a.network)).toBe(false);
    expect(await connectionExists("e2e-a")).toBe(false);
    await waitFor("a's peer removed", async () => !(await stowawayPeers(kc)).includes(keyA), 30_000);
  });

  it("an image the cluster cannot get is reported with the fix", async () => {
    const e = await expectGefyraError(up({ ...opts, name: "e2e-x", images: { overrides: { operator: "gefyra-ts/operator:absent" } }, timeoutMs: 60_000 }), "IMAGE_MISSING");
    expect(e.message).toMatch(/npm run images/);
  });

  it("uninstall leaves no trace in the cluster or in Docker", async () => {
    // other suites on this devcluster (e2e/run) may install again right after our uninstall: then
    // wait for them and repeat, instead of reading their install as our trace
    let after = new Set<string>();
    for (let attempt = 0; attempt < 3; attempt++) {
      await othersGone();
      await uninstall(opts);
      const done = Date.now();
      after = await clusterSnapshot();
      const crd = await kc
        .makeApiClient(k8s.ApiextensionsV1Api)
        .readCustomResourceDefinition({ name: "connections.gefyra-ts.dev" })
        .catch(() => undefined);
      const reinstalledByOthers = crd?.metadata?.creationTimestamp && new Date(crd.metadata.creationTimestamp).getTime() >= done - 1000;
      if (!reinstalledByOthers) break;
    }
    expect(snapshotDiff(before, after)).toEqual([]);
    expect([...after].filter((e) => e.includes("gefyra-ts"))).toEqual([]);
    const dockerAfter = await dockerSnapshot();
    expect([...dockerAfter].filter((e) => !dockerBefore.has(e))).toEqual([]);
    expect([...dockerBefore].filter((e) => !dockerAfter.has(e))).toEqual([]);
  });
});
