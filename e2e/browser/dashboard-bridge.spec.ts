/**
 * The bridge wizard against the real devcluster, Docker engine and tunnel: pick a Deployment from
 * the workloads list, its container and port from the pod template, a running local container and
 * a header rule (checked in the live preview), start with step-by-step progress, then requests to
 * the Service's NodePort with the header reach the local container while others reach the cluster;
 * the workloads list marks the Deployment; Stop restores it. Uses its own namespace and connection
 * (other suites share the cluster) and never uninstalls.
 */
import http from "node:http";
import { execFile } from "node:child_process";
import fs from "node:fs";
import { promisify } from "node:util";
import type { Page } from "@playwright/test";
import { unbridge } from "../../apps/server/src/core/bridge";
import { down, up } from "../../apps/server/src/core/connection";
import { removeLocal, runLocal } from "../../apps/server/src/core/run/local-container";
import { clients, ensureFixtureImage, kubeconfigPath, repoRoot, testNamespace, waitFor } from "../support/devcluster";
import { expect, test } from "./fixtures";

const run = promisify(execFile);
const NODE_IP = process.env.GEFYRA_E2E_NODE_IP ?? "10.87.0.1";
const suffix = () => Math.random().toString(36).slice(2, 7);

/** Product images the bridge needs, built (and loaded into the cluster) once when missing. */
async function ensureProductImages(): Promise<void> {
  const version = (JSON.parse(fs.readFileSync(`${repoRoot}/package.json`, "utf8")) as { version: string }).version;
  const missing: string[] = [];
  for (const name of ["operator", "stowaway", "cargo", "carrier"]) {
    const present = await run("docker", ["image", "inspect", `gefyra-ts/${name}:${version}`]).then(
      () => true,
      () => false,
    );
    if (!present) missing.push(name);
  }
  if (missing.length > 0) await run("bash", ["images/build.sh", ...missing], { cwd: repoRoot, maxBuffer: 64 << 20 });
}

/** The answer's identity, or the error as text: expect.poll retries values, not thrown errors, and
 * a Service whose only replica was just swapped refuses connections until kube-proxy catches up. */
async function identityOrError(port: number, headers: Record<string, string> = {}): Promise<{ identity: string }> {
  return viaNodePort(port, headers).catch((e: unknown) => ({ identity: `error: ${e instanceof Error ? e.message : String(e)}` }));
}

/** GET through the Service's NodePort from this machine, as anyone in front of the cluster would. */
function viaNodePort(port: number, headers: Record<string, string> = {}): Promise<{ identity: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: NODE_IP, port, path: "/orders?id=1", headers, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body) as { identity: string });
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

async function openScreen(page: Page, name: "Cluster" | "Workloads" | "Local containers" | "Bridges"): Promise<void> {
  await page.getByRole("tab", { name }).click();
  await expect(page.getByRole("tab", { name })).toHaveAttribute("aria-selected", "true");
}

test.use({ kubeconfigFile: kubeconfigPath });

test.describe("bridge wizard on the devcluster", () => {
  const { kc, core, apps } = clients();
  const connection = `pw-br-${suffix()}`;
  const local = `pw-local-${suffix()}`;
  const target = "api";
  let namespace: Awaited<ReturnType<typeof testNamespace>>;
  let nodePort = 0;

  test.beforeAll(async () => {
    test.setTimeout(600_000);
    await ensureProductImages();
    const echo = await ensureFixtureImage("echo");
    namespace = await testNamespace(core, "pw-bridge");
    const labels = { app: target };
    await apps.createNamespacedDeployment({
      namespace: namespace.name,
      body: {
        metadata: { name: target },
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
                  env: [{ name: "IDENTITY", value: "original" }],
                  readinessProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      },
    });
    const svc = await core.createNamespacedService({
      namespace: namespace.name,
      body: { metadata: { name: target }, spec: { type: "NodePort", selector: labels, ports: [{ port: 8080, targetPort: 8080 }] } },
    });
    nodePort = svc.spec?.ports?.[0]?.nodePort ?? 0;
    // the connection and the local container come from the core: this spec is about the wizard
    await up({ kubeconfig: kubeconfigPath, name: connection });
    await runLocal({ name: local, connection, namespace: namespace.name, kubeConfig: kc, image: echo, env: { IDENTITY: "local" } });
    await waitFor(`${target} ready`, async () => ((await apps.readNamespacedDeployment({ name: target, namespace: namespace.name })).status?.readyReplicas ?? 0) >= 1);
    await waitFor("the Service answers through its NodePort", async () => (await viaNodePort(nodePort)).identity === "original");
  });

  test.afterAll(async () => {
    test.setTimeout(240_000);
    await unbridge({ kubeconfig: kubeconfigPath, all: true, connection }).catch(() => undefined);
    await removeLocal(local).catch(() => undefined);
    await down({ kubeconfig: kubeconfigPath, name: connection }).catch(() => undefined);
    await namespace?.dispose();
  });

  test("bridge a Deployment with a header rule, reach the local container through the NodePort, stop", async ({ page, context, dashboard }) => {
    test.setTimeout(420_000);
    // a second tab watches the Bridges screen: what the first one starts appears there live
    const other = await context.newPage();
    await other.goto(dashboard.url);
    await openScreen(other, "Bridges");
    await page.goto(dashboard.url);
    await openScreen(page, "Workloads");
    await page.getByLabel("Namespace").selectOption(namespace.name);
    const workloads = page.getByRole("table", { name: "Workloads" });
    const row = workloads.getByRole("row").filter({ hasText: "Deployment" }).filter({ hasText: target });
    await expect(row).toContainText("1/1");

    // 1. the row's Bridge… opens the wizard on that Deployment
    await row.getByRole("button", { name: `Bridge ${namespace.name}/${target}` }).click();
    await expect(page.getByRole("tab", { name: "Bridges" })).toHaveAttribute("aria-selected", "true");
    const wizard = page.getByRole("form", { name: "Bridge a workload" });
    await expect(wizard.getByLabel("Workload to bridge")).toHaveValue(`Deployment/${namespace.name}/${target}`);

    // 2. container and port from the pod template
    await expect(wizard.getByText(`deploy/${target} in ${namespace.name}: 1/1 ready`)).toBeVisible();
    await expect(wizard.getByText("Container app")).toBeVisible();
    await expect(wizard.getByLabel("Bridge port 8080")).toBeChecked();
    await expect(wizard.getByLabel("Local port for 8080")).toHaveValue("8080");

    // 3. the local container
    await wizard.getByLabel("Local container").selectOption(local);

    // 4. a header rule, and the preview of what it sends where
    await wizard.getByRole("button", { name: "Add header rule" }).click();
    const rule = wizard.getByRole("listitem", { name: "Rule 1" });
    await rule.getByLabel("Header name").fill("x-user");
    await rule.getByLabel("Value").fill("alice");
    await wizard.getByLabel("Sample requests").fill("GET /orders | x-user: alice\nGET /orders | x-user: bob\nGET /");
    const preview = wizard.getByRole("table", { name: "Rule preview" });
    await expect(preview.getByRole("row").filter({ hasText: "x-user: alice" })).toContainText(`your container ${local}`);
    await expect(preview.getByRole("row").filter({ hasText: "x-user: bob" })).toContainText("the cluster");
    // an unsafe regex is refused in place, before anything reaches the cluster
    await rule.getByLabel("Operator").selectOption("regex");
    await rule.getByLabel("Value").fill("(a)\\1");
    await expect(wizard.getByRole("alert", { name: "Rule problem" })).toContainText("is refused");
    await rule.getByLabel("Operator").selectOption("exact");
    await rule.getByLabel("Value").fill("alice");
    await expect(preview.getByRole("row").filter({ hasText: "x-user: alice" })).toContainText(`your container ${local}`);

    // 5. start, step by step
    await wizard.getByRole("button", { name: "Start bridge" }).click();
    const progress = wizard.getByRole("log", { name: "Bridge progress" });
    await expect(progress).toContainText("check: checking the target");
    await expect(progress).toContainText("create: creating bridge", { timeout: 60_000 });
    await expect(wizard.getByRole("status").filter({ hasText: /Bridging deploy\/api to .*: done/ })).toBeVisible({ timeout: 240_000 });
    const name = `${local}-to-${target}`;
    const active = page.getByRole("table", { name: "Active bridges" }).getByRole("row", { name });
    await expect(active).toContainText("Active");
    await expect(active).toContainText('header x-user exact "alice"');
    await expect(other.getByRole("table", { name: "Active bridges" }).getByRole("row", { name })).toContainText("Active");

    // the cluster's Service: alice reaches the local container, everyone else the cluster
    await expect.poll(async () => (await identityOrError(nodePort, { "x-user": "alice" })).identity, { timeout: 60_000 }).toBe("local");
    // (a single replica was just swapped: kube-proxy may still be catching up with its endpoint)
    await expect.poll(async () => (await identityOrError(nodePort, { "x-user": "bob" })).identity, { timeout: 15_000 }).toBe("original");
    await expect.poll(async () => (await identityOrError(nodePort)).identity, { timeout: 15_000 }).toBe("original");
    for (let i = 0; i < 5; i++) expect((await viaNodePort(nodePort, { "x-user": "alice" })).identity).toBe("local");

    // the workloads list marks the Deployment
    await openScreen(page, "Workloads");
    await expect(row.getByLabel(`Bridged by ${name}`)).toBeVisible();

    // 6. stop: the Deployment is restored
    await openScreen(page, "Bridges");
    await page.getByRole("button", { name: `Stop ${name}` }).click();
    await expect(page.getByRole("status").filter({ hasText: `Stopping ${name}: done` })).toBeVisible({ timeout: 180_000 });
    // (other suites' bridges in the cluster may still be listed)
    await expect(page.getByRole("row", { name })).toHaveCount(0);
    await expect(other.getByRole("row", { name })).toHaveCount(0);
    await expect.poll(async () => (await identityOrError(nodePort, { "x-user": "alice" })).identity, { timeout: 60_000 }).toBe("original");
  });
});
