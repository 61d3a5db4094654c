/**
 * Empty and error states say what is wrong and what to do: no kubeconfig, a cluster that cannot
 * be reached, a user without rights (a real ServiceAccount without RBAC on the devcluster), and
 * Docker not running.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { clients, kubeconfigPath, testNamespace } from "../support/devcluster";
import { expect, test } from "./fixtures";

test.describe("no kubeconfig", () => {
  test.use({ kubeContexts: [] });

  test("every screen points to the Contexts panel", async ({ page, dashboard }) => {
    await page.goto(dashboard.url);
    await expect(page.getByText("No kubeconfig found: set KUBECONFIG or create ~/.kube/config")).toBeVisible();
    await expect(page.getByRole("region", { name: "Connection" })).toContainText("Pick a context in the Contexts panel");
    await page.getByRole("tab", { name: "Workloads" }).click();
    await expect(page.getByRole("region", { name: "Workloads" })).toContainText("Pick a context in the Contexts panel");
  });
});

test.describe("cluster unreachable", () => {
  // the default fixture context points at 127.0.0.1:9, where nobody listens
  test("the connection and workloads screens say the cluster cannot be reached and what to check", async ({ page, dashboard }) => {
    await page.goto(dashboard.url);
    const connection = page.getByRole("region", { name: "Connection" });
    await expect(connection.getByRole("alert")).toContainText('Cannot reach the API server of context "devcluster-e2e"');
    await expect(connection.getByRole("alert")).toContainText("check that the cluster is running");
    await page.getByRole("tab", { name: "Workloads" }).click();
    const workloads = page.getByRole("region", { name: "Workloads" });
    await expect(workloads.getByRole("alert").first()).toContainText('of context "devcluster-e2e" failed');
    await expect(workloads.getByRole("alert").first()).toContainText("check that the cluster is running and reachable");
  });
});

test.describe("no rights", () => {
  const { core, kc } = clients();
  let namespace: Awaited<ReturnType<typeof testNamespace>>;
  let file = "";
  // written in beforeAll; the fixture reads it when the test starts
  // eslint-disable-next-line no-empty-pattern -- Playwright reads the fixtures a function needs from its first parameter
  test.use({ kubeconfigFile: async ({}, use) => use(file) });

  test.beforeAll(async () => {
    namespace = await testNamespace(core, "pw-norbac");
    await core.createNamespacedServiceAccount({ namespace: namespace.name, body: { metadata: { name: "nobody" } } });
    const token = await core.createNamespacedServiceAccountToken({ namespace: namespace.name, name: "nobody", body: { spec: { audiences: [], expirationSeconds: 3600 } } });
    const cluster = kc.getCurrentCluster();
    const ca = fs.readFileSync(kubeconfigPath, "utf8").match(/certificate-authority-data: (\S+)/)?.[1] ?? "";
    file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-norbac-")), "kubeconfig");
    fs.writeFileSync(
      file,
      [
        "apiVersion: v1",
        "kind: Config",
        "current-context: nobody",
        "clusters:",
        "- name: devcluster",
        "  cluster:",
        `    server: ${cluster?.server ?? ""}`,
        `    certificate-authority-data: ${ca}`,
        "users:",
        "- name: nobody",
        "  user:",
        `    token: ${token.status?.token ?? ""}`,
        "contexts:",
        "- name: nobody",
        "  context:",
        "    cluster: devcluster",
        "    user: nobody",
        `    namespace: ${namespace.name}`,
        "",
      ].join("\n"),
    );
  });
  test.afterAll(async () => {
    await namespace?.dispose();
    if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });

  test("the workloads screen says which rights are missing and whom to ask", async ({ page, dashboard }) => {
    await page.goto(dashboard.url);
    await page.getByRole("tab", { name: "Workloads" }).click();
    const workloads = page.getByRole("region", { name: "Workloads" });
    await expect(workloads.getByRole("alert").filter({ hasText: "may not list and watch deployments" })).toContainText("ask a cluster admin for get/list/watch on deployments");
    await expect(workloads.getByRole("alert").filter({ hasText: "may not list and watch namespaces" })).toBeVisible();
  });
});
test.describe("Docker not running", () => {
  test("the local containers screen says Docker is not reachable and how to fix it", async ({ page, dashboard }) => {
    const saved = process.env.DOCKER_HOST;
    // the server runs in this process: its next Docker client reads this
    process.env.DOCKER_HOST = "unix:///nonexistent/docker.sock";
    try {
      await page.goto(dashboard.url);
      await page.getByRole("tab", { name: "Local containers" }).click();
      const panel = page.getByRole("region", { name: "Local containers" });
      await expect(panel.getByRole("alert")).toContainText("Docker is not running or not reachable at DOCKER_HOST=unix:///nonexistent/docker.sock");
      await expect(panel.getByRole("alert")).toContainText("start Docker (or set DOCKER_HOST) and retry");
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });
});

test.describe("run without a connection", () => {
  test("the run form shows the core's one-line reason and what to do", async ({ page, dashboard }) => {
    await page.goto(dashboard.url);
    const name = `pw-noconn-${Math.random().toString(36).slice(2, 7)}`;
    await page.getByRole("region", { name: "Connection" }).getByLabel("Connection name").fill(name);
    await page.getByRole("region", { name: "Connection" }).getByLabel("Connection name").blur();
    await page.getByRole("tab", { name: "Local containers" }).click();
    const form = page.getByRole("form", { name: "Run a local container" });
    await form.getByLabel("Name", { exact: true }).fill("app");
    await form.getByRole("textbox", { name: "Image" }).fill("busybox:latest");
    await form.getByLabel("Ports (HOST:CONTAINER per line)").fill("8080");
    await form.getByRole("button", { name: "Run" }).click();
    await expect(form.getByRole("alert")).toHaveText('"8080" is not HOST:CONTAINER: write e.g. 8080:80.');
    await form.getByLabel("Ports (HOST:CONTAINER per line)").fill("");
    await form.getByRole("button", { name: "Run" }).click();
    await expect(form.getByRole("alert")).toHaveText(`no connection '${name}' is up on this machine: run 'gefyra up' first`);
  });
});
