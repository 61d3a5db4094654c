/**
 * The dashboard's production build as files: `next build` writes a static export to
 * apps/web/out (the dashboard is one client-rendered page; decision 0029), and this handler serves
 * it. Running Next in the server's process for that cost ~45 MB of RSS and the GC work of tracing
 * Next's modules on every major collection, for a page that is rendered once at build time.
 *
 * Only GET and HEAD; paths are resolved inside the export (no `..`, no symlinks out, no dotfiles);
 * `/x` finds `x.html` or `x/index.html`; a miss answers the export's 404.html with status 404.
 * Hashed assets under /_next/static/ are cached for a year, everything else is revalidated.
 */
import fs from "node:fs";
import type http from "node:http";
import path from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
};

export type StaticHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** The export's entry page; its absence means the dashboard was never built. */
export function exportIndex(dir: string): string {
  return path.join(dir, "index.html");
}

export function createStaticHandler(dir: string): StaticHandler {
  const root = fs.realpathSync(dir);

  /** A regular file inside root for this URL path (with its size), or undefined. */
  function resolve(pathname: string): { file: string; size: number } | undefined {
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      return undefined;
    }
    if (decoded.includes("\0") || decoded.split("/").some((part) => part.startsWith("."))) return undefined;
    const base = path.join(root, path.normalize(decoded));
    const candidates = decoded.endsWith("/") ? [path.join(base, "index.html")] : [base, `${base}.html`, path.join(base, "index.html")];
    for (const candidate of candidates) {
      try {
        const real = fs.realpathSync(candidate);
        if (!real.startsWith(root + path.sep)) continue;
        const stat = fs.statSync(real);
        if (stat.isFile()) return { file: real, size: stat.size };
      } catch {
        // not there: the next candidate
      }
    }
    return undefined;
  }

  function send(req: http.IncomingMessage, res: http.ServerResponse, { file, size }: { file: string; size: number }, status: number, cache: string): void {
    res.writeHead(status, {
      "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream",
      "Content-Length": size,
      "Cache-Control": cache,
    });
    if (req.method === "HEAD") return void res.end();
    const stream = fs.createReadStream(file);
    stream.on("error", () => res.destroy());
    stream.pipe(res);
  }

  return (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" }).end("Only GET and HEAD are served here.\n");
      return;
    }
    const pathname = new URL(req.url ?? "/", "http://x").pathname;
    const found = resolve(pathname);
    if (found) return send(req, res, found, 200, pathname.startsWith("/_next/static/") ? "public, max-age=31536000, immutable" : "no-cache");
    const notFound = resolve("/404.html");
    if (notFound) return send(req, res, notFound, 404, "no-cache");
    res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("Not found.\n");
  };
}
