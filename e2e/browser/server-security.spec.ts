/**
 * The security checks of the real server (Next.js dashboard + tRPC + WebSocket on one port), from
 * outside the browser: raw HTTP requests and WebSocket upgrades with forged Host and Origin headers
 * (a browser cannot forge them; an attacker's script or a DNS-rebinding page is what they model).
 */
import http from "node:http";
import os from "node:os";
import WebSocket from "ws";
import { expect, test } from "./fixtures";

interface Answer {
  status: number;
  body: string;
}

function get(port: number, pathname: string, headers: Record<string, string> = {}, host = "127.0.0.1"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path: pathname, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function upgrade(port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/trpc`, { headers });
    ws.once("open", () => {
      ws.close();
      resolve(101);
    });
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

test.describe("server security (raw HTTP)", () => {
  test("no token: 401 for the page, the API and the WebSocket", async ({ dashboard }) => {
    expect((await get(dashboard.port, "/")).status).toBe(401);
    expect((await get(dashboard.port, "/api/trpc/health.info")).status).toBe(401);
    expect((await get(dashboard.port, "/?token=wrong")).status).toBe(401);
    expect(await upgrade(dashboard.port, { Origin: dashboard.origin })).toBe(401);
  });

  test("a foreign Host is 403 even with the token (DNS rebinding)", async ({ dashboard }) => {
    const auth = { Authorization: `Bearer ${dashboard.token}` };
    expect((await get(dashboard.port, "/api/trpc/health.info", { ...auth, Host: `evil.example:${dashboard.port}` })).status).toBe(403);
    expect((await get(dashboard.port, "/", { ...auth, Host: `evil.example:${dashboard.port}` })).status).toBe(403);
    expect((await get(dashboard.port, "/api/trpc/health.info", auth)).status).toBe(200);
  });

  test("a WebSocket from a foreign Origin is refused, a same-origin one is accepted", async ({ dashboard }) => {
    const cookie = { Cookie: `gefyra_token_${dashboard.port}=${dashboard.token}` };
    expect(await upgrade(dashboard.port, { ...cookie, Origin: "http://evil.example" })).toBe(403);
    expect(await upgrade(dashboard.port, { ...cookie, Origin: `http://localhost:${dashboard.port + 1}` })).toBe(403);
    expect(await upgrade(dashboard.port, { ...cookie, Origin: dashboard.origin })).toBe(101);
  });

  test("listens on loopback only", async ({ dashboard }) => {
    expect(dashboard.host).toBe("127.0.0.1");
    const external = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
    test.skip(!external, "this machine has no non-loopback IPv4 address");
    await expect(get(dashboard.port, "/", {}, external)).rejects.toThrow(/ECONNREFUSED/);
  });
});
