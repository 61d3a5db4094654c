/**
 * The dashboard against the real devcluster and Docker engine: connect with visible progress,
 * see a workload created through the API appear and become ready live, run a local container
 * (env from that workload) and see it in a second tab, read its logs, stop and remove it, and
 * disconnect. Uses its own namespace and connection name (other suites share the cluster).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Page } from "@playwright/test";
import { down } from "../../apps/server/src/core/connection";
import { removeLocal } from "../../apps/server/src/core/run/local-container";
import { clients, ensureFixtureImage, kubeconfigPath, repoRoot, testNamespace } from "../support/devcluster";
import { expect, test } from "./fixtures";

const run = promisify(execFile);
const CONTEXT = "gefyra-devcluster";

/** Operator, Stowaway and Cargo images must be in Docker (and the cluster) for `up`; built once when missing. */
async function ensureProductImages(): Promise<void> {
  const version = (JSON.parse(await import("node:fs").then((fs) => fs.readFileSync(`${repoRoot}/package.json`, "utf8"))) as { version: string }).version;
  const missing: string[] = [];
  for (const name of ["operator", "stowaway", "cargo"]) {
    const present = await run("docker", ["image", "inspect", `gefyra-ts/${name}:${version}`]).then(
      () => true,
      () => false,
    );
    if (!present) missing.push(name);
  }
  if (missing.length > 0) await run("bash", ["images/build.sh", ...missing], { cwd: repoRoot, maxBuffer: 64 << 20 });
}

const suffix = () => Math.random().toString(36).slice(2, 7);

async function openScreen(page: Page, name: "Cluster" | "Workloads" | "Local containers"): Promise<void> {
  await page.getByRole("tab", { name }).click();
  await expect(page.getByRole("tab", { name })).toHaveAttribute("aria-selected", "true");
}

test.use({ kubeconfigFile: kubeconfigPath });

test.describe("dashboard on the devcluster", () => {
  const { core, apps } = clients();
  let namespace: Awaited<ReturnType<typeof testNamespace>>;
  let image: string;

  test.beforeAll(async () => {
    test.setTimeout(600_000);
    await ensureProductImages();
    image = await ensureFixtureImage("web");
    namespace = await testNamespace(core, "pw-dash");
  });
  test.afterAll(async () => {
    test.setTimeout(120_000);
    await namespace?.dispose();
  });

  test("connect with live progress, watch a workload appear, run a local container seen in two tabs, logs, stop, remove, down", async ({ page, context, dashboard }) => {
    test.setTimeout(420_000);
    const connection = `pw-${suffix()}`;
    const deployment = `web-${suffix()}`;
    const app = `pw-app-${suffix()}`;
    try {
      await page.goto(dashboard.url);
      const contexts = page.getByRole("list", { name: "Kubeconfig contexts" });
      await expect(contexts.getByRole("listitem", { name: CONTEXT })).toContainText("selected");
      await expect(contexts.getByRole("listitem", { name: CONTEXT }).getByText(/^Reachable/)).toBeVisible();

      // a second tab on the same dashboard, watching
      const other = await context.newPage();
      await other.goto(dashboard.origin);
      await expect(other.getByRole("list", { name: "Kubeconfig contexts" }).getByRole("listitem", { name: CONTEXT })).toContainText("selected");

      // 1. up, step by step
      const panel = page.getByRole("region", { name: "Connection" });
      await panel.getByLabel("Connection name").fill(connection);
      await panel.getByRole("button", { name: "Up", exact: true }).click();
      const progress = panel.getByRole("log", { name: "Connection progress" });
      await expect(progress).toContainText("check: checking the cluster and Docker");
      await expect(progress).toContainText("handshake", { timeout: 180_000 });
      await expect(panel.getByRole("status").filter({ hasText: `Connecting ${connection} to ${CONTEXT}: done` })).toBeVisible({ timeout: 180_000 });
      await expect(progress).toContainText("ready:");
      await expect(panel.getByLabel("Tunnel health")).toContainText("Connected");
      await expect(panel.getByLabel("Tunnel health")).toContainText(/handshake \d+ s ago/);
      // the other tab follows without a reload: same connection name (shared selection), fresh state
      const otherPanel = other.getByRole("region", { name: "Connection" });
      await expect(otherPanel.getByLabel("Connection name")).toHaveValue(connection);
      await expect(otherPanel.getByLabel("Tunnel health")).toContainText("Connected");
      await expect(otherPanel.getByLabel("Latest activity")).toContainText(`${connection} up: connection ${connection} is up`);

      // 2. a Deployment and a Service created through the API appear live, then become ready
      await openScreen(page, "Workloads");
      await page.getByLabel("Namespace").selectOption(namespace.name);
      const table = page.getByRole("table", { name: "Workloads" }).or(page.getByText(/^No Deployments/));
      await expect(table.first()).toBeVisible();
      await apps.createNamespacedDeployment({
        namespace: namespace.name,
        body: {
          metadata: { name: deployment },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: deployment } },
            template: {
              metadata: { labels: { app: deployment } },
              spec: { containers: [{ name: "web", image, imagePullPolicy: "Never", ports: [{ containerPort: 8080 }], env: [{ name: "FROM_WORKLOAD", value: "the-cluster" }] }] },
            },
          },
        },
      });
      await core.createNamespacedService({
        namespace: namespace.name,
        body: { metadata: { name: deployment }, spec: { selector: { app: deployment }, ports: [{ port: 80, targetPort: 8080 }] } },
      });
      const workloads = page.getByRole("table", { name: "Workloads" });
      const deployRow = workloads.getByRole("row").filter({ hasText: "Deployment" }).filter({ hasText: deployment });
      await expect(deployRow).toBeVisible();
      await expect(workloads.getByRole("row").filter({ hasText: "Service" }).filter({ hasText: deployment })).toContainText("80/TCP→8080");
      await expect(deployRow).toContainText("1/1", { timeout: 60_000 });
      await expect(workloads.getByRole("row").filter({ hasText: "Pod" }).filter({ hasText: deployment })).toContainText("Running");
      await page.getByLabel("Filter workloads").fill(`service ${deployment}`);
      await expect(workloads.getByRole("row")).toHaveCount(2); // header + the Service
      await page.getByLabel("Filter workloads").fill("");

      // 3. the second tab on the Local containers screen
      await openScreen(other, "Local containers");
      await expect(other.getByText(/No local containers yet|Local containers/).first()).toBeVisible();

      // 4. run a local container with env from the workload
      await openScreen(page, "Local containers");
      const form = page.getByRole("form", { name: "Run a local container" });
      await form.getByLabel("Name", { exact: true }).fill(app);
      await form.getByRole("textbox", { name: "Image" }).fill(image);
      await form.getByLabel("Namespace", { exact: true }).fill(namespace.name);
      await form.getByLabel("Env from workload").fill(`deploy/${deployment}`);
      await form.getByLabel("Environment (KEY=VALUE per line)").fill("GREETING=hello");
      await form.getByLabel("Command (optional)").fill(JSON.stringify(["sh", "-c", "echo \"$GREETING from $FROM_WORKLOAD\" && exec busybox httpd -f -p 8080 -h /www"]));
      await form.getByRole("button", { name: "Run" }).click();
      await expect(form.getByRole("log", { name: "Run progress" })).toContainText(`environment: reading the environment of deploy/${deployment}`);
      await expect(form.getByRole("status").filter({ hasText: `Starting ${app}: done` })).toBeVisible({ timeout: 120_000 });

      const mine = page.getByRole("table", { name: "Local containers" }).getByRole("row", { name: app });
      await expect(mine).toContainText("running");
      await expect(mine).toContainText(namespace.name);
      await expect(mine.getByRole("cell").nth(3)).toHaveText(/^\d+\.\d+\.\d+\.\d+$/);
      // the other tab saw it live (Docker events, no reload)
      const theirs = other.getByRole("table", { name: "Local containers" }).getByRole("row", { name: app });
      await expect(theirs).toContainText("running");

      // 5. logs, live
      await mine.getByRole("button", { name: `Logs of ${app}` }).click();
      await expect(page.getByRole("log", { name: `Output of ${app}` })).toContainText("hello from the-cluster");

      // 6. stop (both tabs see it), remove
      await mine.getByRole("button", { name: `Stop ${app}` }).click();
      await expect(mine).toContainText("exited", { timeout: 30_000 });
      await expect(theirs).toContainText("exited");
      await mine.getByRole("button", { name: `Remove ${app}` }).click();
      await expect(mine).toHaveCount(0);
      await expect(theirs).toHaveCount(0);

      // 7. down
      await openScreen(page, "Cluster");
      await panel.getByRole("button", { name: "Down", exact: true }).click();
      await expect(panel.getByRole("status").filter({ hasText: `Disconnecting ${connection}: done` })).toBeVisible({ timeout: 60_000 });
      await expect(panel.getByLabel("Connection state")).toContainText(`not connected as ${connection}`);

      // every up and down is in the session history
      const sessions = await dashboard.store.listSessions({ kind: "connection" });
      const session = sessions.find((s) => s.target === connection);
      expect(session?.stopReason).toBe("down");
      const events = (await dashboard.store.listSessionEvents(session?.id ?? "")).map((e) => e.type);
      expect(events).toEqual(expect.arrayContaining(["up.check", "up.handshake", "up", "down"]));
      const runs = await dashboard.store.listSessions({ kind: "run" });
      expect(runs.find((s) => s.target === app)?.stopReason).toBe("removed");
    } finally {
      await removeLocal(app).catch(() => undefined);
      await down({ kubeconfig: kubeconfigPath, context: CONTEXT, name: connection }).catch(() => undefined);
    }
  });

  test("two tabs see a Deployment created through the API appear live, and its removal", async ({ page, context, dashboard }) => {
    const name = `twin-${suffix()}`;
    const tabs = [page, await context.newPage()];
    for (const tab of tabs) {
      await tab.goto(tab === page ? dashboard.url : dashboard.origin);
      await openScreen(tab, "Workloads");
      await tab.getByLabel("Namespace").selectOption(namespace.name);
      await expect(tab.getByRole("status", { name: "Workloads count" })).toHaveText(/\d+ of \d+/);
    }
    await apps.createNamespacedDeployment({
      namespace: namespace.name,
      body: {
        metadata: { name },
        spec: { replicas: 0, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "c", image }] } } },
      },
    });
    for (const tab of tabs) await expect(tab.getByRole("table", { name: "Workloads" }).getByRole("row").filter({ hasText: name })).toContainText("Scaled to 0");
    await apps.deleteNamespacedDeployment({ namespace: namespace.name, name });
    for (const tab of tabs) await expect(tab.getByRole("row").filter({ hasText: name })).toHaveCount(0);
  });
});
