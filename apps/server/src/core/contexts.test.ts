import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { checkContext, kubeconfigPaths, listContexts } from "./contexts";
import { GefyraError } from "./errors";

let dir: string;
let fakeApiServer: http.Server;
let fakeUrl: string;

// A fake API server: the real one cannot run in a unit test. It knows one bearer token.
beforeAll(async () => {
  fakeApiServer = http.createServer((req, res) => {
    if (req.url === "/version") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ gitVersion: "v1.34.1-fake" }));
      return;
    }
    if (req.headers.authorization !== "Bearer good-token") {
      res.writeHead(401, { "content-type": "application/json" }).end('{"kind":"Status","code":401}');
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end('{"kind":"APIVersions","versions":["v1"]}');
  });
  await new Promise<void>((resolve) => fakeApiServer.listen(0, "127.0.0.1", resolve));
  fakeUrl = `http://127.0.0.1:${(fakeApiServer.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => fakeApiServer.close(resolve));
});
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-kube-"));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function kubeconfig(file: string, opts: { contexts: { name: string; server: string; token?: string; namespace?: string }[]; current?: string }): string {
  const p = path.join(dir, file);
  const lines = ["apiVersion: v1", "kind: Config", `current-context: "${opts.current ?? ""}"`, "clusters:"];
  for (const c of opts.contexts) lines.push(`- name: ${c.name}-cluster`, "  cluster:", `    server: ${c.server}`, ...(c.server.startsWith("http:") ? ["    insecure-skip-tls-verify: true"] : []));
  lines.push("users:");
  for (const c of opts.contexts) lines.push(`- name: ${c.name}-user`, "  user:", `    token: ${c.token ?? "good-token"}`);
  lines.push("contexts:");
  for (const c of opts.contexts)
    lines.push(`- name: ${c.name}`, "  context:", `    cluster: ${c.name}-cluster`, `    user: ${c.name}-user`, ...(c.namespace ? [`    namespace: ${c.namespace}`] : []));
  fs.writeFileSync(p, lines.join("\n") + "\n");
  return p;
}

async function closedPortUrl(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return `http://127.0.0.1:${port}`;
}

describe("kubeconfig contexts", () => {
  it("merges KUBECONFIG files like kubectl: first file wins, missing files skipped", () => {
    const a = kubeconfig("a.yaml", { contexts: [{ name: "dev", server: "https://dev.example:6443", namespace: "shop" }], current: "dev" });
    const b = kubeconfig("b.yaml", { contexts: [{ name: "dev", server: "https://other.example" }, { name: "prod", server: "https://prod.example" }], current: "prod" });
    const listing = listContexts({ env: { KUBECONFIG: [a, path.join(dir, "missing.yaml"), b].join(path.delimiter) } });
    expect(listing.files).toEqual([a, b]);
    expect(listing.currentContext).toBe("dev");
    expect(listing.contexts).toEqual([
      { name: "dev", cluster: "dev-cluster", server: "https://dev.example:6443", user: "dev-user", namespace: "shop", current: true },
      { name: "prod", cluster: "prod-cluster", server: "https://prod.example", user: "prod-user", namespace: null, current: false },
    ]);
  });

  it("falls back to ~/.kube/config without KUBECONFIG, and is empty when there is none", () => {
    expect(kubeconfigPaths({ env: {}, home: dir })).toEqual([path.join(dir, ".kube", "config")]);
    expect(listContexts({ env: {}, home: dir })).toMatchObject({ files: [], contexts: [], currentContext: null });
    fs.mkdirSync(path.join(dir, ".kube"));
    fs.renameSync(kubeconfig("c.yaml", { contexts: [{ name: "home", server: fakeUrl }], current: "home" }), path.join(dir, ".kube", "config"));
    expect(listContexts({ env: {}, home: dir }).contexts.map((c) => c.name)).toEqual(["home"]);
  });

  it("names a broken kubeconfig file in a one-line error", () => {
    const bad = path.join(dir, "bad.yaml");
    fs.writeFileSync(bad, "clusters:\n- name: x\n  cluster: {}\n");
    const error = (() => {
      try {
        listContexts({ env: { KUBECONFIG: bad } });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(GefyraError);
    expect(error).toMatchObject({ code: "KUBECONFIG_INVALID" });
    expect((error as GefyraError).message).toMatch(new RegExp(`^The kubeconfig ${bad} cannot be read \\(.*server is missing\\): fix the file`));
  });

  it("reports a reachable context with its version", async () => {
    const kc = kubeconfig("ok.yaml", { contexts: [{ name: "ok", server: fakeUrl }], current: "ok" });
    const result = await checkContext(undefined, { env: { KUBECONFIG: kc } });
    expect(result).toMatchObject({ context: "ok", reachable: true, version: "v1.34.1-fake", server: fakeUrl });
  });

  it("reports rejected credentials as unauthorized", async () => {
    const kc = kubeconfig("unauth.yaml", { contexts: [{ name: "stale", server: fakeUrl, token: "expired" }] });
    const result = await checkContext("stale", { env: { KUBECONFIG: kc } });
    expect(result.reachable).toBe(false);
    if (result.reachable) return;
    expect(result.error.code).toBe("CLUSTER_UNAUTHORIZED");
    expect(result.error.message).toMatch(/context "stale" .*401 Unauthorized.*refresh/);
  });

  it("reports an unreachable cluster quickly", async () => {
    const kc = kubeconfig("down.yaml", { contexts: [{ name: "down", server: await closedPortUrl() }] });
    const result = await checkContext("down", { env: { KUBECONFIG: kc }, timeoutMs: 1000 });
    expect(result).toMatchObject({ reachable: false, error: { code: "CLUSTER_UNREACHABLE" } });
    if (!result.reachable) expect(result.error.message).toMatch(/Cannot reach the API server of context "down" .*ECONNREFUSED.*check that the cluster is running/);
  });

  it("gives up after the timeout on a server that never answers", async () => {
    const silent = http.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const kc = kubeconfig("silent.yaml", { contexts: [{ name: "silent", server: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` }] });
      const started = Date.now();
      const result = await checkContext("silent", { env: { KUBECONFIG: kc }, timeoutMs: 300 });
      expect(Date.now() - started).toBeLessThan(3000);
      expect(result).toMatchObject({ reachable: false, error: { code: "CLUSTER_UNREACHABLE" } });
      if (!result.reachable) expect(result.error.message).toContain("no answer within 300 ms");
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("names an unknown context and lists the known ones", async () => {
    const kc = kubeconfig("one.yaml", { contexts: [{ name: "only", server: fakeUrl }] });
    await expect(checkContext("nope", { env: { KUBECONFIG: kc } })).rejects.toMatchObject({ code: "CONTEXT_NOT_FOUND", message: expect.stringContaining("use one of only") as string });
  });
});
