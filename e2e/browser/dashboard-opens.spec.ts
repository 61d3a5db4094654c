import { expect, test } from "./fixtures";

test.describe("dashboard opens", () => {
  test("the tokened URL opens the dashboard and the Contexts panel lists the kubeconfig's context", async ({ page, dashboard }) => {
    await page.goto(dashboard.url);
    // the token is traded for a cookie and stripped from the address bar
    await expect(page).toHaveURL(`${dashboard.origin}/`);
    await expect(page.getByRole("heading", { level: 1, name: "gefyra-ts" })).toBeVisible();

    const panel = page.getByRole("region", { name: "Contexts" });
    const contexts = panel.getByRole("list", { name: "Kubeconfig contexts" });
    const row = contexts.getByRole("listitem", { name: "devcluster-e2e" });
    await expect(row).toBeVisible();
    await expect(row).toContainText("current");
    await expect(row).toContainText("namespace shop");
    // nobody listens on the fake API server's port: reachability is checked and reported
    await expect(row.getByText("Unreachable")).toBeVisible();
    await expect(row).toContainText('Cannot reach the API server of context "devcluster-e2e"');

    // the subscription over the WebSocket is up
    await expect(page.getByRole("status", { name: "Server connection" })).toHaveText("Live");
  });

  test("a page load without the token gets 401", async ({ page, dashboard }) => {
    const response = await page.goto(dashboard.origin);
    expect(response?.status()).toBe(401);
    await expect(page.getByText(/Not signed in/)).toBeVisible();
  });
});

test.describe("without a kubeconfig", () => {
  test.use({ kubeContexts: [] });

  test("the Contexts panel explains how to add one", async ({ page, dashboard }) => {
    await page.goto(dashboard.url);
    const panel = page.getByRole("region", { name: "Contexts" });
    await expect(panel.getByText("No kubeconfig found: set KUBECONFIG or create ~/.kube/config")).toBeVisible();
    await expect(panel.getByRole("list", { name: "Kubeconfig contexts" })).toHaveCount(0);
  });
});
