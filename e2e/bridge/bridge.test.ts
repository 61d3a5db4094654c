// `gefyra bridge` against the real devcluster, Docker engine and WireGuard tunnel: cluster traffic
// reaches local containers (all of it, or per developer by header), other traffic keeps reaching
// the original, a rollout is followed, and unbridge restores every pod exactly.
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import * as k8s from "@kubernetes/client-node";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NAMESPACE, ROTATION_HOLD_ANNOTATION, carrierTokenSecretName, bridgeGroupId } from "@gefyra/shared";
import { bridge, listBridges, unbridge } from "../../apps/server/src/core/bridge";
import { down, up } from "../../apps/server/src/core/connection";
import { removeLocal, runLocal } from "../../apps/server/src/core/run/local-container";
import { GefyraError } from "../../apps/server/src/core/errors";
import { clients, ensureFixtureImage, kubeconfigPath, repoRoot, testNamespace, waitFor } from "../support/devcluster";

const NODE_IP = process.env.GEFYRA_E2E_NODE_IP ?? "10.87.0.1";

interface Echo {
  identity: string;
  host?: string;
  user?: string | null;
  called?: string;
}

/** GET through the NodePort from this machine; one fresh connection per request. */
function getViaNodePort(port: number, path: string, headers: Record<string, string> = {}, timeoutMs = 5000, localPort?: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: NODE_IP, port, path, headers, agent: false, timeout: timeoutMs, ...(localPort ? { localPort } : {}) }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

describe("bridges", () => {
  const { kc, core, apps } = clients();
  const connection = `e2e-br-${Math.random().toString(36).slice(2, 7)}`;
  const locals: string[] = [];
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let echo = "";
  const base = { kubeconfig: kubeconfigPath, connection };

  const exec = (pod: string, command: string[], container?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      let out = "";
      let err = "";
      const stdout = new Writable({ write: (c: Buffer, _e, cb) => ((out += c.toString()), cb()) });
      const stderr = new Writable({ write: (c: Buffer, _e, cb) => ((err += c.toString()), cb()) });
      void new k8s.Exec(kc)
        .exec(ns.name, pod, container ?? "client", command, stdout, stderr, null, false, (s) => (s.status === "Success" ? resolve(out) : reject(new Error(`${command.join(" ")}: ${s.message ?? ""} ${err}`))))
        .catch(reject);
    });

  /** A curl from the client pod inside the cluster. */
  const curlFromPod = async (url: string, headers: Record<string, string> = {}): Promise<Echo> => {
    const pod = (await core.listNamespacedPod({ namespace: ns.name, labelSelector: "app=client" })).items.find((p) => p.status?.phase === "Running")!;
    const args = ["curl", "-fsS", "-m", "5", ...Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]), url];
    return JSON.parse(await exec(pod.metadata!.name!, args)) as Echo;
  };

  const deployEcho = async (name: string, replicas: number, extra: Partial<k8s.V1Container> = {}, grace = 2) => {
    const labels = { app: name };
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name },
        spec: {
          replicas,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              terminationGracePeriodSeconds: grace,
              containers: [
                {
                  name: "app",
                  image: echo,
                  imagePullPolicy: "IfNotPresent",
                  ports: [{ containerPort: 8080, name: "http" }],
                  env: [{ name: "IDENTITY", value: "original" }],
                  readinessProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 1 },
                  ...extra,
                },
              ],
            },
          },
        },
      },
    });
    const svc = await core.createNamespacedService({
      namespace: ns.name,
      body: { metadata: { name }, spec: { type: "NodePort", selector: labels, ports: [{ port: 8080, targetPort: 8080 }] } },
    });
    await waitFor(`${name} ready`, async () => {
      const d = await apps.readNamespacedDeployment({ name, namespace: ns.name });
      return (d.status?.readyReplicas ?? 0) >= replicas && (d.status?.updatedReplicas ?? 0) >= replicas;
    });
    return svc.spec!.ports![0]!.nodePort!;
  };

  const podsOf = async (app: string) =>
    (await core.listNamespacedPod({ namespace: ns.name, labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp);

  /** A pod's spec without what Kubernetes itself manages or defaults per container start. */
  const comparable = (p: k8s.V1Pod) => ({ name: p.metadata!.name, labels: p.metadata!.labels, annotations: p.metadata!.annotations ?? {}, spec: p.spec });

  const startLocal = async (name: string, identity: string) => {
    locals.push(name);
    await runLocal({ name, connection, namespace: ns.name, kubeConfig: kc, image: echo, env: { IDENTITY: identity } });
  };

  beforeAll(async () => {
    echo = await ensureFixtureImage("echo");
    ns = await testNamespace(core, "bridge");
    const web = await ensureFixtureImage("web");
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: "client" },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "client" } },
          template: { metadata: { labels: { app: "client" } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: "client", image: web, imagePullPolicy: "Never" }] } },
        },
      },
    });
    await up({ kubeconfig: kubeconfigPath, name: connection });
    await waitFor("client ready", async () => ((await apps.readNamespacedDeployment({ name: "client", namespace: ns.name })).status?.readyReplicas ?? 0) >= 1);
  }, 240_000);

  afterAll(async () => {
    await unbridge({ ...base, all: true }).catch(() => undefined);
    for (const n of locals) await removeLocal(n).catch(() => undefined);
    await down({ kubeconfig: kubeconfigPath, name: connection }).catch(() => undefined);
    await ns?.dispose();
  }, 240_000);

  it("sends all of a 2-replica Deployment's traffic to the local container, which reaches the cluster mid-request; unbridge restores every pod exactly", async () => {
    const nodePort = await deployEcho("api", 2);
    await deployEcho("other", 1, { env: [{ name: "IDENTITY", value: "other" }] });
    await startLocal("api-local", "local");
    const before = (await podsOf("api")).map(comparable).sort((a, b) => a.name!.localeCompare(b.name!));
    const hashBefore = (await podsOf("api"))[0]!.metadata!.labels!["pod-template-hash"];
    const steps: string[] = [];

    const started = Date.now();
    const info = await bridge({ ...base, target: "deploy/api", namespace: ns.name, local: "api-local", ports: [{ remote: 8080, local: 8080 }] }, (p) => steps.push(p.step));
    console.log(`global bridge of 2 replicas active in ${Date.now() - started} ms; steps ${[...new Set(steps)].join(" > ")}`);
    expect(info.state).toBe("Active");
    expect(info.pods).toHaveLength(2);
    expect(steps).toContain("ready");

    // every request, from a pod through the Service and from this machine through the NodePort
    // (after kube-proxy has caught up with the replicas' endpoints: well under a second)
    await waitFor("the Service answers", async () => (await curlFromPod(`http://api.${ns.name}:8080/first`)).identity === "local", 10_000);
    for (let i = 0; i < 8; i++) expect((await curlFromPod(`http://api.${ns.name}:8080/from-pod/${i}`)).identity).toBe("local");
    const hosts = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const r = await getViaNodePort(nodePort, `/from-host/${i}`);
      expect(r.status).toBe(200);
      expect((JSON.parse(r.body) as Echo).identity).toBe("local");
      hosts.add((JSON.parse(r.body) as Echo).host!);
    }
    expect(hosts.size).toBe(1); // one local container answered for both replicas
    // A -> local -> C: the local container calls another cluster Service while answering
    const chained = await curlFromPod(`http://api.${ns.name}:8080/call?url=http://other.${ns.name}.svc.cluster.local:8080/c`);
    expect(chained.identity).toBe("local");
    expect((JSON.parse(chained.called!) as Echo).identity).toBe("other");

    // while bridged: Carrier runs in place of the container, the template is untouched
    const bridged = await podsOf("api");
    expect(bridged.map((p) => p.metadata!.name).sort()).toEqual(before.map((p) => p.name));
    for (const p of bridged) expect(p.spec!.containers[0]!.image).toMatch(/carrier/);
    expect(bridged[0]!.metadata!.labels!["pod-template-hash"]).toBe(hashBefore);
    const listed = await listBridges(base);
    expect(listed.map((b) => `${b.name}:${b.state}`)).toContain(`${info.name}:Active`);

    // Carrier's records: on its own authenticated port, reached through the tunnel from the local side
    const token = Buffer.from(
      (await core.readNamespacedSecret({ namespace: NAMESPACE, name: carrierTokenSecretName(bridgeGroupId({ namespace: ns.name, kind: "deployment", name: "api", container: "app" })) })).data!.token!,
      "base64",
    ).toString();
    const curlLocal = (args: string[]) =>
      new Promise<string>((resolve, reject) => execFile("docker", ["exec", "api-local", "curl", "-sS", "-m", "5", ...args], (e, out) => (e ? reject(new Error(e.message)) : resolve(out))));
    expect(await curlLocal(["-o", "/dev/null", "-w", "%{http_code}", `http://${bridged[0]!.status!.podIP!}:8999/records`])).toBe("401");
    let recorded = "";
    for (const p of bridged) recorded += await curlLocal(["-H", `Authorization: Bearer ${token}`, `http://${p.status!.podIP!}:8999/records?since=0`]);
    // the Service spreads the requests over both replicas: each request is recorded once, by its pod
    for (let i = 0; i < 8; i++) expect(recorded).toContain(`/from-host/${i}`);

    const t0 = Date.now();
    const removed = await unbridge({ ...base, name: info.name });
    console.log(`unbridge to restored in ${Date.now() - t0} ms`);
    expect(removed.removed).toEqual([info.name]);
    await waitFor("original answers again", async () => {
      const r = await getViaNodePort(nodePort, "/after");
      return (JSON.parse(r.body) as Echo).identity === "original";
    }, 30_000);
    for (let i = 0; i < 4; i++) expect((await curlFromPod(`http://api.${ns.name}:8080/after/${i}`)).identity).toBe("original");
    const after = (await podsOf("api")).map(comparable).sort((a, b) => a.name!.localeCompare(b.name!));
    expect(after).toEqual(before);
    expect((await podsOf("api"))[0]!.metadata!.labels!["pod-template-hash"]).toBe(hashBefore);
    expect((await listBridges(base)).length).toBe(0);
    const shadow = await apps.readNamespacedDeployment({ namespace: ns.name, name: "api-gefyra-shadow" }).then(() => "exists", () => "gone");
    expect(shadow).toBe("gone");
    // and the group's Carrier token
    const tokenLeft = await core
      .readNamespacedSecret({ namespace: NAMESPACE, name: carrierTokenSecretName(bridgeGroupId({ namespace: ns.name, kind: "deployment", name: "api", container: "app" })) })
      .then(() => "exists", () => "gone");
    expect(tokenLeft).toBe("gone");
  }, 240_000);

  it("gives two developers their own requests by header (also WebSocket and gRPC over h2c); everyone else gets the original; overlaps are refused", async () => {
    // a custom command (node …) that Carrier's launcher stands in for
    const nodePort = await deployEcho("shop", 2, { command: ["node", "/app/server.js"] });
    await startLocal("alice", "alice");
    await startLocal("bob", "bob");
    const a = await bridge({ ...base, name: "alice-shop", target: "deploy/shop/app", namespace: ns.name, local: "alice", ports: [{ remote: 8080, local: 8080 }], match: [{ kind: "header", name: "x-user", op: "exact", value: "alice" }] });
    const b = await bridge({ ...base, name: "bob-shop", target: "deploy/shop", namespace: ns.name, local: "bob", ports: [{ remote: 8080, local: 8080 }], match: [{ kind: "header", name: "x-user", op: "exact", value: "bob" }] });
    expect(a.state).toBe("Active");
    expect(b.shadow).toBe("shop-gefyra-shadow");

    for (let i = 0; i < 4; i++) {
      expect((await curlFromPod(`http://shop.${ns.name}:8080/p`, { "x-user": "alice" })).identity).toBe("alice");
      expect((await curlFromPod(`http://shop.${ns.name}:8080/p`, { "x-user": "bob" })).identity).toBe("bob");
      expect((await curlFromPod(`http://shop.${ns.name}:8080/p`)).identity).toBe("original");
      expect((await curlFromPod(`http://shop.${ns.name}:8080/p`, { "x-user": "carol" })).identity).toBe("original");
      const viaNodePort = JSON.parse((await getViaNodePort(nodePort, "/n", { "x-user": "alice" })).body) as Echo;
      expect(viaNodePort.identity).toBe("alice");
    }

    // WebSocket through the bridge
    const first = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`ws://${NODE_IP}:${nodePort}/ws`, { headers: { "x-user": "alice" } });
      ws.once("message", (m: Buffer) => {
        resolve(m.toString());
        ws.close();
      });
      ws.once("error", reject);
    });
    expect(first).toBe("alice");

    // a gRPC-shaped unary call over h2c through the bridge
    const grpc = await new Promise<{ body: string; status: string | undefined }>((resolve, reject) => {
      const client = http2.connect(`http://${NODE_IP}:${nodePort}`);
      client.on("error", reject);
      const msg = Buffer.from("hi");
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
      const req = client.request({ ":method": "POST", ":path": "/echo.Echo/Say", "content-type": "application/grpc", te: "trailers", "x-user": "bob" });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("trailers", (t: http2.IncomingHttpHeaders) => (status = String(t["grpc-status"])));
      req.on("end", () => {
        client.close();
        resolve({ body: Buffer.concat(chunks).subarray(5).toString(), status });
      });
      req.on("error", reject);
      req.end(frame);
    });
    expect(grpc).toEqual({ body: "bob:hi", status: "0" });

    // overlapping rules are refused, naming the other bridge
    const overlap = await bridge({ ...base, name: "carol-shop", target: "deploy/shop", namespace: ns.name, local: "alice", ports: [{ remote: 8080, local: 8080 }], match: [{ kind: "header", name: "x-user", op: "prefix", value: "ali" }] }).catch((e: unknown) => e);
    expect(overlap).toBeInstanceOf(GefyraError);
    expect((overlap as GefyraError).message).toContain("alice-shop");

    // bob leaves: alice keeps her requests, bob's go to the original
    await unbridge({ ...base, name: "bob-shop" });
    expect((await curlFromPod(`http://shop.${ns.name}:8080/p`, { "x-user": "bob" })).identity).toBe("original");
    expect((await curlFromPod(`http://shop.${ns.name}:8080/p`, { "x-user": "alice" })).identity).toBe("alice");
    await unbridge({ ...base, name: "alice-shop" });
    expect((await curlFromPod(`http://shop.${ns.name}:8080/p`, { "x-user": "alice" })).identity).toBe("original");
    await waitFor("shadow removed", async () => apps.readNamespacedDeployment({ namespace: ns.name, name: "shop-gefyra-shadow" }).then(() => false, () => true), 30_000);
  }, 300_000);

  it("bridges a non-HTTP TCP port whole (Redis), and restores it", async () => {
    const redis = await ensureFixtureImage("redis");
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: "kv" },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "kv" } },
          template: { metadata: { labels: { app: "kv" } }, spec: { terminationGracePeriodSeconds: 2, containers: [{ name: "redis", image: redis, imagePullPolicy: "Never", ports: [{ containerPort: 6379 }] }] } },
        },
      },
    });
    await core.createNamespacedService({ namespace: ns.name, body: { metadata: { name: "kv" }, spec: { selector: { app: "kv" }, ports: [{ port: 6379 }] } } });
    await waitFor("kv ready", async () => ((await apps.readNamespacedDeployment({ name: "kv", namespace: ns.name })).status?.readyReplicas ?? 0) >= 1);
    locals.push("kv-local");
    await runLocal({ name: "kv-local", connection, namespace: ns.name, kubeConfig: kc, image: redis });
    await waitFor("local redis", async () => {
      await new Promise<void>((resolve, reject) => execFile("docker", ["exec", "kv-local", "redis-cli", "set", "who", "local"], (e) => (e ? reject(new Error(e.message)) : resolve())));
      return true;
    }, 20_000);
    // RESP (not HTTP): Carrier sees no HTTP request and pipes the bytes
    const get = async () => {
      const pod = (await core.listNamespacedPod({ namespace: ns.name, labelSelector: "app=client" })).items.find((p) => p.status?.phase === "Running")!;
      return exec(pod.metadata!.name!, ["sh", "-c", `printf '*2\\r\\n$3\\r\\nGET\\r\\n$3\\r\\nwho\\r\\n*1\\r\\n$4\\r\\nQUIT\\r\\n' | curl -s -m 3 telnet://kv.${ns.name}:6379 || true`]);
    };
    // the Service was just made: kube-proxy's rules and Redis's listener may still be on their way
    await waitFor("the cluster's Redis answers (no such key there)", async () => (await get()).includes("$-1"), 30_000);
    await bridge({ ...base, name: "kv", target: "deploy/kv", namespace: ns.name, local: "kv-local", ports: [{ remote: 6379, local: 6379 }] });
    await waitFor("the local Redis answers", async () => (await get()).includes("local"), 15_000);
    await unbridge({ ...base, name: "kv" });
    await waitFor("the cluster's Redis again", async () => (await get()).includes("$-1"), 30_000);
  }, 240_000);

  it("bridges a StatefulSet and a bare pod too, and restores them", async () => {
    await startLocal("kinds-local", "local");
    const container = { name: "app", image: echo, imagePullPolicy: "IfNotPresent", ports: [{ containerPort: 8080 }], readinessProbe: { httpGet: { path: "/ready", port: 8080 }, periodSeconds: 1 } };
    await apps.createNamespacedStatefulSet({
      namespace: ns.name,
      body: { metadata: { name: "db" }, spec: { serviceName: "db", replicas: 1, selector: { matchLabels: { app: "db" } }, template: { metadata: { labels: { app: "db" } }, spec: { terminationGracePeriodSeconds: 2, containers: [container] } } } },
    });
    await core.createNamespacedPod({ namespace: ns.name, body: { metadata: { name: "solo", labels: { app: "solo" } }, spec: { terminationGracePeriodSeconds: 2, containers: [container] } } });
    for (const app of ["db", "solo"]) {
      await core.createNamespacedService({ namespace: ns.name, body: { metadata: { name: app }, spec: { selector: { app }, ports: [{ port: 8080 }] } } });
      await waitFor(`${app} ready`, async () => (await podsOf(app)).some((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")));
    }
    for (const [target, app] of [["statefulset/db", "db"], ["pod/solo", "solo"]] as const) {
      const before = (await podsOf(app)).map(comparable);
      const b = await bridge({ ...base, name: `kinds-${app}`, target, namespace: ns.name, local: "kinds-local", ports: [{ remote: 8080, local: 8080 }] });
      expect(b.state).toBe("Active");
      await waitFor(`${target} answered locally`, async () => (await curlFromPod(`http://${app}.${ns.name}:8080/k`)).identity === "local", 10_000);
      await unbridge({ ...base, name: b.name });
      await waitFor(`${target} original again`, async () => (await curlFromPod(`http://${app}.${ns.name}:8080/k`)).identity === "original", 30_000);
      expect((await podsOf(app)).map(comparable)).toEqual(before);
    }
  }, 240_000);

  it("re-establishes a bridge on the replicas of a rollout", async () => {
    const nodePort = await deployEcho("roll", 2);
    await startLocal("roll-local", "local");
    await bridge({ ...base, name: "roll", target: "deploy/roll", namespace: ns.name, local: "roll-local", ports: [{ remote: 8080, local: 8080 }] });
    const oldPods = (await podsOf("roll")).map((p) => p.metadata!.name);
    const restartedAt = Date.now();
    await apps.patchNamespacedDeployment(
      { namespace: ns.name, name: "roll", body: { spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": new Date().toISOString() } } } } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await waitFor(
      "new replicas bridged",
      async () => {
        const pods = await podsOf("roll");
        const fresh = pods.filter((p) => !oldPods.includes(p.metadata!.name));
        return pods.length === 2 && fresh.length === 2 && fresh.every((p) => p.spec!.containers[0]!.image!.includes("carrier") && p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
      },
      90_000,
      500,
    );
    console.log(`rollout of 2 replicas re-bridged ${Date.now() - restartedAt} ms after the restart`);
    // the old replicas are gone (not just terminating) before the Service is asked
    await waitFor("old replicas gone", async () => (await core.listNamespacedPod({ namespace: ns.name, labelSelector: "app=roll" })).items.length === 2, 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    await waitFor("the NodePort answers", async () => (JSON.parse((await getViaNodePort(nodePort, "/first")).body) as Echo).identity === "local", 10_000);
    for (let i = 0; i < 6; i++) expect((JSON.parse((await getViaNodePort(nodePort, `/r${i}`)).body) as Echo).identity).toBe("local");
    await unbridge({ ...base, name: "roll" });
    for (const p of await podsOf("roll")) expect(p.spec!.containers[0]!.image).toBe(echo);
  }, 240_000);

  it("loses no request of everyone else while a personal bridge is created and removed on 2 replicas", async () => {
    // drains on termination like Kubernetes asks of every workload (a preStop pause within the
    // grace period); see docs/bridge.md
    const nodePort = await deployEcho("steady", 2, process.env.GEFYRA_E2E_NO_PRESTOP ? {} : { lifecycle: { preStop: { sleep: { seconds: 2 } } } }, 10);
    // kube-proxy programs a new NodePort within a moment: start counting once it answers. A probe
    // sent while kube-proxy still has no endpoint for the Service is refused by its REJECT rule,
    // and conntrack keeps that SYN untranslated for 120 s: a later connection from the same source
    // port is then refused by the node itself, whatever the endpoints (docs/bridge.md). So each
    // probe comes from its own port below the kernel's ephemeral range, which the loop never uses.
    let probePort = 20_000 + Math.floor(Math.random() * 100) * 50;
    let refusedProbes = 0;
    await waitFor("the NodePort", async () => {
      try {
        return (await getViaNodePort(nodePort, "/ready-check", {}, 5000, probePort++)).status === 200;
      } catch (e) {
        refusedProbes++;
        throw e;
      }
    }, 10_000, 100);
    console.log(`the NodePort answered after ${refusedProbes} refused warm-up probe(s)`);
    await startLocal("steady-local", "local");
    // what the Service's endpoints and the pods did, to name the cause when a request fails
    const timeline: string[] = [];
    const t0 = Date.now();
    const watches = await watchTimeline(ns.name, "steady", () => Date.now() - t0, timeline);
    let stop = false;
    const counts = { ok: 0, original: 0, failed: 0, errors: [] as string[] };
    const failedAt: number[] = [];
    const marks: string[] = [];
    // bounded: at most 3000 requests and 120 s
    const deadline = Date.now() + 120_000;
    const loop = (async () => {
      for (let i = 0; i < 3000 && !stop && Date.now() < deadline; i++) {
        try {
          const r = await getViaNodePort(nodePort, `/steady/${i}`);
          if (r.status === 200) {
            counts.ok++;
            if ((JSON.parse(r.body) as Echo).identity === "original") counts.original++;
          } else {
            counts.failed++;
            counts.errors.push(`HTTP ${r.status}`);
            failedAt.push(Date.now() - t0);
          }
        } catch (e) {
          counts.failed++;
          counts.errors.push((e as Error).message);
          failedAt.push(Date.now() - t0);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await new Promise((r) => setTimeout(r, 1000));
    marks.push(`bridge ${Date.now() - t0}`);
    await bridge({ ...base, name: "steady", target: "deploy/steady", namespace: ns.name, local: "steady-local", ports: [{ remote: 8080, local: 8080 }], match: [{ kind: "header", name: "x-user", op: "exact", value: "me" }] });
    const mine = await getViaNodePort(nodePort, "/mine", { "x-user": "me" });
    expect(mine.body).toContain('"identity":"local"');
    marks.push(`active ${Date.now() - t0}`);
    await unbridge({ ...base, name: "steady" });
    marks.push(`unbridged ${Date.now() - t0}`);
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await loop;
    for (const w of watches) w.abort();
    console.log(`non-bridged requests through create+delete of a personal bridge: ${counts.ok} ok, ${counts.failed} failed${counts.errors.length ? ` (${[...new Set(counts.errors)].join("; ")})` : ""}`);
    if (failedAt.length) console.log(`failures at ms ${failedAt.join(",")}; ${marks.join(", ")}\n${timeline.join("\n")}`);
    expect(counts.ok).toBeGreaterThan(50);
    expect(counts.original).toBe(counts.ok);
    // the message carries what failed and when, so a failure in CI says which phase lost requests
    // with the pod and EndpointSlice events from 3 s before the first failure to 1 s after the last
    const near = timeline.filter((line) => {
      const at = Number(line.split(" ")[0]);
      return failedAt.length > 0 && at >= failedAt[0]! - 3000 && at <= failedAt[failedAt.length - 1]! + 1000;
    });
    const why = `${[...new Set(counts.errors)].join("; ")} at ms ${failedAt.join(",")}; ${marks.join(", ")}${near.length ? `\n${near.join("\n")}` : ""}`;
    expect(counts.failed, why).toBe(0);
  }, 300_000);

  it("the rotation-hold policy refuses Ready=True while the annotated container runs, and nothing else", async () => {
    await deployEcho("held", 1);
    const [pod] = await podsOf("held");
    const name = pod!.metadata!.name!;
    const running = pod!.status!.containerStatuses![0]!.containerID!;
    const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
    const annotate = (value: string | null) => core.patchNamespacedPod({ namespace: ns.name, name, body: { metadata: { annotations: { [ROTATION_HOLD_ANNOTATION]: value } } } }, merge);
    const setReady = (status: "True" | "False") =>
      core.patchNamespacedPodStatus(
        { namespace: ns.name, name, body: { status: { conditions: [{ type: "Ready", status, lastTransitionTime: new Date() }] } } },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch),
      );
    const refusal = (p: Promise<unknown>) => p.then(() => "accepted", (e: unknown) => String((e as { body?: unknown }).body ?? e));

    await annotate(running);
    expect(await refusal(setReady("False"))).toBe("accepted");
    expect(await refusal(setReady("True"))).toMatch(/gefyra-ts-rotation-hold.*held out of its Services/);
    // kubelet's own writes are refused too: the pod stays unready although its probe passes
    await new Promise((r) => setTimeout(r, 3000));
    expect((await core.readNamespacedPod({ namespace: ns.name, name })).status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("False");
    // a hold naming another container (the one being swapped has stopped) refuses nothing
    await annotate("containerd://0000");
    expect(await refusal(setReady("True"))).toBe("accepted");
    await annotate(running);
    await setReady("False");
    await annotate(null);
    await waitFor("kubelet makes the pod Ready again", async () => (await podsOf("held")).every((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")), 30_000);
  }, 60_000);

  it("keeps a bridge working across a Stowaway restart (routes re-added, Carriers re-pointed)", async () => {
    const nodePort = await deployEcho("sw", 1);
    await startLocal("sw-local", "local");
    await bridge({ ...base, name: "sw", target: "deploy/sw", namespace: ns.name, local: "sw-local", ports: [{ remote: 8080, local: 8080 }] });
    await waitFor("the local answer", async () => (JSON.parse((await getViaNodePort(nodePort, "/s")).body) as Echo).identity === "local", 10_000);
    const selector = "app.kubernetes.io/component=stowaway";
    const old = (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: selector })).items[0]!.metadata!.name!;
    const t = Date.now();
    await core.deleteNamespacedPod({ namespace: NAMESPACE, name: old });
    await waitFor(
      "the local answer through the new Stowaway",
      async () => {
        const pods = (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: selector })).items;
        if (pods.some((p) => p.metadata!.name === old)) return false;
        return (JSON.parse((await getViaNodePort(nodePort, "/s", {}, 2000)).body) as Echo).identity === "local";
      },
      90_000,
      500,
    );
    console.log(`bridge answered locally again ${Date.now() - t} ms after Stowaway's pod was deleted`);
    await unbridge({ ...base, name: "sw" });
  }, 240_000);

  it("removes a developer's bridges and restores the pods when their heartbeat expires", async () => {
    const nodePort = await deployEcho("ttl", 1);
    const ttlConnection = `${connection}-ttl`;
    await up({ kubeconfig: kubeconfigPath, name: ttlConnection, heartbeatTTLSeconds: 8 });
    locals.push("ttl-local");
    await runLocal({ name: "ttl-local", connection: ttlConnection, namespace: ns.name, kubeConfig: kc, image: echo, env: { IDENTITY: "local" } });
    await bridge({ kubeconfig: kubeconfigPath, connection: ttlConnection, name: "ttl", target: "deploy/ttl", namespace: ns.name, local: "ttl-local", ports: [{ remote: 8080, local: 8080 }] });
    await waitFor("the local answer", async () => (JSON.parse((await getViaNodePort(nodePort, "/t")).body) as Echo).identity === "local", 10_000);
    // the laptop goes away: Cargo (and with it the heartbeat) stops
    await new Promise<void>((resolve, reject) => execFile("docker", ["stop", "-t", "1", `gefyra-ts-cargo-${ttlConnection}`], (e) => (e ? reject(new Error(e.message)) : resolve())));
    const stopped = Date.now();
    await waitFor(
      "bridge removed and the original back",
      async () => (await listBridges({ kubeconfig: kubeconfigPath, connection: ttlConnection })).length === 0 && (await podsOf("ttl")).every((p) => p.spec!.containers[0]!.image === echo),
      90_000,
      500,
    );
    console.log(`heartbeat TTL 8 s: bridge removed and pods restored ${Date.now() - stopped} ms after Cargo stopped`);
    await waitFor("original answers", async () => (JSON.parse((await getViaNodePort(nodePort, "/t")).body) as Echo).identity === "original", 30_000);
    await down({ kubeconfig: kubeconfigPath, name: ttlConnection }).catch(() => undefined);
  }, 240_000);

  it("refuses what cannot be bridged with a sentence that says why and what to do", async () => {
    await startLocal("err-local", "local");
    const attempt = (over: Partial<Parameters<typeof bridge>[0]>) =>
      bridge({ ...base, target: "deploy/api", namespace: ns.name, local: "err-local", ports: [{ remote: 8080, local: 8080 }], ...over }).then(
        () => new GefyraError("UNEXPECTED", "it was bridged"),
        (e: unknown) => e as GefyraError,
      );
    expect((await attempt({ target: "deploy/nope" })).message).toMatch(/not found in namespace/);
    expect((await attempt({ ports: [{ remote: 9999, local: 8080 }] })).message).toMatch(/does not declare port 9999: its ports are 8080/);
    expect((await attempt({ local: "no-such-container" })).message).toMatch(/no local container named no-such-container/);
    const regex = await attempt({ match: [{ kind: "path", op: "regex", value: "^(a+)\\1$" }] });
    expect(regex.code).toBe("RULE_UNSAFE");
    // two containers: the name must be given, with the choices listed
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: "duo" },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "duo" } },
          template: {
            metadata: { labels: { app: "duo" } },
            spec: { containers: [{ name: "a", image: echo, ports: [{ containerPort: 8080 }] }, { name: "b", image: echo, env: [{ name: "PORT", value: "9090" }], ports: [{ containerPort: 9090 }] }] },
          },
        },
      },
    });
    await waitFor("duo ready", async () => ((await apps.readNamespacedDeployment({ name: "duo", namespace: ns.name })).status?.readyReplicas ?? 0) >= 1);
    expect((await attempt({ target: "deploy/duo" })).message).toMatch(/choices: a, b/);
    // a rollout in progress
    await apps.patchNamespacedDeployment(
      { namespace: ns.name, name: "duo", body: { spec: { template: { metadata: { annotations: { restarted: String(Date.now()) } } } } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    expect((await attempt({ target: "deploy/duo/a" })).code).toMatch(/ROLLOUT_IN_PROGRESS|WORKLOAD_NOT_READY/);
    // containers Carrier cannot stand in for: refused by the operator, nothing left behind
    await deployEcho("execprobe", 1, { readinessProbe: { exec: { command: ["cat", "/app/server.js"] }, periodSeconds: 1 } });
    const execProbe = await attempt({ target: "deploy/execprobe", name: "execprobe" });
    expect(execProbe.code).toBe("BRIDGE_REFUSED");
    expect(execProbe.message).toMatch(/exec readiness probe \(cat \/app\/server.js\) that Carrier cannot answer/);
    await deployEcho("custom", 1, { command: ["/usr/bin/env", "node", "/app/server.js"] });
    const custom = await attempt({ target: "deploy/custom", name: "custom" });
    expect(custom.code).toBe("BRIDGE_REFUSED");
    expect(custom.message).toMatch(/\/usr\/bin\/env/);
    for (const p of await podsOf("execprobe")) expect(p.spec!.containers[0]!.image).toBe(echo);
    // a stopped local container
    await new Promise<void>((resolve, reject) => execFile("docker", ["stop", "-t", "1", "err-local"], (e) => (e ? reject(new Error(e.message)) : resolve())));
    expect((await attempt({})).code).toBe("LOCAL_NOT_RUNNING");
    expect(await listBridges(base)).toEqual([]);
  }, 240_000);

  it("works through the gefyra CLI: bridge, list, unbridge, and one line with exit 1 on a mistake", async () => {
    const env = { ...process.env, KUBECONFIG: kubeconfigPath, GEFYRA_DATA_DIR: mkdtempSync(join(tmpdir(), "gefyra-bridge-cli-")) };
    const gefyra = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(join(repoRoot, "apps/server/bin/gefyra.js"), args, { env, timeout: 120_000 }, (e, stdout, stderr) => resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, stdout, stderr })),
      );
    const made = await gefyra("bridge", "--connection", connection, "--target", "deploy/api", "-n", ns.name, "--local", "api-local", "--port", "8080:8080", "--match-path-prefix", "/cli", "--name", "cli", "--json");
    expect(made.code).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({ name: "cli", state: "Active", match: [{ kind: "path", op: "prefix", value: "/cli" }] });
    expect(made.stderr).toContain("shadow");
    expect((await curlFromPod(`http://api.${ns.name}:8080/cli/x`)).identity).toBe("local");
    expect((await curlFromPod(`http://api.${ns.name}:8080/other`)).identity).toBe("original");
    const listed = await gefyra("list", "--connection", connection);
    expect(listed.stdout).toMatch(/cli\tActive\tdeployment\/api\/app/);
    const wrong = await gefyra("bridge", "--connection", connection, "--target", "deploy/api", "-n", ns.name, "--local", "api-local", "--port", "8081:8080");
    expect(wrong.code).toBe(1);
    // progress lines, then the error: one line that says what to do
    const errorLines = wrong.stderr.trim().split("\n").filter((l) => l.startsWith("gefyra:"));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toMatch(/^gefyra: container app of deploy\/api does not declare port 8081: its ports are 8080$/);
    const removed = await gefyra("unbridge", "cli");
    expect(removed.code).toBe(0);
    expect((await curlFromPod(`http://api.${ns.name}:8080/cli/x`)).identity).toBe("original");
  }, 240_000);
});

/** Watches the pods of `app` and their EndpointSlices, one line per change: "ms what". */
async function watchTimeline(namespace: string, app: string, ms: () => number, into: string[]): Promise<AbortController[]> {
  const kc = clients().kc;
  const watch = new k8s.Watch(kc);
  const pods = await watch.watch(`/api/v1/namespaces/${namespace}/pods`, { labelSelector: `app=${app}` }, (type: string, p: k8s.V1Pod) => {
    const ready = p.status?.conditions?.find((c) => c.type === "Ready");
    const cs = p.status?.containerStatuses?.[0];
    const state = cs?.state?.running ? "running" : cs?.state?.terminated ? "terminated" : cs?.state?.waiting ? `waiting` : "?";
    into.push(`${ms()} pod ${type} ${p.metadata?.name?.slice(-5)} Ready=${ready?.status}${ready?.reason ? `(${ready.reason})` : ""} ${cs?.image?.split("/").pop()} ${state} ${cs?.containerID?.slice(-6) ?? ""}`);
  }, () => {});
  const slices = await watch.watch(`/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`, { labelSelector: `kubernetes.io/service-name=${app}` }, (type: string, s: k8s.V1EndpointSlice) => {
    into.push(`${ms()} slice ${type} ${(s.endpoints ?? []).map((e) => `${e.targetRef?.name?.slice(-5)}:${e.conditions?.ready ? "ready" : "notready"}${e.conditions?.terminating ? "/terminating" : ""}`).join(" ")}`);
  }, () => {});
  return [pods, slices];
}
