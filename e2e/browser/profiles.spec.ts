/**
 * The Profiles screen against the real devcluster, Docker engine and tunnel: a profile made in the
 * form (the schema's messages shown beside the fields) starts with one click and visible steps, the
 * Service's NodePort then answers from the local container, and Stop restores it. Then two
 * dashboards (two servers with their own data directories, as two developers) share a profile:
 * one's publish appears in the other's list without a reload, and the other's stale edit is
 * refused with who changed it. Uses its own namespace, connection and profile names; never
 * uninstalls.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { Page } from "@playwright/test";
import { startServer, type RunningServer } from "../../apps/server/src/index";
import { unbridge } from "../../apps/server/src/core/bridge";
import { connectCluster } from "../../apps/server/src/core/connection/cluster";
import { down, up } from "../../apps/server/src/core/connection";
import { deleteSharedProfile, ensureProfileCrd } from "../../apps/server/src/core/profiles/shared";
import { listLocal, removeLocal } from "../../apps/server/src/core/run/local-container";
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

/**
 * GET through the Service's NodePort from this machine, as anyone in front of the cluster would.
 * An answer that is not the echo's JSON (Carrier's own error text) comes back as the identity, so
 * a poll goes on and a failure shows what answered.
 */
function viaNodePort(port: number, headers: Record<string, string> = {}): Promise<{ identity: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: NODE_IP, port, path: "/profiles", headers, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body) as { identity: string });
        } catch {
          resolve({ identity: `${res.statusCode ?? 0} ${body.trim()}` });
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    // kube-proxy follows a replica's restart as Carrier within a moment: refused meanwhile
    req.on("error", (error) => resolve({ identity: `error: ${error.message}` }));
  });
}

async function openProfiles(page: Page): Promise<void> {
  await page.getByRole("tab", { name: "Profiles" }).click();
  await expect(page.getByRole("tab", { name: "Profiles" })).toHaveAttribute("aria-selected", "true");
  await expect(page.getByRole("status", { name: "Profiles count", exact: true })).toContainText("saved here");
}

test.use({ kubeconfigFile: kubeconfigPath });

test.describe("profiles screen on the devcluster", () => {
  const { core, apps } = clients();
  const connection = `pw-pf-${suffix()}`;
  const profile = `pw-profile-${suffix()}`;
  const sharedName = `pw-shared-${suffix()}`;
  let namespace: Awaited<ReturnType<typeof testNamespace>>;
  let echo = "";
  let nodePort = 0;

  test.beforeAll(async () => {
    test.setTimeout(600_000);
    await ensureProductImages();
    echo = await ensureFixtureImage("echo");
    namespace = await testNamespace(core, "pw-profiles");
    const labels = { app: "api" };
    await apps.createNamespacedDeployment({
      namespace: namespace.name,
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
      body: { metadata: { name: "api" }, spec: { type: "NodePort", selector: labels, ports: [{ port: 8080, targetPort: 8080 }] } },
    });
    nodePort = svc.spec?.ports?.[0]?.nodePort ?? 0;
    await up({ kubeconfig: kubeconfigPath, name: connection });
    await ensureProfileCrd(await connectCluster({ kubeconfig: kubeconfigPath }));
    await waitFor("api ready", async () => ((await apps.readNamespacedDeployment({ name: "api", namespace: namespace.name })).status?.readyReplicas ?? 0) >= 1);
    await waitFor("the Service answers through its NodePort", async () => (await viaNodePort(nodePort)).identity === "original");
  });

  test.afterAll(async () => {
    test.setTimeout(240_000);
    await unbridge({ kubeconfig: kubeconfigPath, all: true, connection }).catch(() => undefined);
    await removeLocal(profile).catch(() => undefined);
    await down({ kubeconfig: kubeconfigPath, name: connection }).catch(() => undefined);
    const cluster = await connectCluster({ kubeconfig: kubeconfigPath }).catch(() => undefined);
    if (cluster) await deleteSharedProfile(cluster, sharedName).catch(() => undefined);
    await namespace?.dispose();
  });

  test("create a profile in the form, start it with its steps shown, reach the local container through the NodePort, stop", async ({ page, dashboard }) => {
    test.setTimeout(420_000);
    await page.goto(dashboard.url);
    await openProfiles(page);
    await page.getByLabel("Connection for starting profiles").fill(connection);

    // the form: the schema's messages beside the fields, nothing saved while they stand
    await page.getByRole("button", { name: "New profile" }).click();
    const form = page.getByRole("form", { name: "Profile editor" });
    await form.getByLabel("Name", { exact: true }).fill("Not_A_Name");
    await expect(form.getByRole("alert", { name: "Problem with Name" })).toContainText("must be a lowercase DNS label");
    await form.getByLabel("Ports", { exact: true }).fill("8080:70000");
    await expect(form.getByRole("alert", { name: "Problem with Ports" })).toContainText("line 1: must be a port number 1..65535");
    await form.getByLabel("Workload", { exact: true }).fill("api");
    await expect(form.getByRole("alert", { name: "Problem with Workload" })).toContainText("must be deploy/NAME[/CONTAINER]");
    await form.getByRole("button", { name: "Save", exact: true }).click();
    await expect(form.getByRole("alert", { name: "Profile editor problem" })).toContainText("nothing was saved");

    await form.getByLabel("Name", { exact: true }).fill(profile);
    await form.getByLabel("Namespace", { exact: true }).fill(namespace.name);
    await form.getByLabel("Workload", { exact: true }).fill("deploy/api/app");
    await form.getByLabel("Ports", { exact: true }).fill("8080:8080");
    await form.getByRole("button", { name: "Add header rule" }).click();
    const rule = form.getByRole("listitem", { name: "Profile rule 1" });
    await rule.getByLabel("Header name").fill("x-user");
    await rule.getByLabel("Value").fill("pw-alice");
    await form.getByLabel("Image", { exact: true }).fill(echo);
    await form.getByLabel("Env from workload").fill("deploy/api");
    await form.getByLabel("Environment", { exact: true }).fill("IDENTITY=profile-ui");
    await expect(form.getByRole("alert")).toHaveCount(0);
    await form.getByRole("button", { name: "Save", exact: true }).click();
    await expect(form).toHaveCount(0);

    const table = page.getByRole("table", { name: "Profiles" });
    const row = table.getByRole("row", { name: profile, exact: true });
    await expect(row).toContainText("deploy/api/app");
    await expect(row).toContainText('header x-user exact "pw-alice"');
    await expect(row.getByLabel(`Running state of ${profile}`)).toHaveText("stopped");

    // one click starts it: the steps, then the log, then done
    await row.getByRole("button", { name: `Start ${profile}` }).click();
    const steps = page.getByRole("list", { name: "Start steps" });
    await expect(steps.getByRole("listitem", { name: "Start the local container: done" })).toBeVisible({ timeout: 120_000 });
    const log = page.getByRole("log", { name: "Profile progress" });
    await expect(log).toContainText("container (container): starting");
    await expect(log).toContainText("bridge (create): creating bridge", { timeout: 60_000 });
    await expect(page.getByRole("status").filter({ hasText: `Starting profile ${profile}: done` })).toBeVisible({ timeout: 240_000 });
    await expect(steps.getByRole("listitem", { name: "Ready: done" })).toBeVisible();
    await expect(row.getByLabel(`Running state of ${profile}`)).toContainText("bridge Active");
    await expect(row.getByLabel(`Running state of ${profile}`)).toContainText("container running");

    // the cluster's Service: the header's requests answer from the local container
    await expect.poll(async () => (await viaNodePort(nodePort, { "x-user": "pw-alice" })).identity, { timeout: 60_000 }).toBe("profile-ui");
    await expect.poll(async () => (await viaNodePort(nodePort)).identity, { timeout: 30_000 }).toBe("original");

    // the running bridge saved as a new profile says the same; then deleted again
    await page.getByRole("button", { name: "New from a running bridge" }).click();
    const fromBridge = page.getByRole("form", { name: "Profile from a running bridge" });
    await fromBridge.getByLabel("Bridge to save").selectOption(profile);
    await fromBridge.getByLabel("Profile name").fill(`${profile}-copy`);
    await fromBridge.getByRole("button", { name: "Save profile" }).click();
    await expect(page.getByRole("status").filter({ hasText: `Saved ${profile}-copy from bridge ${profile}` })).toBeVisible({ timeout: 30_000 });
    const copy = table.getByRole("row", { name: `${profile}-copy` });
    await expect(copy).toContainText(`deploy/api/app (${namespace.name})`);
    await expect(copy).toContainText('header x-user exact "pw-alice"');
    await expect(copy).toContainText(echo);
    await expect(copy).toContainText("env from deploy/api");
    await copy.getByRole("button", { name: `Delete ${profile}-copy` }).click();
    await copy.getByRole("button", { name: `Confirm delete ${profile}-copy` }).click();
    await expect(table.getByRole("row", { name: `${profile}-copy` })).toHaveCount(0);

    // stop: bridge and container gone, the original answers
    await row.getByRole("button", { name: `Stop ${profile}` }).click();
    await expect(page.getByRole("status").filter({ hasText: `Stopping profile ${profile}: done` })).toBeVisible({ timeout: 180_000 });
    await expect(page.getByRole("log", { name: "Profile stop progress" })).toContainText(`removing bridge ${profile}`);
    await expect(row.getByLabel(`Running state of ${profile}`)).toHaveText("stopped", { timeout: 30_000 });
    expect((await listLocal()).some((c) => c.name === profile)).toBe(false);
    await expect.poll(async () => (await viaNodePort(nodePort, { "x-user": "pw-alice" })).identity, { timeout: 60_000 }).toBe("original");
  });

  test("two dashboards share a profile: a publish appears in the other without a reload, a stale edit is refused with who changed it", async ({ page, dashboard, browser }) => {
    test.setTimeout(240_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-browser-second-"));
    let other: RunningServer | undefined;
    const bobContext = await browser.newContext();
    try {
      other = await startServer({ port: 0, web: true, dataDir: path.join(dir, "data"), kube: { env: { KUBECONFIG: kubeconfigPath } } });
      const bob = await bobContext.newPage();
      await page.goto(dashboard.url);
      await bob.goto(other.url);
      await openProfiles(page);
      await openProfiles(bob);

      // alice makes and shares a profile
      await page.getByRole("button", { name: "New profile" }).click();
      const form = page.getByRole("form", { name: "Profile editor" });
      await form.getByLabel("Name", { exact: true }).fill(sharedName);
      await form.getByLabel("Namespace", { exact: true }).fill(namespace.name);
      await form.getByLabel("Workload", { exact: true }).fill("deploy/api/app");
      await form.getByLabel("Ports", { exact: true }).fill("8080:8080");
      await form.getByLabel("Image", { exact: true }).fill("team/api:1");
      await form.getByLabel("Volumes", { exact: true }).fill("/home/alice/api:/app");
      await form.getByRole("button", { name: "Save and publish" }).click();
      await expect(page.getByRole("status").filter({ hasText: `Saved ${sharedName} and published it` })).toBeVisible({ timeout: 30_000 });
      await expect(page.getByRole("row", { name: sharedName }).first().getByLabel(`Sharing of ${sharedName}`)).toHaveText("in sync");

      // bob sees it appear and pulls it; alice's volume path never reaches him
      const bobShared = bob.getByRole("table", { name: "Shared profiles" }).getByRole("row", { name: sharedName });
      await expect(bobShared.getByLabel(`Your copy of ${sharedName}`)).toHaveText("not pulled", { timeout: 30_000 });
      await expect(bobShared.getByLabel(`Image of shared ${sharedName}`)).toHaveText("team/api:1");
      await bobShared.getByRole("button", { name: `Pull ${sharedName}` }).click();
      const bobRow = bob.getByRole("table", { name: "Profiles" }).getByRole("row", { name: sharedName });
      await expect(bobRow.getByLabel(`Sharing of ${sharedName}`)).toHaveText("in sync");
      await bobRow.getByRole("button", { name: `Edit ${sharedName}` }).click();
      await expect(bob.getByRole("form", { name: "Profile editor" }).getByLabel("Volumes", { exact: true })).toHaveValue("");
      await bob.getByRole("form", { name: "Profile editor" }).getByRole("button", { name: "Cancel" }).click();

      // alice edits and publishes: bob's dashboard shows it without a reload
      await page.getByRole("table", { name: "Profiles" }).getByRole("row", { name: sharedName }).getByRole("button", { name: `Edit ${sharedName}` }).click();
      await form.getByLabel("Image", { exact: true }).fill("team/api:2");
      await form.getByRole("button", { name: "Save and publish" }).click();
      await expect(page.getByRole("status").filter({ hasText: `Saved ${sharedName} and published it` })).toBeVisible({ timeout: 30_000 });
      await expect(bobShared.getByLabel(`Image of shared ${sharedName}`)).toHaveText("team/api:2", { timeout: 30_000 });
      await expect(bobShared.getByLabel(`Your copy of ${sharedName}`)).toHaveText("changed in cluster");

      // bob's edit of the version he had is refused, naming who changed it; nothing is overwritten
      await bobRow.getByRole("button", { name: `Edit ${sharedName}` }).click();
      const bobForm = bob.getByRole("form", { name: "Profile editor" });
      await expect(bobForm.getByLabel("Image", { exact: true })).toHaveValue("team/api:1");
      await bobForm.getByLabel("Description", { exact: true }).fill("bob's take");
      await bobForm.getByRole("button", { name: "Save and publish" }).click();
      await expect(bobForm.getByRole("alert", { name: "Profile editor problem" })).toContainText(`Saved here, but not published: profile ${sharedName} was changed by `);
      await expect(bobForm.getByRole("alert", { name: "Profile editor problem" })).toContainText("since you loaded it");
      await expect(bobShared.getByLabel(`Image of shared ${sharedName}`)).toHaveText("team/api:2");
      await expect(bobRow.getByLabel(`Sharing of ${sharedName}`)).toHaveText("changed in cluster and locally");
      await expect(page.getByRole("table", { name: "Shared profiles" }).getByRole("row", { name: sharedName })).not.toContainText("bob's take");

      // bob takes alice's version
      await bobForm.getByRole("button", { name: "Cancel" }).click();
      await bobShared.getByRole("button", { name: `Pull ${sharedName}` }).click();
      await expect(bobRow.getByLabel(`Sharing of ${sharedName}`)).toHaveText("in sync");
      await expect(bobShared.getByLabel(`Your copy of ${sharedName}`)).toHaveText("in sync");
    } finally {
      await bobContext.close();
      await other?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
