// `gefyra run` against the real devcluster, Docker engine and WireGuard tunnel: the local
// container behaves like a pod of the namespace (DNS, routes, environment), also without a shell,
// across restarts and recreation, with volumes edited live on the host.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { down, up } from "../../apps/server/src/core/connection";
import { listLocal, removeLocal, runLocal, stopLocal } from "../../apps/server/src/core/run/local-container";
import { clients, ensureFixtureImage, kubeconfigPath, testNamespace, waitFor } from "../support/devcluster";

const run = promisify(execFile);
const PAGE = "hello from the devcluster";
const docker = new Docker();

async function dockerExec(container: string, cmd: string[]): Promise<string> {
  const { stdout } = await run("docker", ["exec", container, ...cmd], { timeout: 30_000 });
  return stdout;
}

describe("local containers in the cluster network", () => {
  const { kc, core, apps } = clients();
  const connection = `e2e-run-${Math.random().toString(36).slice(2, 7)}`;
  const names: string[] = [];
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let web = "";
  let scratch = "";
  const volume = mkdtempSync(join(tmpdir(), "gefyra-run-"));

  const deploy = async (
    name: string,
    image: string,
    port: number,
    env: Array<{ name: string; value?: string; valueFrom?: object }> = [],
    resources: { limits?: Record<string, string> } = {},
  ) => {
    const labels = { app: name };
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { terminationGracePeriodSeconds: 1, containers: [{ name, image, imagePullPolicy: "Never", ports: [{ containerPort: port }], env, resources }] },
          },
        },
      },
    });
    await core.createNamespacedService({
      namespace: ns.name,
      body: { metadata: { name }, spec: { selector: labels, ports: [{ port: port === 8080 ? 80 : port, targetPort: port }] } },
    });
  };

  const start = async (name: string, options: Partial<Parameters<typeof runLocal>[0]>) => {
    names.push(name);
    return runLocal({ name, connection, namespace: ns.name, kubeConfig: kc, ...options });
  };

  beforeAll(async () => {
    web = await ensureFixtureImage("web");
    const redis = await ensureFixtureImage("redis");
    scratch = await ensureFixtureImage("scratch", { load: false });
    ns = await testNamespace(core, "run");
    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: "cfg" }, data: { GREETING: "hi from a configmap" } } });
    await deploy("web", web, 8080, [
      { name: "LITERAL", value: "plain" },
      { name: "GREETING", valueFrom: { configMapKeyRef: { name: "cfg", key: "GREETING" } } },
    ], { limits: { cpu: "250m", memory: "96Mi" } });
    await deploy("redis", redis, 6379);
    for (const d of ["web", "redis"]) {
      await waitFor(`${d} ready`, async () => ((await apps.readNamespacedDeployment({ name: d, namespace: ns.name })).status?.readyReplicas ?? 0) >= 1);
    }
    await up({ kubeconfig: kubeconfigPath, name: connection });
  });

  afterAll(async () => {
    for (const n of names) await removeLocal(n).catch(() => undefined);
    await down({ kubeconfig: kubeconfigPath, name: connection }).catch(() => undefined);
    await ns?.dispose();
    rmSync(volume, { recursive: true, force: true });
  });

  it("resolves a Service by short name, reaches it over HTTP, and reaches a TCP service by FQDN", async () => {
    const c = await start("app", { image: web, command: ["busybox", "sleep", "3600"], envFrom: "deploy/web", env: { LITERAL: "explicit" } });
    expect(c.state).toBe("running");
    expect(c.connection).toBe(connection);
    // through the tunnel: Cargo's WireGuard counters grow with the request
    const received = async () => Number((await dockerExec(`gefyra-ts-cargo-${connection}`, ["wg", "show", "wg0", "transfer"])).trim().split(/\s+/)[1] ?? 0);
    const before = await received();
    expect((await dockerExec("app", ["curl", "-fsS", "-m", "5", "http://web/"])).trim()).toBe(PAGE);
    expect(await received()).toBeGreaterThan(before + PAGE.length);
    // while a container on the same network without the product's route cannot reach it at all
    const svc = await core.readNamespacedService({ name: "web", namespace: ns.name });
    const bypass = await run("docker", ["run", "--rm", "--network", `gefyra-ts-${connection}`, web, "curl", "-fsS", "-m", "3", `http://${svc.spec?.clusterIP}/`]).then(
      () => "reached",
      () => "blocked",
    );
    expect(bypass).toBe("blocked");
    const fqdn = `redis.${ns.name}.svc.cluster.local`;
    const pong = await dockerExec("app", ["sh", "-c", `printf 'PING\\r\\nQUIT\\r\\n' | curl -s -m 3 telnet://${fqdn}:6379 || true`]);
    expect(pong).toContain("+PONG");
    // the environment of deploy/web, with the explicit -e winning
    const env = await dockerExec("app", ["env"]);
    expect(env).toContain("GREETING=hi from a configmap");
    expect(env).toContain("LITERAL=explicit");
    expect(env).toContain("WEB_SERVICE_HOST=");
  });

  it("works for an image with no shell and no ip binary (FROM scratch)", async () => {
    await start("bare", { image: scratch });
    const lookup = await dockerExec("bare", ["/busybox", "nslookup", `web.${ns.name}.svc.cluster.local`]);
    const svc = await core.readNamespacedService({ name: "web", namespace: ns.name });
    const ip = svc.spec?.clusterIP ?? "<none>";
    expect(lookup).toContain(ip);
    const page = await dockerExec("bare", ["/busybox", "sh", "-c", `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | /busybox nc -w 5 ${ip} 80`]);
    expect(page).toContain(PAGE);
  });

  it("sees a host volume edited live, without a restart", async () => {
    writeFileSync(join(volume, "note.txt"), "first");
    await start("vol", { image: web, command: ["busybox", "sleep", "3600"], volumes: [`${volume}:/data`] });
    expect((await dockerExec("vol", ["cat", "/data/note.txt"])).trim()).toBe("first");
    writeFileSync(join(volume, "note.txt"), "second");
    expect((await dockerExec("vol", ["cat", "/data/note.txt"])).trim()).toBe("second");
  });

  it("keeps cluster connectivity across a restart and a recreate", async () => {
    await start("again", { image: web, command: ["busybox", "sleep", "3600"], restart: "unless-stopped" });
    await docker.getContainer("again").restart({ t: 0 });
    expect((await dockerExec("again", ["curl", "-fsS", "-m", "5", "http://web/"])).trim()).toBe(PAGE);
    await removeLocal("again");
    expect((await listLocal()).some((c) => c.name === "again")).toBe(false);
    await start("again", { image: web, command: ["busybox", "sleep", "3600"] });
    expect((await dockerExec("again", ["curl", "-fsS", "-m", "5", "http://web/"])).trim()).toBe(PAGE);
    await stopLocal("again");
    expect((await listLocal()).find((c) => c.name === "again")?.state).toBe("exited");
  });

  it("publishes ports HOST:CONTAINER and refuses a host port in use, leaving nothing half-made", async () => {
    await start("served", { image: web, ports: ["18481:8080"] });
    const res = await waitFor("published port", async () => {
      const r = await fetch("http://127.0.0.1:18481/", { signal: AbortSignal.timeout(2000) });
      return r.ok ? r : undefined;
    });
    expect((await res.text()).trim()).toBe(PAGE);

    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(18482, "127.0.0.1", r));
    try {
      await expect(start("clash", { image: web, ports: ["18482:8080"] })).rejects.toThrow(/host port 18482 is already in use.*-p/);
      expect((await listLocal()).some((c) => c.name === "clash")).toBe(false);
      expect(await docker.getContainer("clash-gefyra-netns").inspect().catch(() => undefined)).toBeUndefined();
    } finally {
      blocker.close();
    }
  });

  it("builds from a Dockerfile folder and copies CPU and memory limits from the workload", async () => {
    const context = mkdtempSync(join(tmpdir(), "gefyra-build-"));
    try {
      writeFileSync(join(context, "Dockerfile"), `FROM ${web}\nRUN echo "built locally" > /www/index.html\n`);
      const c = await start("built", { build: context, cpuFrom: "deploy/web", memoryFrom: "deploy/web" });
      expect(c.image).toBe("gefyra-ts-local/built:latest");
      expect((await dockerExec("built", ["curl", "-fsS", "-m", "5", "http://127.0.0.1:8080/"])).trim()).toBe("built locally");
      const info = await docker.getContainer("built").inspect();
      expect(info.HostConfig.NanoCpus).toBe(250_000_000);
      expect(info.HostConfig.Memory).toBe(96 * 2 ** 20);
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
  });

  it("fails with one line naming the fix: name in use, no connection, unknown image, missing volume", async () => {
    await expect(start("app", { image: web })).rejects.toThrow(/already exists: choose another --name/);
    await expect(runLocal({ name: "x1", image: web, connection: "no-such-connection" })).rejects.toThrow(/run 'gefyra up' first/);
    await expect(start("x2", { image: "gefyra-e2e/does-not-exist:1" })).rejects.toThrow(/not in the local Docker engine and could not be pulled/);
    await expect(start("x3", { image: web, volumes: ["/nonexistent/path:/data"] })).rejects.toThrow(/does not exist: create it/);
  });
});
