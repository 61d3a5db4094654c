/**
 * SIGTERM on the process `npm start` runs (the bundle of main.ts on plain node): WebSocket clients
 * are told to reconnect and closed with 1012 "server restarting", and the process exits 0.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { BUNDLE_FILE, bundleServer } from "./bundle";
import { WS_CLOSE_RESTART, WS_CLOSE_RESTART_REASON } from "./server";

// beside the real output (same depth below the repo), so parallel runs never share a file
const outDir = path.join(path.dirname(BUNDLE_FILE), "..", `test-${process.pid}`);
let dataDir: string;
let bundle: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-shutdown-"));
  bundle = await bundleServer(path.join(outDir, "main.mjs"));
});
afterAll(() => {
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function start(): Promise<{ child: ChildProcess; url: URL; stderr: () => string }> {
  const child = spawn(process.execPath, [bundle, "--no-web", "--port", "0", "--data-dir", dataDir], {
    env: { ...process.env, KUBECONFIG: path.join(dataDir, "no-kubeconfig") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /dashboard: (\S+)/.exec(out);
      if (m?.[1]) resolve({ child, url: new URL(m[1]), stderr: () => err });
    });
    child.once("exit", (code) => reject(new Error(`the server exited (${code}) before printing its URL: ${err}`)));
  });
}

describe("SIGTERM", () => {
  it("tells WebSocket clients to reconnect, closes them with 1012 'server restarting' and exits 0", async () => {
    const { child, url, stderr } = await start();
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const token = url.searchParams.get("token") ?? "";
    const ws = new WebSocket(`ws://${url.host}/api/trpc`, { headers: { authorization: `Bearer ${token}` } });
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const messages: unknown[] = [];
    ws.on("message", (raw: Buffer) => messages.push(JSON.parse(raw.toString())));
    // a live subscription, as a dashboard tab has
    ws.send(JSON.stringify({ id: 1, method: "subscription", params: { path: "health.ticks", input: { intervalMs: 1000 } } }));
    await expect.poll(() => messages.length).toBeGreaterThan(1);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));

    child.kill("SIGTERM");
    expect(await closed).toEqual({ code: WS_CLOSE_RESTART, reason: WS_CLOSE_RESTART_REASON });
    expect(messages).toContainEqual({ id: null, method: "reconnect" });
    expect(await exited).toBe(0);
    expect(stderr()).toContain("SIGTERM, shutting down");
  }, 30_000);
});
