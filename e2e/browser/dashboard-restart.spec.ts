/**
 * A server restart as the open tab sees it: the server closes the WebSocket with 1012 "server
 * restarting", the header says so, and the tab reconnects by itself once a server answers on the
 * same port again. A restarted server has a new access token: then the tab says to open the new URL.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, type RunningServer } from "../../apps/server/src/index";
import { expect, test } from "./fixtures";

let dir: string;
let restarted: RunningServer | undefined;

test.beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-restart-"));
});
test.afterEach(async () => {
  await restarted?.close();
  restarted = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

const restart = (port: number, token?: string) =>
  startServer({ port, web: true, dataDir: path.join(dir, "data"), kube: { env: { KUBECONFIG: path.join(dir, "none") } }, ...(token ? { token } : {}) });

test.describe("server restart", () => {
  test("the tab shows the restart, reconnects by itself and is live again", async ({ page, dashboard }) => {
    await page.goto(dashboard.url);
    const status = page.getByRole("status", { name: "Server connection" });
    await expect(status).toHaveText("Live");

    await dashboard.close();
    await expect(status).toHaveText("Server restarting: reconnecting…");

    restarted = await restart(dashboard.port, dashboard.token);
    await expect(status).toHaveText("Live", { timeout: 20_000 });
    await expect(page.getByRole("banner").getByRole("alert")).toHaveCount(0);
  });

  test("with a new access token the tab says to open the new URL, and is live once it has", async ({ page, dashboard }) => {
    await page.goto(dashboard.url);
    const status = page.getByRole("status", { name: "Server connection" });
    await expect(status).toHaveText("Live");

    await dashboard.close();
    restarted = await restart(dashboard.port);
    await expect(status).toHaveText("Signed out", { timeout: 20_000 });
    await expect(page.getByRole("banner").getByRole("alert")).toContainText("gefyra-ts was restarted with a new access token: open the URL it printed");

    await page.goto(restarted.url);
    await expect(page.getByRole("status", { name: "Server connection" })).toHaveText("Live");
  });
});
