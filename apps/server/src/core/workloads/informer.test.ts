import http from "node:http";
import type { AddressInfo } from "node:net";
import * as k8s from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { watchResource } from "./informer";
import type { WorkloadRow } from "./rows";

const pod = (name: string, rv: string) => ({ metadata: { name, namespace: "shop", resourceVersion: rv }, spec: { containers: [{ name: "c" }] }, status: { phase: "Running" } });

/** A fake API server (an HTTP double of the few calls the informer makes) scripted per request. */
async function fakeApiServer(onRequest: (url: URL, res: http.ServerResponse) => void) {
  const server = http.createServer((req, res) => onRequest(new URL(req.url ?? "/", "http://x"), res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "dev", cluster: "c", user: "u" }],
    currentContext: "dev",
  });
  return { kc, close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) };
}

let cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe("watchResource", () => {
  it("lists, watches from the list's resourceVersion, and relists on 410 Gone", async () => {
    const requests: string[] = [];
    let lists = 0;
    const api = await fakeApiServer((url, res) => {
      requests.push(`${url.pathname}?${url.searchParams.get("watch") ? `watch rv=${url.searchParams.get("resourceVersion")}` : "list"}`);
      res.setHeader("Content-Type", "application/json");
      if (!url.searchParams.get("watch")) {
        lists++;
        res.end(JSON.stringify({ kind: "PodList", items: lists === 1 ? [pod("a", "5")] : [pod("b", "15")], metadata: { resourceVersion: lists === 1 ? "10" : "20" } }));
      } else if (url.searchParams.get("resourceVersion") === "10") {
        res.end(`${JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, message: "too old resource version" } })}\n`);
      } else {
        res.write(`${JSON.stringify({ type: "ADDED", object: pod("c", "21") })}\n`);
      }
    });
    cleanup.push(api.close);
    const syncs: string[][] = [];
    const changes: string[] = [];
    const errors: unknown[] = [];
    const stop = watchResource(
      { kubeConfig: api.kc, context: "dev", kind: "Pod", namespace: "shop", minBackoffMs: 10 },
      {
        onSync: (rows: WorkloadRow[]) => syncs.push(rows.map((r) => r.name)),
        onChange: (type, row) => changes.push(`${type} ${row.key}`),
        onError: (e) => e && errors.push(e),
      },
    );
    cleanup.push(stop);
    await expect.poll(() => changes).toEqual(["upsert Pod/shop/c"]);
    expect(syncs).toEqual([["a"], ["b"]]);
    expect(requests).toEqual(["/api/v1/namespaces/shop/pods?list", "/api/v1/namespaces/shop/pods?watch rv=10", "/api/v1/namespaces/shop/pods?list", "/api/v1/namespaces/shop/pods?watch rv=20"]);
    expect(errors).toEqual([]);
  });

  it("reports 403 with the missing verbs and retries with back-off", async () => {
    let calls = 0;
    const api = await fakeApiServer((_url, res) => {
      calls++;
      res.writeHead(403, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", code: 403, message: "forbidden" }));
    });
    cleanup.push(api.close);
    const errors: string[] = [];
    cleanup.push(
      watchResource(
        { kubeConfig: api.kc, context: "dev", kind: "Deployment", namespace: "shop", minBackoffMs: 10, maxBackoffMs: 20 },
        { onSync: () => undefined, onChange: () => undefined, onError: (e) => e && errors.push(e.message) },
      ),
    );
    await expect.poll(() => calls).toBeGreaterThanOrEqual(3);
    expect(errors[0]).toBe('Your user in context "dev" may not list and watch deployments in namespace shop: ask a cluster admin for get/list/watch on deployments in shop, or pick a namespace you may read.');
  });
});
