import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { GefyraError } from "../core/errors";
import { cookieName } from "./security";
import { startServer, WS_CLOSE_RESTART, WS_CLOSE_RESTART_REASON, type RunningServer } from "./server";

let dataDir: string;
let kubeDir: string;
let server: RunningServer;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-http-"));
  kubeDir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-http-kube-"));
  const kubeconfig = path.join(kubeDir, "config");
  fs.writeFileSync(
    kubeconfig,
    "apiVersion: v1\ncurrent-context: dev\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: dev\n  context: {cluster: c, user: u}\n",
  );
  server = await startServer({ port: 0, web: false, dataDir, kube: { env: { KUBECONFIG: kubeconfig } }, log: () => undefined });
});
afterAll(async () => {
  await server.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(kubeDir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Raw http.request: fetch() forbids setting Host and Origin, which these tests must forge. */
function request(pathname: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: server.port, path: pathname, method: init.method ?? "GET", headers: init.headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

const cookie = (): string => `${cookieName(server.port)}=${server.token}`;

function openSocket(headers: Record<string, string>): Promise<{ ws: WebSocket } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api/trpc`, { headers });
    ws.once("open", () => resolve({ ws }));
    ws.once("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

describe("HTTP server security", () => {
  it("prints a loopback URL with the token", () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
    expect(server.token.length).toBeGreaterThanOrEqual(32);
  });

  it("answers 401 without a token", async () => {
    const res = await request("/api/trpc/health.info");
    expect(res.status).toBe(401);
    expect(res.body).toMatch(/Not signed in/);
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("answers 401 to a wrong token in the URL, cookie or Bearer header", async () => {
    expect((await request("/?token=wrong")).status).toBe(401);
    expect((await request("/api/trpc/health.info", { headers: { cookie: `${cookieName(server.port)}=wrong` } })).status).toBe(401);
    expect((await request("/api/trpc/health.info", { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
  });

  it("answers 403 to a foreign Host header, even with the token (DNS rebinding)", async () => {
    const res = await request("/api/trpc/health.info", { headers: { host: `evil.example:${server.port}`, cookie: cookie() } });
    expect(res.status).toBe(403);
    expect((await request("/api/trpc/health.info", { headers: { host: `localhost:${server.port}`, cookie: cookie() } })).status).toBe(200);
  });

  it("trades ?token= for an HttpOnly SameSite=Strict cookie and strips it from the URL", async () => {
    const res = await request(`/contexts?x=1&token=${server.token}`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/contexts?x=1");
    const setCookie = res.headers["set-cookie"]?.[0] ?? "";
    expect(setCookie).toContain(`${cookieName(server.port)}=${server.token}`);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
  });

  it("serves a tRPC query over HTTP with the cookie or a Bearer token", async () => {
    const variants: Record<string, string>[] = [{ cookie: cookie() }, { authorization: `Bearer ${server.token}` }];
    for (const headers of variants) {
      const res = await request("/api/trpc/health.info", { headers });
      expect(res.status).toBe(200);
      const body = JSON.parse(res.body) as { result: { data: { version: string; uptimeMs: number } } };
      expect(body.result.data.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(body.result.data.uptimeMs).toBeGreaterThanOrEqual(0);
    }
    const contexts = JSON.parse((await request("/api/trpc/contexts.list", { headers: { cookie: cookie() } })).body) as {
      result: { data: { currentContext: string; contexts: { name: string }[] } };
    };
    expect(contexts.result.data.currentContext).toBe("dev");
    expect(contexts.result.data.contexts.map((c) => c.name)).toEqual(["dev"]);
  });

  it("carries a GefyraError's sentence and code to the client", async () => {
    const input = encodeURIComponent(JSON.stringify({ context: "nope" }));
    const res = await request(`/api/trpc/contexts.check?input=${input}`, { headers: { cookie: cookie() } });
    const body = JSON.parse(res.body) as { error: { message: string; data: { gefyra: { code: string } | null; stack?: string } } };
    expect(body.error.data.gefyra?.code).toBe("CONTEXT_NOT_FOUND");
    expect(body.error.message).toMatch(/^Context "nope" is not in .*: use one of dev\.$/);
    expect(body.error.data.stack).toBeUndefined();
  });

  it("refuses a cross-site mutation but not a same-origin one", async () => {
    const mutation = { method: "POST", body: "{}", headers: { cookie: cookie(), "content-type": "application/json" } };
    const crossSite = await request("/api/trpc/health.info", { ...mutation, headers: { ...mutation.headers, "sec-fetch-site": "cross-site" } });
    expect(crossSite.status).toBe(403);
    const foreignOrigin = await request("/api/trpc/health.info", { ...mutation, headers: { ...mutation.headers, origin: "http://evil.example" } });
    expect(foreignOrigin.status).toBe(403);
    // same origin passes the check (tRPC then refuses POST for a query: 405, not 403)
    const sameOrigin = await request("/api/trpc/health.info", { ...mutation, headers: { ...mutation.headers, origin: server.origin, "sec-fetch-site": "same-origin" } });
    expect(sameOrigin.status).not.toBe(403);
    expect(sameOrigin.status).not.toBe(401);
  });

  it("answers 404 for pages when the dashboard is not served", async () => {
    expect((await request("/", { headers: { cookie: cookie() } })).status).toBe(404);
  });
});

describe("WebSocket subscriptions", () => {
  it("refuses an upgrade without the token", async () => {
    expect(await openSocket({ origin: server.origin })).toEqual({ status: 401 });
  });

  it("refuses an upgrade from a foreign Origin, even with the cookie", async () => {
    expect(await openSocket({ origin: "http://evil.example", cookie: cookie() })).toEqual({ status: 403 });
    expect(await openSocket({ origin: `http://localhost:${server.port + 1}`, cookie: cookie() })).toEqual({ status: 403 });
  });

  it("refuses a cookie-authenticated upgrade without Origin (only Bearer scripts may omit it)", async () => {
    expect(await openSocket({ cookie: cookie() })).toEqual({ status: 403 });
  });

  it("streams health.ticks to a same-origin client and stops on request", async () => {
    const opened = await openSocket({ origin: server.origin, cookie: cookie() });
    if (!("ws" in opened)) throw new Error(`upgrade refused: ${opened.status}`);
    const { ws } = opened;
    const ticks: { at: string; uptimeMs: number }[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on("message", (raw: Buffer) => {
        const msg = JSON.parse(raw.toString()) as { id?: number; result?: { type: string; data?: { at: string; uptimeMs: number } }; error?: unknown };
        if (msg.error) reject(new Error(JSON.stringify(msg.error)));
        if (msg.id === 1 && msg.result?.type === "data" && msg.result.data) {
          ticks.push(msg.result.data);
          if (ticks.length === 3) resolve();
        }
      });
      ws.send(JSON.stringify({ id: 1, method: "subscription", params: { path: "health.ticks", input: { intervalMs: 50 } } }));
    });
    ws.send(JSON.stringify({ id: 1, method: "subscription.stop" }));
    expect(ticks).toHaveLength(3);
    expect(Date.parse(ticks[2]?.at ?? "")).toBeGreaterThanOrEqual(Date.parse(ticks[0]?.at ?? ""));
    ws.close();
  });

  it("accepts a Bearer-authenticated script without Origin", async () => {
    const opened = await openSocket({ authorization: `Bearer ${server.token}` });
    expect("ws" in opened).toBe(true);
    if ("ws" in opened) opened.ws.close();
  });
});

describe("lifecycle", () => {
  it("fails with one line naming a requested port that is taken", async () => {
    const error = await startServer({ port: server.port, web: false, dataDir, log: () => undefined }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GefyraError);
    expect((error as GefyraError).code).toBe("PORT_IN_USE");
    expect((error as GefyraError).message).toBe(
      `Port ${server.port} on 127.0.0.1 is already in use (another gefyra-ts?): stop that process, or pass another --port / GEFYRA_PORT.`,
    );
  });

  it("tells WebSocket clients to reconnect, closes them with 1012 'server restarting', and lets nothing new in meanwhile", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-http-close-"));
    const other = await startServer({ port: 0, web: false, dataDir: dir, log: () => undefined });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${other.port}/api/trpc`, { headers: { origin: other.origin, authorization: `Bearer ${other.token}` } });
      await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
      const messages: string[] = [];
      ws.on("message", (raw: Buffer) => messages.push(raw.toString()));
      const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
      // nothing is served once shutdown began: refused, or 503 on a connection that was mid-request
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = () =>
        new Promise<number>((resolve, reject) => {
          http
            .get({ host: "127.0.0.1", port: other.port, path: "/api/trpc/health.info", agent, headers: { authorization: `Bearer ${other.token}` } }, (res) => {
              res.resume();
              res.on("end", () => resolve(res.statusCode ?? 0));
            })
            .on("error", reject);
        });
      expect(await get()).toBe(200);
      const closing = other.close();
      expect([503, "refused"]).toContain(await get().catch(() => "refused"));
      await closing;
      agent.destroy();
      expect(await closed).toEqual({ code: WS_CLOSE_RESTART, reason: WS_CLOSE_RESTART_REASON });
      expect(messages.map((m) => JSON.parse(m) as unknown)).toContainEqual({ id: null, method: "reconnect" });
    } finally {
      await other.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
