// --env-from against the real devcluster: the environment computed for the local container equals
// the one the workload's container really has (checked by exec `env` in the pod).
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workloadEnvironment, environmentFor } from "../../apps/server/src/core/run/environment";
import { parseWorkloadRef } from "../../apps/server/src/core/run/workload";
import { clients, ensureFixtureImage, execInPod, testNamespace, waitFor } from "../support/devcluster";

describe("env-from a workload", () => {
  const { kc, core, apps } = clients();
  let ns: Awaited<ReturnType<typeof testNamespace>>;

  beforeAll(async () => {
    const image = await ensureFixtureImage("web");
    ns = await testNamespace(core, "envfrom");
    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: "settings" }, data: { MODE: "debug", COLOR: "blue" } } });
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: { metadata: { name: "creds" }, stringData: { PASSWORD: "s3cr3t value", TOKEN: "t-123" } },
    });
    await core.createNamespacedService({
      namespace: ns.name,
      body: { metadata: { name: "backend" }, spec: { selector: { app: "none" }, ports: [{ name: "http", port: 8081 }] } },
    });
    const labels = { app: "api" };
    const container = (name: string) => ({
      name,
      image,
      imagePullPolicy: "Never",
      env: [
        { name: "LITERAL", value: "plain" },
        { name: "FROM_CM", valueFrom: { configMapKeyRef: { name: "settings", key: "MODE" } } },
        { name: "FROM_SECRET", valueFrom: { secretKeyRef: { name: "creds", key: "PASSWORD" } } },
        { name: "EXPANDED", value: "mode=$(FROM_CM)" },
        { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      ],
      envFrom: [{ configMapRef: { name: "settings" } }, { secretRef: { name: "creds" }, prefix: "S_" }],
    });
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: "api" },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            // busybox httpd as PID 1 ignores SIGTERM: do not wait 30 s for it at cleanup
            spec: { terminationGracePeriodSeconds: 1, containers: [container("api"), { ...container("sidecar"), env: [], envFrom: [], command: ["busybox", "sleep", "3600"] }] },
          },
        },
      },
    });
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: "idle" },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: "idle" } },
          template: { metadata: { labels: { app: "idle" } }, spec: { containers: [{ name: "idle", image }] } },
        },
      },
    });
    await waitFor("api ready", async () => ((await apps.readNamespacedDeployment({ name: "api", namespace: ns.name })).status?.readyReplicas ?? 0) >= 1);
  });
  afterAll(async () => {
    await ns?.dispose();
  });

  it("equals the environment the container has in the cluster, for every kind of source", async () => {
    const env = await workloadEnvironment(kc, ns.name, parseWorkloadRef("deploy/api/api"));
    expect(env).toMatchObject({
      LITERAL: "plain",
      FROM_CM: "debug",
      FROM_SECRET: "s3cr3t value",
      EXPANDED: "mode=debug",
      MODE: "debug",
      COLOR: "blue",
      S_PASSWORD: "s3cr3t value",
      S_TOKEN: "t-123",
    });
    expect(env.BACKEND_SERVICE_PORT).toBe("8081");
    expect(env.KUBERNETES_SERVICE_HOST).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    // what the pod really sees (image ENV such as PATH and HOSTNAME aside)
    const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: "app=api" });
    const pod = pods.items[0]?.metadata?.name ?? "";
    expect(env.POD_NAME).toBe(pod);
    const inPod = Object.fromEntries(
      (await execInPod(kc, ns.name, pod, "api", ["env"]))
        .split("\n")
        .filter((l) => l.includes("="))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    for (const ignored of ["PATH", "HOSTNAME", "HOME", "TERM"]) delete inPod[ignored];
    expect(env).toEqual(inPod);
  });

  it("lets explicit -e values win", async () => {
    const env = await environmentFor(kc, ns.name, parseWorkloadRef("deploy/api/api"), { MODE: "override" });
    expect(env.MODE).toBe("override");
    expect(env.LITERAL).toBe("plain");
  });

  it("says which Secret the user may not read, and how to go on, when RBAC forbids it", async () => {
    // a user who may read the workload and its ConfigMaps, but no Secrets
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: "reader" } } });
    await rbac.createNamespacedRole({
      namespace: ns.name,
      body: {
        metadata: { name: "reader" },
        rules: [
          { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "list"] },
          { apiGroups: [""], resources: ["pods", "services", "configmaps"], verbs: ["get", "list"] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns.name,
      body: {
        metadata: { name: "reader" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "reader" },
        subjects: [{ kind: "ServiceAccount", name: "reader", namespace: ns.name }],
      },
    });
    const token = await core.createNamespacedServiceAccountToken({ name: "reader", namespace: ns.name, body: { spec: { audiences: [], expirationSeconds: 600 } } });
    const cluster = kc.getCurrentCluster();
    const limited = new k8s.KubeConfig();
    limited.loadFromOptions({
      clusters: [cluster!],
      users: [{ name: "reader", token: token.status?.token ?? "" }],
      contexts: [{ name: "reader", cluster: cluster!.name, user: "reader" }],
      currentContext: "reader",
    });
    await expect(workloadEnvironment(limited, ns.name, parseWorkloadRef("deploy/api/api"))).rejects.toThrow(
      /Secret creds in namespace .* is not readable with your rights: ask for 'get secrets' there, or pass the values with -e/,
    );
  });

  it("fails with one line naming the fix for a missing workload, zero ready pods, or an ambiguous container", async () => {
    await expect(workloadEnvironment(kc, ns.name, parseWorkloadRef("deploy/nope"))).rejects.toThrow(/deploy\/nope not found in namespace .*kubectl/);
    await expect(workloadEnvironment(kc, ns.name, parseWorkloadRef("deploy/idle"))).rejects.toThrow(/has no Ready pod/);
    await expect(workloadEnvironment(kc, ns.name, parseWorkloadRef("deploy/api"))).rejects.toThrow(/has 2 containers.*choices: api, sidecar/);
  });
});
