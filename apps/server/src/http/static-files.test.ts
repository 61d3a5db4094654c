import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStaticHandler } from "./static-files";

/** A raw request, so paths like /../x reach the server as written (fetch would normalise them). */
function get(port: number, target: string, method = "GET"): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: target, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("static export handler", () => {
  let dir: string;
  let server: http.Server;
  let port: number;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-static-"));
    const out = path.join(dir, "out");
    fs.mkdirSync(path.join(out, "_next", "static", "chunks"), { recursive: true });
    fs.mkdirSync(path.join(out, "docs"));
    fs.writeFileSync(path.join(out, "index.html"), "<h1>dashboard</h1>");
    fs.writeFileSync(path.join(out, "404.html"), "<h1>missing</h1>");
    fs.writeFileSync(path.join(out, "about.html"), "<h1>about</h1>");
    fs.writeFileSync(path.join(out, "docs", "index.html"), "<h1>docs</h1>");
    fs.writeFileSync(path.join(out, "_next", "static", "chunks", "app.js"), "console.log(1)");
    fs.writeFileSync(path.join(out, ".env"), "SECRET=1");
    fs.writeFileSync(path.join(dir, "secret.txt"), "outside");
    fs.symlinkSync(path.join(dir, "secret.txt"), path.join(out, "link.txt"));
    const handler = createStaticHandler(out);
    server = http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("serves the entry page, pages by name and hashed assets with their types and caching", async () => {
    const root = await get(port, "/");
    expect(root).toMatchObject({ status: 200, body: "<h1>dashboard</h1>" });
    expect(root.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(root.headers["cache-control"]).toBe("no-cache");
    expect((await get(port, "/about")).body).toBe("<h1>about</h1>");
    expect((await get(port, "/docs/")).body).toBe("<h1>docs</h1>");
    expect((await get(port, "/docs")).body).toBe("<h1>docs</h1>");
    const js = await get(port, "/_next/static/chunks/app.js?v=1");
    expect(js).toMatchObject({ status: 200, body: "console.log(1)" });
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(js.headers["content-length"]).toBe("14");
    expect(js.headers["cache-control"]).toContain("immutable");
  });

  it("answers HEAD without a body and refuses other methods", async () => {
    const head = await get(port, "/", "HEAD");
    expect(head).toMatchObject({ status: 200, body: "" });
    expect(head.headers["content-length"]).toBe(String("<h1>dashboard</h1>".length));
    const post = await get(port, "/", "POST");
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
  });

  it("never serves anything outside the export, dotfiles or symlinks out of it", async () => {
    for (const target of ["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/.env", "/link.txt", "/%00", "/%zz", "/nope"]) {
      const r = await get(port, target);
      expect(r.status, target).toBe(404);
      expect(r.body, target).toBe("<h1>missing</h1>");
    }
  });
});
