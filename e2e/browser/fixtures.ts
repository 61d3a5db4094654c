/**
 * Fixtures for browser specs: a real gefyra-ts server (Next.js production build + tRPC + WS)
 * on a free port, with a temp data dir and a temp KUBECONFIG, torn down after each test.
 * `ensureWebBuild()` runs `scripts/start.sh --prepare-only`: Prisma client and dashboard build,
 * each only when missing or older than its sources (the same rule as `npm start`).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test as base } from "@playwright/test";
import { startServer, type RunningServer } from "../../apps/server/src/index";

const root = path.resolve(import.meta.dirname, "..", "..");

export interface FakeContext {
  name: string;
  server: string;
  namespace?: string;
}

export interface DashboardFixtures {
  /** Contexts written into the temp kubeconfig; override with test.use({ kubeContexts: [...] }). */
  kubeContexts: FakeContext[];
  /** A real kubeconfig to use instead of the fake contexts (devcluster specs: `test.use({ kubeconfigFile: kubeconfigPath })`). */
  kubeconfigFile: string | null;
  /** The running server; `dashboard.url` carries the token. */
  dashboard: RunningServer;
}

let prepared = false;
export function ensureWebBuild(): void {
  if (prepared) return;
  execFileSync("bash", [path.join(root, "scripts/start.sh"), "--prepare-only"], { stdio: "inherit", env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } });
  prepared = true;
}

function writeKubeconfig(file: string, contexts: FakeContext[]): void {
  const lines = ["apiVersion: v1", "kind: Config", `current-context: "${contexts[0]?.name ?? ""}"`, "clusters:"];
  for (const c of contexts) lines.push(`- name: ${c.name}`, "  cluster:", `    server: ${c.server}`);
  lines.push("users:");
  for (const c of contexts) lines.push(`- name: ${c.name}`, "  user:", "    token: not-a-real-token");
  lines.push("contexts:");
  for (const c of contexts) lines.push(`- name: ${c.name}`, "  context:", `    cluster: ${c.name}`, `    user: ${c.name}`, ...(c.namespace ? [`    namespace: ${c.namespace}`] : []));
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
}

export const test = base.extend<DashboardFixtures>({
  // an API server address nobody listens on: the context is listed and shown as unreachable
  kubeContexts: [[{ name: "devcluster-e2e", server: "https://127.0.0.1:9", namespace: "shop" }], { option: true }],
  kubeconfigFile: [null, { option: true }],
  dashboard: async ({ kubeContexts, kubeconfigFile }, use) => {
    ensureWebBuild();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-browser-"));
    const kubeconfig = kubeconfigFile ?? path.join(dir, "kubeconfig");
    // no contexts: no file at all (the "No kubeconfig found" empty state)
    if (!kubeconfigFile && kubeContexts.length > 0) writeKubeconfig(kubeconfig, kubeContexts);
    const server = await startServer({ port: 0, web: true, dataDir: path.join(dir, "data"), kube: { env: { KUBECONFIG: kubeconfig } } });
    try {
      await use(server);
    } finally {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
});

export { expect } from "@playwright/test";
