/**
 * The local socket between Carrier (the container's main process) and `carrier apply|status|probe`
 * run in the same container through the Kubernetes exec API.
 *
 * Where: a Unix socket /tmp/gefyra-carrier-<key>.sock, mode 0600 (only the container's own user;
 * exec runs as that user), or — when /tmp cannot take it (readOnlyRootFilesystem) — the abstract
 * socket @gefyra-carrier-<key>. <key> is the device number of the container's root filesystem:
 * every container has its own root mount, so two Carriers of one pod (which share the network
 * namespace, and so abstract names, and may share /tmp through an emptyDir) never meet, while every
 * process of one container computes the same key. CARRIER_SOCKET=<path> overrides the path (tests,
 * several Carriers on one host); the abstract fallback then derives from that path.
 *
 * Protocol: one JSON line each way per connection: `{"op":"apply","config","token"}` or
 * `{"op":"status"}` → `{"ok":true,"result":…}` | `{"ok":false,"error":{"code","message"}}`.
 */
import { createHash } from "node:crypto";
import { chmodSync, statSync, unlinkSync } from "node:fs";
import net from "node:net";

/** An apply document holds a route table of up to 1 MiB (the control API's limit) and the rest of the config. */
export const MAX_LOCAL_MESSAGE = 4 * 1024 * 1024;
const ANSWER_TIMEOUT_MS = 10_000;

export interface LocalAddress {
  /** The filesystem socket tried first. */
  path: string;
  /** The abstract socket (leading NUL) used when the path cannot be bound. */
  abstract: string;
}

export function localAddress(env: NodeJS.ProcessEnv = process.env): LocalAddress {
  const override = env.CARRIER_SOCKET;
  if (override) return { path: override, abstract: `\0gefyra-carrier-${createHash("sha256").update(override).digest("hex").slice(0, 16)}` };
  let key = "0";
  try {
    key = statSync("/").dev.toString(16);
  } catch {
    // no stat of / (never seen); one name per host then
  }
  return { path: `/tmp/gefyra-carrier-${key}.sock`, abstract: `\0gefyra-carrier-${key}` };
}

/** How an address is shown in logs, status and errors: abstract names with a leading @ (as ss and /proc/net/unix show them). */
export function shownAddress(a: string): string {
  return a.startsWith("\0") ? `@${a.slice(1)}` : a;
}

export type LocalRequest = { op: "status" } | { op: "drain" } | { op: "apply"; config: unknown; token: unknown };
export type LocalAnswer = { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } };
export type LocalHandler = (request: unknown) => Promise<LocalAnswer>;

export class LocalSocketInUse extends Error {
  override readonly name = "LocalSocketInUse";
}

export interface LocalServer {
  /** The address bound (shown form). */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Bind the local socket: the path, else (read-only or missing /tmp) the abstract name. A stale
 * socket file (its Carrier died) is replaced; a live one means another Carrier runs in this
 * container: LocalSocketInUse.
 */
export async function serveLocal(handler: LocalHandler, addr: LocalAddress = localAddress()): Promise<LocalServer> {
  const server = net.createServer((socket) => serveConnection(socket, handler));
  let bound: string;
  try {
    await bindPath(server, addr.path);
    bound = addr.path;
  } catch (e) {
    if (e instanceof LocalSocketInUse) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (!code || !["EROFS", "EACCES", "EPERM", "ENOENT", "ENOTDIR", "ENAMETOOLONG"].includes(code)) throw e;
    try {
      await listen(server, addr.abstract);
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === "EADDRINUSE") throw new LocalSocketInUse(`another Carrier already runs in this container (it holds ${shownAddress(addr.abstract)})`);
      throw e2;
    }
    bound = addr.abstract;
  }
  const shown = shownAddress(bound);
  return {
    address: shown,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // node removes the socket file on close; an abstract name has none
      }),
  };
}

async function bindPath(server: net.Server, path: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    // umask instead of a chmod after listen: the socket is never reachable by others, not even
    // briefly (worker threads cannot set a umask: there the chmod below is all there is)
    let old: number | undefined;
    try {
      old = process.umask(0o177);
    } catch {
      old = undefined;
    }
    try {
      await listen(server, path);
      try {
        chmodSync(path, 0o600);
      } catch {
        // the umask made it 0600 already
      }
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt > 0) throw e;
      if (await answers(path)) throw new LocalSocketInUse(`another Carrier already runs in this container (it answers on ${path})`);
      unlinkSync(path);
    } finally {
      if (old !== undefined) process.umask(old);
    }
  }
}

function listen(server: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once("error", onError);
    server.listen(path, () => {
      server.removeListener("error", onError);
      resolve();
    });
  });
}

/** Whether something accepts connections on a socket path (a stale file refuses them). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function serveConnection(socket: net.Socket, handler: LocalHandler): void {
  socket.setTimeout(ANSWER_TIMEOUT_MS, () => socket.destroy());
  socket.on("error", () => {});
  readLine(socket).then(
    async (line) => {
      let answer: LocalAnswer;
      if (line === undefined) {
        answer = { ok: false, error: { code: "BAD_REQUEST", message: `the request is larger than ${MAX_LOCAL_MESSAGE} bytes or incomplete` } };
      } else {
        let request: unknown;
        try {
          request = JSON.parse(line) as unknown;
          answer = await handler(request);
        } catch (e) {
          answer = { ok: false, error: { code: "BAD_REQUEST", message: `the request is not JSON: ${(e as Error).message}` } };
        }
      }
      socket.end(`${JSON.stringify(answer)}\n`);
    },
    () => socket.destroy(),
  );
}

/** The first line (without the newline), or undefined when the peer ends first or sends too much. */
function readLine(socket: net.Socket): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      const nl = c.indexOf(10);
      if (nl >= 0) {
        chunks.push(c.subarray(0, nl));
        done(Buffer.concat(chunks).toString("utf8"));
        return;
      }
      size += c.length;
      chunks.push(c);
      if (size > MAX_LOCAL_MESSAGE) done(undefined);
    };
    const onEnd = () => done(size > 0 && size <= MAX_LOCAL_MESSAGE ? Buffer.concat(chunks).toString("utf8") : undefined);
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      socket.removeListener("data", onData);
      socket.removeListener("end", onEnd);
      socket.removeListener("error", onError);
    };
    const done = (v: string | undefined) => {
      cleanup();
      resolve(v);
    };
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("error", onError);
  });
}

export class CarrierNotRunning extends Error {
  override readonly name = "CarrierNotRunning";
  constructor(readonly tried: string[], reason: string) {
    super(reason);
  }
}

/**
 * Send one request to this container's Carrier: the path first, then the abstract name. Throws
 * CarrierNotRunning when neither answers (within 10 s).
 */
export async function localRequest(request: LocalRequest, addr: LocalAddress = localAddress()): Promise<LocalAnswer> {
  const tried = [addr.path, shownAddress(addr.abstract)];
  let lastReason = "";
  for (const target of [addr.path, addr.abstract]) {
    let socket: net.Socket;
    try {
      socket = await connect(target);
    } catch (e) {
      lastReason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      continue;
    }
    return exchange(socket, request, tried);
  }
  throw new CarrierNotRunning(tried, lastReason);
}

function connect(target: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(target);
    s.once("connect", () => {
      s.removeListener("error", reject);
      resolve(s);
    });
    s.once("error", reject);
  });
}

function exchange(socket: net.Socket, request: LocalRequest, tried: string[]): Promise<LocalAnswer> {
  return new Promise((resolve, reject) => {
    socket.setTimeout(ANSWER_TIMEOUT_MS, () => socket.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s`)));
    readLine(socket).then(
      (line) => {
        socket.destroy();
        if (line === undefined) return reject(new CarrierNotRunning(tried, "Carrier closed the connection without an answer"));
        try {
          resolve(JSON.parse(line) as LocalAnswer);
        } catch {
          reject(new CarrierNotRunning(tried, "the answer is not JSON"));
        }
      },
      (e: Error) => reject(new CarrierNotRunning(tried, e.message)),
    );
    socket.write(`${JSON.stringify(request)}\n`);
  });
}
