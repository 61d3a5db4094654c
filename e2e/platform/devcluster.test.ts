// The devcluster is real Kubernetes: these checks prove the machinery the product relies on
// (workloads from local images, cluster DNS, NodePorts from the host and from Docker networks,
// exec and port-forward through the API) before any product test depends on it.
import { execFile } from "node:child_process";
import net from "node:net";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clients, ensureFixtureImage, execInPod, nodeAddress, testNamespace, waitFor } from "../support/devcluster";

const run = promisify(execFile);
const PAGE = "hello from the devcluster";

describe("devcluster platform", () => {
  const { kc, core, apps } = clients();
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let image: string;
  let nodePort = 0;
  let nodeIp = "";

  beforeAll(async () => {
    image = await ensureFixtureImage("web");
    ns = await testNamespace(core, "platform");
    nodeIp = await nodeAddress(core);
  });
  afterAll(async () => {
    await ns?.dispose();
  });

  it("runs a Deployment from a locally built image until it is Ready", async () => {
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
              // busybox httpd as PID 1 ignores SIGTERM: do not wait 30 s for it at cleanup
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: "web",
                  image,
                  imagePullPolicy: "Never",
                  ports: [{ containerPort: 8080, name: "http" }],
                  readinessProbe: { httpGet: { path: "/", port: 8080 }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      },
    });
    const service = await core.createNamespacedService({
      namespace: ns.name,
      body: {
        metadata: { name: "web" },
        spec: { type: "NodePort", selector: labels, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
      },
    });
    nodePort = service.spec?.ports?.[0]?.nodePort ?? 0;
    expect(nodePort).toBeGreaterThanOrEqual(30000);

    const ready = await waitFor("web Deployment ready", async () => {
      const d = await apps.readNamespacedDeployment({ name: "web", namespace: ns.name });
      return (d.status?.readyReplicas ?? 0) >= 1 ? d : undefined;
    });
    expect(ready.status?.readyReplicas).toBe(1);
  });

  it("resolves and reaches a Service by NAME.NAMESPACE.svc.cluster.local from a pod (exec through the API)", async () => {
    await core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: "client" },
        spec: {
          containers: [{ name: "client", image, imagePullPolicy: "Never", command: ["busybox", "sleep", "3600"] }],
          terminationGracePeriodSeconds: 0,
        },
      },
    });
    await waitFor("client pod running", async () => {
      const p = await core.readNamespacedPod({ name: "client", namespace: ns.name });
      return p.status?.phase === "Running";
    });
    const fqdn = `web.${ns.name}.svc.cluster.local`;
    const lookup = await execInPod(kc, ns.name, "client", "client", ["getent", "hosts", fqdn]);
    const svc = await core.readNamespacedService({ name: "web", namespace: ns.name });
    expect(lookup).toContain(svc.spec?.clusterIP ?? "<no cluster IP>");

    const body = await execInPod(kc, ns.name, "client", "client", ["curl", "-fsS", "-m", "5", `http://${fqdn}/`]);
    expect(body.trim()).toBe(PAGE);
    // the short name works through the pod's search domains
    const short = await execInPod(kc, ns.name, "client", "client", ["curl", "-fsS", "-m", "5", "http://web/"]);
    expect(short.trim()).toBe(PAGE);
  });

  it("answers on the NodePort from the host", async () => {
    const res = await waitFor("NodePort answer", async () => {
      const r = await fetch(`http://${nodeIp}:${nodePort}/`, { signal: AbortSignal.timeout(3000) });
      return r.ok ? r : undefined;
    });
    expect((await res.text()).trim()).toBe(PAGE);
  });

  it("port-forwards to a pod through the API server", async () => {
    const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: "app=web" });
    const pod = pods.items[0]?.metadata?.name;
    expect(pod).toBeDefined();
    const forward = new k8s.PortForward(kc);
    const server = net.createServer((socket) => {
      void forward.portForward(ns.name, pod!, [8080], socket, null, socket);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(10_000) });
      expect((await res.text()).trim()).toBe(PAGE);
    } finally {
      server.close();
    }
  });

  it("is reachable on the NodePort from a container on a Docker network (the path Cargo uses)", async () => {
    const network = `gefyra-e2e-${Math.random().toString(36).slice(2, 8)}`;
    await run("docker", ["network", "create", network]);
    try {
      const { stdout } = await run("docker", [
        "run", "--rm", "--network", network, image,
        "curl", "-fsS", "-m", "5", `http://${nodeIp}:${nodePort}/`,
      ]);
      expect(stdout.trim()).toBe(PAGE);
      // ... but, as with a remote cluster, not the Service's cluster IP: that needs a tunnel
      const svc = await core.readNamespacedService({ name: "web", namespace: ns.name });
      const direct = await run("docker", [
        "run", "--rm", "--network", network, image,
        "curl", "-fsS", "-m", "3", `http://${svc.spec?.clusterIP ?? "0.0.0.0"}/`,
      ]).then(() => "reached", () => "blocked");
      expect(direct).toBe("blocked");
    } finally {
      await run("docker", ["network", "rm", network]);
    }
  });
});
