/**
 * TCP to a pod's port through the Kubernetes API's port-forward (decision 0023).
 *
 * The machine running the CLI or the dashboard cannot route to pod addresses (only containers on
 * the connection's Docker network can, through Cargo), but it can always reach the API server.
 * `openPodStream` is one TCP connection to `pod:port` as a Node Duplex, carried by one
 * port-forward WebSocket (channel protocol v4: byte 0 of every frame is the channel, 0 data and
 * 1 error; the first frame of each channel starts with the port as two bytes). `forwardPodPort`
 * listens on an ephemeral 127.0.0.1 port and opens one such stream per accepted connection, for
 * clients that want a URL (the records WebSocket, replays).
 *
 * client-node's PortForward does the same, but leaves the local socket open when the pod side
 * closes or reports an error (a Carrier that is not listening yet), and writes without regard for
 * back-pressure; both matter for a stream that runs for hours.
 */
import net from "node:net";
import { Duplex } from "node:stream";
import type * as k8s from "@kubernetes/client-node";
import WebSocket from "ws";
import { GefyraError } from "../errors";

const DATA = 0;
const ERROR = 1;
/** Above this many unsent bytes on the API WebSocket, the local side is paused. */
const HIGH_WATER = 1 << 20;

export interface PodTarget {
  namespace: string;
  pod: string;
  port: number;
}

/** How a stream to a pod port is opened; tests pass a fake that connects to a local server. */
export type PodDialer = (target: PodTarget, signal?: AbortSignal) => Promise<Duplex>;

/** One TCP connection to `pod:port` through the API server. Rejects when the API refuses the upgrade. */
export async function openPodStream(kc: k8s.KubeConfig, target: PodTarget, signal?: AbortSignal): Promise<Duplex> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new GefyraError("KUBECONFIG_INVALID", "the kubeconfig names no cluster for the current context: pick a context (--context)");
  const opts: WebSocket.ClientOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const url = `${cluster.server.replace(/^http/, "ws").replace(/\/+$/, "")}/api/v1/namespaces/${encodeURIComponent(target.namespace)}/pods/${encodeURIComponent(target.pod)}/portforward?ports=${target.port}`;
  const ws = new WebSocket(url, ["v4.channel.k8s.io"], { ...opts, handshakeTimeout: 10_000 });
  const where = `${target.namespace}/${target.pod}:${target.port}`;

  // the handlers go on before the upgrade completes: the port frames can arrive in the same read
  // as the upgrade response, and a listener added after `open` would miss them
  const seenPort = [false, false];
  let errorText = "";
  const duplex = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      if (ws.readyState !== WebSocket.OPEN) return callback(new Error(`port-forward to ${where} is closed`));
      const frame = Buffer.allocUnsafe(chunk.length + 1);
      frame[0] = DATA;
      chunk.copy(frame, 1);
      ws.send(frame, { binary: true }, (e) => {
        if (e) return callback(e);
        // wait while the API connection is congested: the local writer slows down with it
        if (ws.bufferedAmount < HIGH_WATER) return callback();
        const wait = setInterval(() => {
          if (ws.bufferedAmount < HIGH_WATER || ws.readyState !== WebSocket.OPEN) {
            clearInterval(wait);
            callback();
          }
        }, 10);
      });
    },
    final(callback) {
      // the v4 port-forward protocol has no half-close: the connection ends when either side closes
      callback();
    },
    read() {
      if (ws.isPaused) ws.resume();
    },
    destroy(error, callback) {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
      callback(error);
    },
  });
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (!isBinary || data.length === 0) return;
    const channel = data[0]!;
    let payload = data.subarray(1);
    if (channel === DATA || channel === ERROR) {
      if (!seenPort[channel]) {
        seenPort[channel] = true;
        payload = payload.subarray(2);
      }
    }
    if (payload.length === 0) return;
    if (channel === DATA) {
      if (!duplex.push(Buffer.from(payload))) ws.pause();
    } else if (channel === ERROR) {
      errorText = (errorText + payload.toString("utf8")).slice(0, 2000);
    }
  });
  // before the caller has the stream (and an error listener on it), failures only reject the open
  let opened = false;
  ws.on("close", () => {
    if (!opened) duplex.destroy();
    else if (errorText) duplex.destroy(new GefyraError("PORT_FORWARD_FAILED", `port-forward to ${where}: ${shortReason(errorText, target.port)}`));
    else duplex.push(null);
  });
  ws.on("error", (e) => duplex.destroy(opened ? e : undefined));
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      ws.terminate();
      reject(new GefyraError("ABORTED", `port-forward to ${where} cancelled`));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    ws.once("open", () => {
      signal?.removeEventListener("abort", onAbort);
      opened = true;
      resolve();
    });
    ws.once("unexpected-response", (_req, res) => {
      signal?.removeEventListener("abort", onAbort);
      const status = res.statusCode ?? 0;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body = (body + c).slice(0, 2000)));
      res.on("end", () => {
        let message = body;
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? body;
        } catch {
          // not a Status object
        }
        const code = status === 403 ? "RBAC_FORBIDDEN" : status === 404 ? "POD_NOT_FOUND" : "PORT_FORWARD_FAILED";
        const fix = status === 403 ? "ask for the right to create pods/portforward in that namespace" : status === 404 ? "the pod is gone (a rollout?)" : "check the pod and the API server";
        reject(new GefyraError(code, `port-forward to ${where} was refused (HTTP ${status}: ${message.trim() || "no reason given"}): ${fix}`));
      });
    });
    ws.once("error", (e) => {
      signal?.removeEventListener("abort", onAbort);
      reject(new GefyraError("PORT_FORWARD_FAILED", `port-forward to ${where} failed: ${e.message}`));
    });
  });

  return duplex;
}

/** The kubelet's error is a paragraph with sandbox ids and namespace paths; the cause is at its end. */
function shortReason(text: string, port: number): string {
  if (/connection refused/.test(text)) return `nothing listens on port ${port} in the pod (connection refused)`;
  const m = /:\s*([^:]+)$/.exec(text.trim());
  return (m?.[1] ?? text).trim().slice(0, 300);
}

export interface PortForwarder {
  /** 127.0.0.1 port that leads to the pod's port. */
  readonly port: number;
  readonly url: string;
  /** Cuts every connection made through it so far (clients reconnect; a test forces this). */
  dropConnections(): void;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:<ephemeral>; every accepted connection becomes a stream to the pod's port. */
export async function forwardPodPort(dial: PodDialer, target: PodTarget): Promise<PortForwarder> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.pause();
    const controller = new AbortController();
    socket.once("close", () => controller.abort());
    dial(target, controller.signal).then(
      (remote) => {
        if (socket.destroyed) return remote.destroy();
        socket.pipe(remote);
        remote.pipe(socket);
        remote.on("error", () => socket.destroy());
        remote.once("close", () => socket.destroy());
        socket.once("close", () => remote.destroy());
        socket.resume();
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The dialer for a kubeconfig. */
export function apiDialer(kc: k8s.KubeConfig): PodDialer {
  return (target, signal) => openPodStream(kc, target, signal);
}
