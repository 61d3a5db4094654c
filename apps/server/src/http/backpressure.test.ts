/**
 * Back-pressure end to end: the real server, the real workloads feed fed by a fake API server that
 * streams thousands of watch events, and a real WebSocket client that stops reading (its socket is
 * paused, so TCP pushes back). What waits for that client must stay bounded, and the client must
 * learn that it has to re-list once it reads again.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { stopAllFeeds } from "../core/workloads";
import { DEFAULT_HIGH_WATER_BYTES, pacingStats, resetPacingStats, type PacingStats } from "../trpc/backpressure";
import { WORKLOAD_QUEUE_ROWS } from "../trpc/routers/workloads";
import { startServer, type RunningServer } from "./server";

const EVENTS = 20_000;
const BURST = 500;

/** A fake API server: empty lists, idle watches, and a Deployment watch the test feeds. */
async function fakeApiServer() {
  const deploymentWatches = new Set<http.ServerResponse>();
  let rv = 100;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    res.setHeader("Content-Type", "application/json");
    if (url.searchParams.get("watch") !== "true") {
      const items = url.pathname === "/api/v1/namespaces" ? [{ metadata: { name: "shop", resourceVersion: "1" }, status: { phase: "Active" } }] : [];
      res.end(JSON.stringify({ kind: "List", items, metadata: { resourceVersion: "1" } }));
      return;
    }
    res.writeHead(200);
    res.flushHeaders();
    if (url.pathname.endsWith("/deployments")) {
      deploymentWatches.add(res);
      res.on("close", () => deploymentWatches.delete(res));
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  // about 1 KB per row on the wire: four containers with long image names and ports
  const deployment = (i: number) => ({
    metadata: { name: `dep-${String(i).padStart(5, "0")}`, namespace: "shop", resourceVersion: String(++rv), creationTimestamp: "2025-01-01T00:00:00Z" },
    spec: {
      replicas: 1,
      template: {
        spec: {
          containers: [0, 1, 2, 3].map((c) => ({
            name: `c${c}`,
            image: `registry.example.internal/team/service-${c}/with/a/long/path:${"v".repeat(120)}${i}`,
            ports: [{ containerPort: 8000 + c, name: `port-${c}` }],
          })),
        },
      },
    },
    status: { readyReplicas: 0 },
  });
  return {
    port: (server.address() as AddressInfo).port,
    watching: () => deploymentWatches.size,
    /** ADDED events for deployments [from, to), in bursts (a rollout, a big apply). */
    async emit(from: number, to: number): Promise<void> {
      for (let i = from; i < to; i += BURST) {
        let chunk = "";
        for (let j = i; j < Math.min(to, i + BURST); j++) chunk += `${JSON.stringify({ type: "ADDED", object: deployment(j) })}\n`;
        for (const res of deploymentWatches) res.write(chunk);
        await new Promise((r) => setTimeout(r, 15));
      }
    },
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

interface Message {
  id?: number;
  result?: { type: string; data?: { type?: string; stream?: string; missed?: number; rows?: unknown[]; upserts?: unknown[] } };
}

let dir: string;
let api: Awaited<ReturnType<typeof fakeApiServer>>;
let server: RunningServer;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-backpressure-"));
  api = await fakeApiServer();
  const kubeconfig = path.join(dir, "kubeconfig");
  fs.writeFileSync(
    kubeconfig,
    `apiVersion: v1\ncurrent-context: dev\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:${api.port}', insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: dev\n  context: {cluster: c, user: u, namespace: shop}\n`,
  );
  server = await startServer({ port: 0, web: false, dataDir: path.join(dir, "data"), kube: { env: { KUBECONFIG: kubeconfig } }, log: () => undefined });
});

afterAll(async () => {
  await server.close();
  stopAllFeeds();
  await api.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("a browser that stops reading", () => {
  it("keeps the server's queue and socket buffer bounded, then gets a resync marker and a fresh snapshot", async () => {
    resetPacingStats();
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api/trpc`, { headers: { authorization: `Bearer ${server.token}` } });
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const data: NonNullable<NonNullable<Message["result"]>["data"]>[] = [];
    let received = 0;
    ws.on("message", (raw: Buffer) => {
      received += raw.length;
      const msg = JSON.parse(raw.toString()) as Message;
      if (msg.id === 1 && msg.result?.type === "data" && msg.result.data) data.push(msg.result.data);
    });
    ws.send(JSON.stringify({ id: 1, method: "subscription", params: { path: "workloads.watch", input: { context: "dev", namespace: "shop" } } }));
    await expect.poll(() => data.find((d) => d.type === "snapshot"), { timeout: 10_000 }).toMatchObject({ rows: [{ kind: "Namespace", name: "shop" }], status: { errors: [] } });
    await expect.poll(() => api.watching()).toBe(1);

    // the browser stops reading: the kernel's buffers fill, then ws's own buffer
    ws.pause();
    const before = data.length;
    await api.emit(0, EVENTS);
    await expect.poll(() => pacingStats().resyncs, { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
    const whilePaused: PacingStats = pacingStats();
    // the feed was stopped: more events while paused add nothing to this browser's queue
    await api.emit(EVENTS, EVENTS + 1000);
    await new Promise((r) => setTimeout(r, 300));
    const stillPaused = pacingStats();

    // bounded: at most the queue's bound plus one batch (the feed never batches more than 5000 rows)
    expect(whilePaused.peakQueued).toBeLessThanOrEqual(WORKLOAD_QUEUE_ROWS + 5001);
    expect(stillPaused.queued).toBe(0);
    // the socket held at most the high-water mark plus the message that crossed it (one batch)
    expect(whilePaused.peakBufferedBytes).toBeLessThan(DEFAULT_HIGH_WATER_BYTES + 6 * 1024 * 1024);
    expect(data.length).toBe(before);

    ws.resume();
    const total = EVENTS + 1000;
    await expect
      .poll(() => data.findLast((d) => d.type === "snapshot")?.rows?.length ?? 0, { timeout: 20_000 })
      .toBe(total + 1); // + the namespace row
    const markerAt = data.findIndex((d) => d.stream === "resync");
    expect(markerAt).toBeGreaterThan(0);
    expect(data[markerAt]?.missed).toBeGreaterThan(0);
    expect(data.slice(markerAt + 1).find((d) => d.type)?.type).toBe("snapshot");
    expect(received).toBeGreaterThan(0);
    ws.close();
    await expect.poll(() => pacingStats().subscribers).toBe(0);
  }, 60_000);
});
