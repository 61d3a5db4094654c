/**
 * One Node HTTP server on loopback that serves the dashboard (the static export of the Next.js
 * app, or Next's dev server with --dev), tRPC over HTTP at /api/trpc and tRPC subscriptions over
 * WebSocket on the same port and path.
 * Every request passes the checks in ./security before reaching the dashboard or tRPC.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Duplex } from "node:stream";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import { applyWSSHandler } from "@trpc/server/adapters/ws";
import { WebSocketServer, type WebSocket } from "ws";
import type { KubeconfigOptions } from "../core/contexts";
import { GefyraError, describeCause } from "../core/errors";
import { openStore, type Store } from "../store";
import { startRetention } from "../store/retention";
import { closeSharedHubs, resumeRecording } from "../core/traffic";
import { appRouter, createContextFactory, type ServerDeps } from "../trpc";
import {
  allowedHosts,
  authenticate,
  createAccessToken,
  crossSiteMutation,
  hostAllowed,
  isLoopbackHost,
  originAllowed,
  sameToken,
  tokenCookie,
} from "./security";
import { createStaticHandler, exportIndex } from "./static-files";

export const DEFAULT_PORT = 7240;
/** How many ports after the default we try when the user did not ask for a specific one. */
const PORT_FALLBACK_TRIES = 20;
export const TRPC_PATH = "/api/trpc";
/** WebSocket close code sent at shutdown: 1012 "service restart" tells clients to reconnect. */
export const WS_CLOSE_RESTART = 1012;
/** The close reason with it; the dashboard shows "server restarting" and reconnects (apps/web/lib/live.ts). */
export const WS_CLOSE_RESTART_REASON = "server restarting";

const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..", "..", "..");
export const WEB_DIR = path.join(REPO_ROOT, "apps", "web");
/** Where `next build` writes the dashboard's static export (apps/web/next.config.ts). */
export const WEB_EXPORT_DIR = path.join(WEB_DIR, "out");

export interface StartServerOptions {
  /** A specific port (fails if taken). Omitted: 7240, or the next free port after it. 0: any free port. */
  port?: number;
  /** Bind address; default 127.0.0.1. Anything but loopback prints a warning. */
  host?: string;
  /** Store directory (default GEFYRA_DATA_DIR or $XDG_DATA_HOME/gefyra-ts). */
  dataDir?: string;
  /** Next.js dev mode (hot reload) instead of the production build. Default false. */
  dev?: boolean;
  /** Serve the Next.js dashboard. Default true; tests of the API pass false. */
  web?: boolean;
  /** Fixed access token (tests); default a fresh random one. */
  token?: string;
  /** Where kubeconfig files are looked up (tests point this at temp files). */
  kube?: KubeconfigOptions;
  /** Diagnostics (warnings, errors); default stderr. */
  log?: (line: string) => void;
}

export interface RunningServer {
  /** http://127.0.0.1:PORT/?token=TOKEN */
  url: string;
  /** http://127.0.0.1:PORT */
  origin: string;
  port: number;
  host: string;
  token: string;
  store: Store;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const token = options.token ?? createAccessToken();
  const web = options.web ?? true;
  const dev = options.dev ?? false;

  if (web && !dev && !fs.existsSync(exportIndex(WEB_EXPORT_DIR))) {
    throw new GefyraError("WEB_NOT_BUILT", `The dashboard has no production build in ${WEB_EXPORT_DIR}: run npm start (it builds first) or npm run build -w apps/web.`);
  }

  const store = await openStore(options.dataDir === undefined ? {} : { dataDir: options.dataDir });
  const deps: ServerDeps = { store, version: readVersion(), startedAt: Date.now(), kube: options.kube ?? {} };

  const trpcHandler = createHTTPHandler({
    router: appRouter,
    basePath: `${TRPC_PATH}/`,
    createContext: createContextFactory(deps, "http"),
    onError: ({ error, path: procedure }) => {
      if (error.code === "INTERNAL_SERVER_ERROR" && !(error.cause instanceof GefyraError)) log(`tRPC ${procedure ?? "?"} failed: ${describeCause(error.cause ?? error)}`);
    },
  });

  // production: files from the export, ready at once; --dev: Next's dev server, once prepared
  const staticHandler = web && !dev ? createStaticHandler(WEB_EXPORT_DIR) : null;
  let nextHandler: ((req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>) | null = null;
  let nextUpgrade: ((req: http.IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>) | null = null;
  let port = 0;
  let allowed = new Set<string>();
  // set when shutdown begins: nothing new is let in while the old connections are closed
  let shuttingDown = false;

  const server = http.createServer((req, res) => {
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "no-referrer");
    res.setHeader("X-Frame-Options", "DENY");
    if (!hostAllowed(req, allowed)) return deny(res, 403, `Host ${req.headers.host ?? "(none)"} is not allowed: open http://127.0.0.1:${port}/ instead.`);
    if (shuttingDown) {
      res.setHeader("Connection", "close");
      return deny(res, 503, "gefyra-ts is shutting down; reload once it has started again.");
    }
    const url = new URL(req.url ?? "/", `http://127.0.0.1:${port}`);

    const offered = url.searchParams.get("token");
    if (offered !== null && (req.method === "GET" || req.method === "HEAD")) {
      if (!sameToken(offered, token)) return deny(res, 401, "This access token is not valid: open the URL that gefyra-ts printed when it started.");
      url.searchParams.delete("token");
      res.writeHead(303, { "Set-Cookie": tokenCookie(port, token), Location: `${url.pathname}${url.search}`, "Cache-Control": "no-store" });
      res.end();
      return;
    }
    if (!authenticate(req, port, token)) {
      return deny(res, 401, "Not signed in: open the URL with ?token= that gefyra-ts printed when it started (or send Authorization: Bearer TOKEN).");
    }
    if (crossSiteMutation(req, allowed)) return deny(res, 403, "Cross-site request refused.");

    if (url.pathname === TRPC_PATH || url.pathname.startsWith(`${TRPC_PATH}/`)) {
      trpcHandler(req, res);
      return;
    }
    if (staticHandler) return staticHandler(req, res);
    if (!nextHandler) return deny(res, web ? 503 : 404, web ? "The dashboard is starting; reload in a moment." : "Not found.");
    nextHandler(req, res).catch((error: unknown) => {
      log(`dashboard request ${url.pathname} failed: ${describeCause(error)}`);
      if (!res.headersSent) deny(res, 500, "The dashboard failed to render this page; see the server log.");
      else res.destroy();
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const wssHandler = applyWSSHandler({
    wss,
    router: appRouter,
    createContext: createContextFactory(deps, "ws"),
    keepAlive: { enabled: true, pingMs: 30_000, pongWaitMs: 5_000 },
  });

  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    // a client that reconnects at once (the reconnect notification) must not slip in during shutdown
    if (shuttingDown) return refuseUpgrade(socket, 503, "Server restarting");
    if (!hostAllowed(req, allowed)) return refuseUpgrade(socket, 403, "Host not allowed");
    const method = authenticate(req, port, token);
    if (!method) return refuseUpgrade(socket, 401, "Not signed in");
    const origin = req.headers.origin;
    // Browsers always send Origin on WebSocket upgrades; only Bearer-authenticated scripts may omit it.
    if (origin === undefined ? method !== "bearer" : !originAllowed(origin, allowed)) return refuseUpgrade(socket, 403, "Cross-origin WebSocket refused");
    const pathname = new URL(req.url ?? "/", "http://x").pathname;
    if (pathname === TRPC_PATH) {
      wss.handleUpgrade(req, socket, head, (ws: WebSocket) => wss.emit("connection", ws, req));
      return;
    }
    if (nextUpgrade) {
      nextUpgrade(req, socket, head).catch(() => socket.destroy());
      return;
    }
    refuseUpgrade(socket, 404, "Not found");
  });

  try {
    port = await listen(server, host, options.port);
  } catch (error) {
    wssHandler.broadcastReconnectNotification();
    wss.close();
    await store.close();
    throw error;
  }
  allowed = allowedHosts(port, host);
  // history retention (14 days / 200 MB by default) runs in the background of the dashboard's process
  const retention = startRetention(store, { log });
  deps.retention = retention;
  // bridges that were being recorded before a restart keep being recorded (their feeds resume from the store's cursors)
  void resumeRecording({ store, kube: deps.kube, nudge: () => retention.nudge(), log }).catch((error: unknown) => log(`traffic: cannot resume recording bridges (${describeCause(error)})`));
  if (!isLoopbackHost(host)) {
    log(`WARNING: gefyra-ts listens on ${host}:${port}, not only on this machine. Anyone who can reach it and has the token controls your clusters.`);
  }

  if (web && dev) {
    try {
      const { default: next } = await import("next");
      const app = next({ dev: true, dir: WEB_DIR, hostname: "127.0.0.1", port, customServer: true, httpServer: server });
      await app.prepare();
      nextHandler = app.getRequestHandler();
      nextUpgrade = app.getUpgradeHandler();
    } catch (cause) {
      await closeAll();
      throw new GefyraError("WEB_START_FAILED", `The dashboard's dev server failed to start (${describeCause(cause)}): run npm run dev -w apps/web to see the whole error.`, { cause });
    }
  }

  let closing: Promise<void> | null = null;
  async function closeAll(): Promise<void> {
    shuttingDown = true;
    wssHandler.broadcastReconnectNotification();
    for (const client of wss.clients) client.close(WS_CLOSE_RESTART, WS_CLOSE_RESTART_REASON);
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => {
        for (const client of wss.clients) client.terminate();
        server.closeAllConnections();
      }, 2000).unref();
    });
    wss.close();
    // Not nextApp.close(): in Next 16 it awaits a waitUntil awaiter that module-level caches keep,
    // so a second Next server in the same process (tests) then fails every page with 500
    // ("Cannot call waitUntil() on an AwaiterOnce that was already awaited"). We use no after().
    nextHandler = null;
    nextUpgrade = null;
    await closeSharedHubs(store);
    await retention.stop();
    await store.close();
  }
  const close = (): Promise<void> => (closing ??= closeAll());

  const origin = `http://${host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host}:${port}`;
  return { url: `${origin}/?token=${token}`, origin, port, host, token, store, close, [Symbol.asyncDispose]: close };
}

async function listen(server: http.Server, host: string, requested: number | undefined): Promise<number> {
  const candidates = requested === undefined ? Array.from({ length: PORT_FALLBACK_TRIES }, (_, i) => DEFAULT_PORT + i) : [requested];
  for (const candidate of candidates) {
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error): void => {
          server.off("listening", onListening);
          reject(error);
        };
        const onListening = (): void => {
          server.off("error", onError);
          resolve();
        };
        server.once("error", onError);
        server.once("listening", onListening);
        server.listen(candidate, host);
      });
      return (server.address() as AddressInfo).port;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "EADDRINUSE" && requested === undefined && candidate !== candidates.at(-1)) continue;
      if (code === "EADDRINUSE") {
        throw new GefyraError(
          "PORT_IN_USE",
          requested === undefined
            ? `Ports ${DEFAULT_PORT}-${DEFAULT_PORT + PORT_FALLBACK_TRIES - 1} on ${host} are all in use: stop another gefyra-ts or pass --port N.`
            : `Port ${requested} on ${host} is already in use (another gefyra-ts?): stop that process, or pass another --port / GEFYRA_PORT.`,
          { cause: error },
        );
      }
      if (code === "EADDRNOTAVAIL" || code === "EACCES") {
        throw new GefyraError("LISTEN_FAILED", `Cannot listen on ${host}:${candidate} (${code}): pass a --host this machine owns, or another --port.`, { cause: error });
      }
      throw error;
    }
  }
  throw new Error("unreachable");
}

function deny(res: http.ServerResponse, status: number, message: string): void {
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" });
  res.end(`${message}\n`);
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length + 1}\r\n\r\n${reason}\n`);
}

function readVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { version?: string }).version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}
