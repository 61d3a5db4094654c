/**
 * The traffic inspector against the real devcluster, Docker engine and tunnel: a personal bridge
 * on a 2-replica Deployment (made by the core: this spec is about the inspector), requests sent
 * through the Service's NodePort appear in the live list within a second, the filter language
 * (with a mistake shown at its column), pause without losing records, a request's details,
 * replay to the local container and to the original, compare with the diff, HAR export of the
 * selection validated against HAR 1.2, and after Stop the session in History with its request
 * count. Own namespace and connection; never uninstalls.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import { promisify } from "node:util";
import type { Page } from "@playwright/test";
import { bridge, unbridge } from "../../apps/server/src/core/bridge";
import { down, up } from "../../apps/server/src/core/connection";
import { removeLocal, runLocal } from "../../apps/server/src/core/run/local-container";
import { clients, ensureFixtureImage, kubeconfigPath, repoRoot, testNamespace, waitFor } from "../support/devcluster";
import { HarSchema } from "../support/har-schema";
import { expect, test } from "./fixtures";

const run = promisify(execFile);
const NODE_IP = process.env.GEFYRA_E2E_NODE_IP ?? "10.87.0.1";
const suffix = () => Math.random().toString(36).slice(2, 7);

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

function send(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; identity: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: NODE_IP, port, path, method: options.method ?? "GET", headers: options.headers ?? {}, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        try {
          resolve({ status: res.statusCode ?? 0, identity: (JSON.parse(body) as { identity: string }).identity });
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(options.body);
  });
}

async function openScreen(page: Page, name: "Traffic" | "Bridges"): Promise<void> {
  await page.getByRole("tab", { name }).click();
  await expect(page.getByRole("tab", { name })).toHaveAttribute("aria-selected", "true");
}

test.use({ kubeconfigFile: kubeconfigPath });

test.describe("traffic inspector on the devcluster", () => {
  const { kc, core, apps } = clients();
  const connection = `pw-tr-${suffix()}`;
  const local = `pw-tr-local-${suffix()}`;
  const bridgeName = `pw-tr-${suffix()}`;
  let namespace: Awaited<ReturnType<typeof testNamespace>>;
  let nodePort = 0;

  test.beforeAll(async () => {
    test.setTimeout(600_000);
    await ensureProductImages();
    const echo = await ensureFixtureImage("echo");
    namespace = await testNamespace(core, "pw-traffic");
    const labels = { app: "api" };
    // no probes: every request in the list is one this spec sent
    await apps.createNamespacedDeployment({
      namespace: namespace.name,
      body: {
        metadata: { name: "api" },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { terminationGracePeriodSeconds: 2, containers: [{ name: "app", image: echo, imagePullPolicy: "IfNotPresent", ports: [{ containerPort: 8080 }], env: [{ name: "IDENTITY", value: "original" }] }] },
          },
        },
      },
    });
    const svc = await core.createNamespacedService({ namespace: namespace.name, body: { metadata: { name: "api" }, spec: { type: "NodePort", selector: labels, ports: [{ port: 8080, targetPort: 8080 }] } } });
    nodePort = svc.spec?.ports?.[0]?.nodePort ?? 0;
    await waitFor("api ready", async () => ((await apps.readNamespacedDeployment({ namespace: namespace.name, name: "api" })).status?.readyReplicas ?? 0) >= 2);
    await up({ kubeconfig: kubeconfigPath, name: connection });
    await runLocal({ name: local, connection, namespace: namespace.name, kubeConfig: kc, image: echo, env: { IDENTITY: "local" } });
    await bridge({
      kubeconfig: kubeconfigPath,
      connection,
      name: bridgeName,
      target: "deploy/api",
      namespace: namespace.name,
      local,
      ports: [{ remote: 8080, local: 8080 }],
      match: [{ kind: "header", name: "x-user", op: "exact", value: "me" }],
    });
  });

  test.afterAll(async () => {
    test.setTimeout(240_000);
    await unbridge({ kubeconfig: kubeconfigPath, all: true, connection }).catch(() => undefined);
    await removeLocal(local).catch(() => undefined);
    await down({ kubeconfig: kubeconfigPath, name: connection }).catch(() => undefined);
    await namespace?.dispose();
  });

  test("live requests, filter, details, replay, compare, HAR export, and the session in history", async ({ page, dashboard }) => {
    test.setTimeout(300_000);
    await page.goto(dashboard.url);
    await openScreen(page, "Traffic");
    await page.getByLabel("Bridge", { exact: true }).selectOption(bridgeName);
    const status = page.getByRole("list", { name: "Feed status" });
    await expect(status).toContainText(`${bridgeName}: 2/2 pod(s) live`, { timeout: 60_000 });
    await expect(status).toContainText("recorded");
    const list = page.getByRole("grid", { name: "Live requests" });
    const row = (path: string) => list.locator(`[role=row][data-path="${path}"]`);

    // 1. every request appears within a second, with the columns the inspector promises
    let sent = 0;
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      const mine = i % 2 === 0;
      const path = `/orders/${i}?mine=${mine}`;
      const t0 = Date.now();
      const r = await send(nodePort, path, mine ? { method: "POST", headers: { "x-user": "me", "content-type": "application/json" }, body: JSON.stringify({ n: i, note: "from the inspector spec" }) } : {});
      sent++;
      expect(r.identity).toBe(mine ? "local" : "original");
      await expect(row(path)).toBeVisible({ timeout: 1000 });
      delays.push(Date.now() - t0);
      const cells = row(path).getByRole("gridcell");
      await expect(cells.nth(2)).toHaveText(mine ? "POST" : "GET");
      await expect(cells.nth(4)).toHaveText("200");
      await expect(cells.nth(7)).toHaveText(mine ? "local" : "original");
      await expect(cells.nth(8)).toHaveText(bridgeName);
    }
    console.log(`request sent to row in the page: median ${delays.sort((a, b) => a - b)[delays.length >> 1]} ms, max ${delays.at(-1)} ms`);
    await expect(list).toHaveAttribute("aria-rowcount", String(sent + 1));

    // 2. pause: nothing new is shown, nothing is lost; resume shows what came meanwhile
    await page.getByRole("button", { name: "Pause" }).click();
    for (const p of ["/paused/1", "/paused/2"]) {
      await send(nodePort, p);
      sent++;
    }
    await expect(page.getByRole("button", { name: "Resume (2 new)" })).toBeVisible({ timeout: 5000 });
    await expect(row("/paused/1")).toHaveCount(0);
    await page.getByRole("button", { name: /Resume/ }).click();
    await expect(row("/paused/2")).toBeVisible();
    await expect(list).toHaveAttribute("aria-rowcount", String(sent + 1));

    // 3. the filter language; a mistake is named with its column
    const filter = page.getByLabel("Filter", { exact: true });
    await filter.fill("method:POST stauts:200");
    await expect(page.getByRole("alert", { name: "Filter problem" })).toContainText('column 13: unknown filter key "stauts"');
    await expect(filter).toHaveAttribute("aria-invalid", "true");
    await filter.fill("method:POST route:local header:x-user=me");
    await expect(list).toHaveAttribute("aria-rowcount", "6");
    await expect(row("/orders/1?mine=false")).toHaveCount(0);

    // 4. one request in full
    await row("/orders/4?mine=true").click();
    const details = page.getByRole("region", { name: "Request details" });
    await expect(details.getByRole("heading", { name: "POST /orders/4?mine=true" })).toBeVisible();
    await expect(details).toContainText('header x-user exact "me"');
    await expect(details.getByLabel("Request body")).toContainText('"note": "from the inspector spec"');
    await expect(details.getByLabel("Response body")).toContainText('"identity": "local"');
    await expect(details).toContainText("first byte");

    // 5. replay to the local container, then to the original (the shadow copy)
    await details.getByRole("button", { name: "Replay to local" }).click();
    const toLocal = details.getByRole("region", { name: "Replay to local" });
    await expect(toLocal).toContainText("Replayed to local: 200", { timeout: 30_000 });
    await expect(toLocal.getByLabel("Replay to local response body")).toContainText('"identity": "local"');
    await details.getByRole("button", { name: "Replay to original" }).click();
    const toOriginal = details.getByRole("region", { name: "Replay to original" });
    await expect(toOriginal).toContainText("Replayed to original: 200", { timeout: 30_000 });
    await expect(toOriginal.getByLabel("Replay to original response body")).toContainText('"identity": "original"');
    await expect(toOriginal).toContainText("shadow copy");

    // edit, then replay: another path and method reach the local container
    await details.getByRole("button", { name: "Edit…" }).click();
    const form = details.getByRole("form", { name: "Edit request" });
    await form.getByLabel("Method").fill("PUT");
    await form.getByLabel("Path").fill("/edited?from=inspector");
    await details.getByRole("button", { name: "Send edited to local" }).click();
    await expect(details.getByRole("region", { name: "Replay to local" }).getByLabel("Replay to local response body")).toContainText('"path": "/edited?from=inspector"', { timeout: 30_000 });
    await details.getByRole("button", { name: "Edit…" }).click();

    // 6. compare: the same request to both, and what differs
    await details.getByRole("button", { name: "Compare" }).click();
    const comparison = details.getByRole("region", { name: "Comparison" });
    await expect(comparison).toContainText("Local and original answer differently", { timeout: 30_000 });
    await expect(comparison.getByRole("listitem", { name: "only in the original" }).filter({ hasText: '"identity": "original"' })).toBeVisible();
    await expect(comparison.getByRole("listitem", { name: "only in the local answer" }).filter({ hasText: '"identity": "local"' })).toBeVisible();

    // 7. HAR export of the selection
    await row("/orders/0?mine=true").getByRole("checkbox").check();
    await row("/orders/2?mine=true").getByRole("checkbox").check();
    const downloaded = page.waitForEvent("download");
    await page.getByRole("button", { name: "Export HAR (2 selected)" }).click();
    const file = await (await downloaded).path();
    const har = JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
    const parsed = HarSchema.safeParse(har);
    expect(parsed.success, parsed.success ? "" : JSON.stringify(parsed.error.issues.slice(0, 3))).toBe(true);
    const entries = (har as { log: { entries: Array<{ request: { method: string; url: string; postData?: { text: string } }; _route: string } > } }).log.entries;
    expect(entries.map((e) => new URL(e.request.url).pathname + new URL(e.request.url).search)).toEqual(["/orders/0?mine=true", "/orders/2?mine=true"]);
    expect(entries[0]!.request.postData?.text).toContain("from the inspector spec");
    expect(entries.every((e) => e._route === "local")).toBe(true);

    // 8. stop the bridge; its session is in History with every request it saw
    await openScreen(page, "Bridges");
    await page.getByRole("button", { name: `Stop ${bridgeName}` }).click();
    await expect(page.getByRole("status").filter({ hasText: `Stopping ${bridgeName}: done` })).toBeVisible({ timeout: 180_000 });
    await openScreen(page, "Traffic");
    const session = page.getByRole("table", { name: "Bridge sessions" }).getByRole("row", { name: `Session of ${bridgeName}` });
    await expect(session).toContainText("unbridged", { timeout: 30_000 });
    await expect(session.getByRole("cell", { name: "Request count" })).toHaveText(String(sent));
    await session.getByRole("button", { name: `Show requests of ${bridgeName}` }).click();
    await page.getByLabel("Filter", { exact: true }).fill("");
    await expect(page.getByRole("grid", { name: "Stored requests" })).toHaveAttribute("aria-rowcount", String(sent + 1));
  });
});
