import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CRD_GROUP, CRD_VERSION, NAMESPACE } from "@gefyra/shared";
import { openStore, type Store } from "../../store";
import { createCaller, createContextFactory } from "../index";
import { stopBridgeWatches, type BridgesMessage } from "./bridges";

/** A fake API server: discovery, one Deployment, a Bridge list and an idle watch; uninstall() makes the Bridge API 404. */
async function fakeApiServer() {
  let bridgesInstalled = true;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    res.setHeader("Content-Type", "application/json");
    const p = url.pathname;
    if (p === "/version") return res.end(JSON.stringify({ gitVersion: "v1.34.0" }));
    if (p === "/api") return res.end(JSON.stringify({ kind: "APIVersions", versions: ["v1"] }));
    if (p === "/apis/apps/v1/namespaces/shop/deployments/api") {
      return res.end(
        JSON.stringify({
          metadata: { name: "api", namespace: "shop" },
          spec: {
            replicas: 2,
            template: {
              spec: {
                containers: [
                  { name: "app", image: "shop/api:1", ports: [{ containerPort: 8080, name: "http" }, { containerPort: 5353, protocol: "UDP" }] },
                  { name: "sidecar", image: "proxy:2" },
                ],
              },
            },
          },
          status: { readyReplicas: 1 },
        }),
      );
    }
    if (p === `/apis/${CRD_GROUP}/${CRD_VERSION}/namespaces/${NAMESPACE}/bridges`) {
      if (!bridgesInstalled) {
        res.writeHead(404);
        return res.end(JSON.stringify({ kind: "Status", code: 404, message: "the server could not find the requested resource" }));
      }
      if (url.searchParams.get("watch") === "true") {
        res.writeHead(200);
        res.flushHeaders();
        return;
      }
      return res.end(
        JSON.stringify({
          kind: "BridgeList",
          apiVersion: `${CRD_GROUP}/${CRD_VERSION}`,
          metadata: { resourceVersion: "7" },
          items: [
            {
              apiVersion: `${CRD_GROUP}/${CRD_VERSION}`,
              kind: "Bridge",
              metadata: { name: "me-to-api", namespace: NAMESPACE, resourceVersion: "7", creationTimestamp: "2025-01-01T00:00:00Z" },
              spec: { connection: "me", local: "me", target: { namespace: "shop", kind: "deployment", name: "api", container: "app" }, ports: [{ remote: 8080, local: 8080 }], match: [] },
              status: { phase: "Active", pods: [{ name: "api-1", ready: true }] },
            },
          ],
        }),
      );
    }
    res.writeHead(404);
    res.end(JSON.stringify({ kind: "Status", code: 404, message: "not found" }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    uninstall: () => (bridgesInstalled = false),
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

let dir: string;
let store: Store;
let api: Awaited<ReturnType<typeof fakeApiServer>>;
let caller: ReturnType<typeof createCaller>;
let makeContext: ReturnType<typeof createContextFactory>;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-trpc-bridges-"));
  api = await fakeApiServer();
  const kubeconfig = path.join(dir, "kubeconfig");
  fs.writeFileSync(
    kubeconfig,
    `apiVersion: v1\ncurrent-context: dev\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:${api.port}', insecure-skip-tls-verify: true}\n- name: gone\n  cluster: {server: 'https://127.0.0.1:9'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: dev\n  context: {cluster: c, user: u}\n- name: away\n  context: {cluster: gone, user: u}\n`,
  );
  store = await openStore({ dataDir: dir });
  makeContext = createContextFactory({ store, version: "0", startedAt: Date.now(), kube: { env: { KUBECONFIG: kubeconfig } } }, "http");
  caller = createCaller(makeContext());
});
afterEach(() => stopBridgeWatches());
afterAll(async () => {
  await store.close();
  await api.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("bridges router", () => {
  it("target: containers and their TCP ports from the pod template, and replicas", async () => {
    expect(await caller.bridges.target({ context: "dev", namespace: "shop", kind: "deployment", name: "api" })).toEqual({
      kind: "deployment",
      name: "api",
      namespace: "shop",
      replicas: 2,
      ready: 1,
      containers: [
        { name: "app", image: "shop/api:1", ports: [{ port: 8080, name: "http" }] },
        { name: "sidecar", image: "proxy:2", ports: [] },
      ],
    });
  });

  it("target: a workload that is gone is one sentence", async () => {
    await expect(caller.bridges.target({ context: "dev", namespace: "shop", kind: "deployment", name: "gone" })).rejects.toThrow(
      "deploy/gone not found in namespace shop: pick it again from the workloads list",
    );
  });

  it("start: refuses rules the shared schema refuses before anything runs", async () => {
    const input = { context: "dev", namespace: "shop", target: { kind: "deployment" as const, name: "api" }, local: "me", ports: [{ remote: 8080, local: 8080 }] };
    await expect(caller.bridges.start({ ...input, match: [{ kind: "header", name: "bad name", op: "exact", value: "x" }] })).rejects.toThrow(/HTTP header name/);
    await expect(caller.bridges.start({ ...input, ports: [] })).rejects.toThrow(/at least one port/);
  });

  it("list: the cluster's bridges, live; for one connection on request", async () => {
    expect(await firstList({ context: "dev" })).toMatchObject({
      type: "list",
      bridges: [{ name: "me-to-api", state: "Active", target: { name: "api", container: "app" }, pods: [{ name: "api-1", ready: true }] }],
    });
    expect(await firstList({ context: "dev", connection: "someone-else" })).toEqual({ type: "list", bridges: [] });
  });

  it("list: a cluster without gefyra-ts has no bridges; an unreachable one says why", async () => {
    api.uninstall();
    expect(await firstList({ context: "dev" })).toEqual({ type: "list", bridges: [] });
    expect(await firstList({ context: "away" })).toMatchObject({ type: "error", code: "CLUSTER_UNREACHABLE", message: expect.stringContaining('Cannot reach the API server of context "away"') as string });
  });
});

/** The first message of a bridges.list subscription. */
async function firstList(input: { context: string; connection?: string }): Promise<BridgesMessage> {
  const controller = new AbortController();
  const sub = createCaller(makeContext(), { signal: controller.signal });
  try {
    for await (const m of await sub.bridges.list(input)) if (!("stream" in m)) return m;
    throw new Error("the subscription ended without a message");
  } finally {
    controller.abort();
  }
}
