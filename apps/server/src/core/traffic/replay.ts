/**
 * Replay a recorded request (as recorded, or edited) to the local container or to the original
 * application, and compare the two answers.
 *
 * Neither is reachable from this machine by address: the local container lives on the
 * connection's Docker network (published ports are optional), the original runs in the cluster.
 * - local: a TCP pipe through Cargo — `docker exec -i <cargo> busybox nc <container-ip> <port>`,
 *   Cargo being on that network by construction; the HTTP client runs here, over the exec stream;
 * - original: the API's port-forward to a Ready pod of the bridge's shadow copy (personal bridges
 *   keep the original running there); a global bridge has no original while it is active.
 * Headers Carrier redacted are not sent (their value is gone), hop-by-hop headers neither; a body
 * Carrier cut at its cap is refused unless edited, since sending part of it would be a different
 * request.
 */
import http from "node:http";
import http2 from "node:http2";
import { Duplex, PassThrough } from "node:stream";
import type Docker from "dockerode";
import type * as k8s from "@kubernetes/client-node";
import { SHADOW_LABEL, bridgeGroupId, cargoContainerName, dockerNetworkName, type TrafficBody, type TrafficRecord } from "@gefyra/shared";
import type { BridgeInfo } from "../bridge";
import { connectDocker } from "../connection/docker";
import { GefyraError, describeCause } from "../errors";
import { compareAnswers } from "./diff";
import type { PodDialer } from "./port-forward";
import type { CompareResult, ReplayRequest, ReplayResult, ReplayTarget } from "./types";

export const REPLAY_BODY_CAP = 256 * 1024;
const REDACTED = "[redacted]";
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "content-length", "http2-settings"]);

export interface ReplayDeps {
  /** The API's port-forward (original). */
  dialer: () => Promise<PodDialer>;
  /** The API (to find the shadow's pods). */
  core: () => Promise<k8s.CoreV1Api>;
  docker?: Docker;
  timeoutMs?: number;
}

export interface ReplayInput {
  record: TrafficRecord;
  bridge: BridgeInfo;
  target: ReplayTarget;
  /** Replaces parts of the recorded request. */
  edit?: Partial<ReplayRequest> | undefined;
}

/** The request to send: the recorded one with the edits, and what of the recording is not sent. */
export function requestToSend(record: TrafficRecord, edit?: Partial<ReplayRequest>): { request: ReplayRequest; notSent: ReplayResult["notSent"] } {
  if (record.kind === "tcp") throw new GefyraError("REPLAY_UNSUPPORTED", "a raw TCP connection was recorded as byte counts only: there is no request to replay");
  if (record.kind === "ws") throw new GefyraError("REPLAY_UNSUPPORTED", "a WebSocket was recorded as its upgrade and byte counts, not its messages: there is nothing to replay");
  const notSent: ReplayResult["notSent"] = [];
  const source = edit?.headers ?? (record.request?.headers ?? []).map(([k, v]) => [k, v] as [string, string]);
  const headers: Array<[string, string]> = [];
  for (const [name, value] of source) {
    const lower = name.toLowerCase();
    if (value === REDACTED) notSent.push({ name, reason: "redacted in the record: add it with Edit to send it" });
    else if (HOP_BY_HOP.has(lower)) notSent.push({ name, reason: lower === "content-length" ? "set for the body that is sent" : "belongs to the recorded connection" });
    else headers.push([name, value]);
  }
  let body: ReplayRequest["body"];
  if (edit && "body" in edit) body = edit.body ?? null;
  else {
    const b = record.request?.body;
    if (b?.truncated) {
      throw new GefyraError("REPLAY_BODY_TRUNCATED", `Carrier kept only the first ${b.data.length} of ${b.bytes} body bytes of this request: use Edit to give the whole body, then send it`);
    }
    body = b && b.bytes > 0 ? { encoding: b.encoding, data: b.data } : null;
  }
  return { request: { method: (edit?.method ?? record.method ?? "GET").toUpperCase(), path: edit?.path ?? record.path ?? "/", headers, body }, notSent };
}

/** A TCP connection to host:port from inside a container (exec of busybox nc; Cargo has it). */
export async function execDial(docker: Docker, container: string, host: string, port: number): Promise<Duplex> {
  const exec = await docker.getContainer(container).exec({ Cmd: ["busybox", "nc", "-w", "5", host, String(port)], AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false });
  const stream = (await exec.start({ hijack: true, stdin: true }));
  const out = new PassThrough();
  const err = new PassThrough();
  let errText = "";
  err.on("data", (c: Buffer) => (errText = (errText + c.toString()).slice(0, 500)));
  docker.modem.demuxStream(stream, out, err);
  const duplex = new Duplex({
    write(chunk: Buffer, _e, cb) {
      stream.write(chunk, cb);
    },
    final(cb) {
      // nc shuts its side for writing on end of input and keeps reading the answer
      stream.end();
      cb();
    },
    read() {
      out.resume();
    },
    destroy(error, cb) {
      stream.destroy();
      cb(error);
    },
  });
  out.on("data", (c: Buffer) => {
    if (!duplex.push(c)) out.pause();
  });
  stream.on("end", () => {
    if (errText.trim()) duplex.destroy(new Error(errText.trim()));
    else duplex.push(null);
  });
  stream.on("error", (e: Error) => duplex.destroy(e));
  return duplex;
}

function capture(chunks: Buffer[], total: number): TrafficBody {
  const held = Buffer.concat(chunks);
  const truncated = total > held.length;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(truncated ? held.subarray(0, Math.max(0, held.length - 3)) : held);
    return { bytes: total, truncated, encoding: "utf8", data: text };
  } catch {
    return { bytes: total, truncated, encoding: "base64", data: held.toString("base64") };
  }
}

interface Answer {
  status: number | null;
  statusText: string;
  headers: Array<[string, string]>;
  body: TrafficBody;
  ttfbMs: number | null;
  durationMs: number;
  error?: string;
}

/** Sends an HTTP/1.1 request over an already connected stream. */
function sendHttp1(conn: Duplex, req: ReplayRequest, timeoutMs: number): Promise<Answer> {
  const started = performance.now();
  const body = req.body ? Buffer.from(req.body.data, req.body.encoding) : undefined;
  const flat: string[] = [];
  for (const [k, v] of req.headers) flat.push(k, v);
  if (body && body.length > 0) flat.push("Content-Length", String(body.length));
  flat.push("Connection", "close");
  return new Promise((resolve) => {
    let ttfb: number | null = null;
    let done = false;
    const finish = (a: Omit<Answer, "durationMs">) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      conn.destroy();
      resolve({ ...a, durationMs: performance.now() - started });
    };
    const empty: TrafficBody = { bytes: 0, truncated: false, encoding: "utf8", data: "" };
    const timer = setTimeout(() => finish({ status: null, statusText: "", headers: [], body: empty, ttfbMs: ttfb, error: `no answer within ${timeoutMs / 1000} s` }), timeoutMs);
    const request = http.request({ method: req.method, path: req.path, headers: flat, setHost: false, createConnection: () => conn });
    request.on("response", (res) => {
      ttfb = performance.now() - started;
      const headers: Array<[string, string]> = [];
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
      const chunks: Buffer[] = [];
      let held = 0;
      let total = 0;
      res.on("data", (c: Buffer) => {
        total += c.length;
        if (held < REPLAY_BODY_CAP) {
          const take = c.subarray(0, REPLAY_BODY_CAP - held);
          chunks.push(Buffer.from(take));
          held += take.length;
        }
      });
      const end = (error?: string) => finish({ status: res.statusCode ?? null, statusText: res.statusMessage ?? "", headers, body: capture(chunks, total), ttfbMs: ttfb, ...(error ? { error } : {}) });
      res.on("end", () => end());
      res.on("error", (e) => end(describeCause(e)));
      res.on("aborted", () => end("the answer was cut off"));
    });
    request.on("error", (e) => finish({ status: null, statusText: "", headers: [], body: empty, ttfbMs: ttfb, error: describeCause(e) }));
    request.end(body);
  });
}

/** Sends an HTTP/2 (h2c) request over an already connected stream. */
function sendHttp2(conn: Duplex, req: ReplayRequest, authority: string, timeoutMs: number): Promise<Answer> {
  const started = performance.now();
  const body = req.body ? Buffer.from(req.body.data, req.body.encoding) : undefined;
  return new Promise((resolve) => {
    let ttfb: number | null = null;
    let done = false;
    const empty: TrafficBody = { bytes: 0, truncated: false, encoding: "utf8", data: "" };
    const session = http2.connect(`http://${authority}`, { createConnection: () => conn });
    const finish = (a: Omit<Answer, "durationMs">) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      resolve({ ...a, durationMs: performance.now() - started });
    };
    const timer = setTimeout(() => finish({ status: null, statusText: "", headers: [], body: empty, ttfbMs: ttfb, error: `no answer within ${timeoutMs / 1000} s` }), timeoutMs);
    session.on("error", (e) => finish({ status: null, statusText: "", headers: [], body: empty, ttfbMs: ttfb, error: describeCause(e) }));
    const headers: http2.OutgoingHttpHeaders = { ":method": req.method, ":path": req.path };
    for (const [k, v] of req.headers) {
      const name = k.toLowerCase();
      if (name === "host") headers[":authority"] = v;
      else if (!name.startsWith(":")) headers[name] = headers[name] === undefined ? v : `${String(headers[name])}, ${v}`;
    }
    const stream = session.request(headers);
    const out: Array<[string, string]> = [];
    let status: number | null = null;
    stream.on("response", (h) => {
      ttfb = performance.now() - started;
      status = Number(h[":status"] ?? 0) || null;
      for (const [k, v] of Object.entries(h)) if (!k.startsWith(":") && v !== undefined) for (const x of Array.isArray(v) ? v : [v]) out.push([k, String(x)]);
    });
    stream.on("trailers", (h: http2.IncomingHttpHeaders) => {
      for (const [k, v] of Object.entries(h)) if (v !== undefined) for (const x of Array.isArray(v) ? v : [v]) out.push([k, String(x)]);
    });
    const chunks: Buffer[] = [];
    let held = 0;
    let total = 0;
    stream.on("data", (c: Buffer) => {
      total += c.length;
      if (held < REPLAY_BODY_CAP) {
        const take = c.subarray(0, REPLAY_BODY_CAP - held);
        chunks.push(Buffer.from(take));
        held += take.length;
      }
    });
    stream.on("end", () => finish({ status, statusText: "", headers: out, body: capture(chunks, total), ttfbMs: ttfb }));
    stream.on("error", (e) => finish({ status, statusText: "", headers: out, body: capture(chunks, total), ttfbMs: ttfb, error: describeCause(e) }));
    stream.end(body);
  });
}

/** Where `target` is, as a connected stream, and a description of the way. */
async function connect(input: ReplayInput, deps: ReplayDeps): Promise<{ conn: Duplex; via: string }> {
  const { bridge, record, target } = input;
  const port = bridge.ports.find((p) => p.remote === record.port) ?? bridge.ports[0];
  if (!port) throw new GefyraError("REPLAY_NO_PORT", `bridge ${bridge.name} has no port for ${record.port}`);
  if (target === "local") {
    const docker = await connectDocker(deps.docker);
    const holder = await docker
      .getContainer(`${bridge.local}-gefyra-netns`)
      .inspect()
      .catch(() => undefined);
    const ip = holder?.NetworkSettings.Networks[dockerNetworkName(bridge.connection)]?.IPAddress;
    if (!holder?.State.Running || !ip) {
      throw new GefyraError("LOCAL_NOT_RUNNING", `local container ${bridge.local} is not running on connection ${bridge.connection}'s network: start it again (gefyra run), then replay`);
    }
    const cargo = cargoContainerName(bridge.connection);
    const conn = await execDial(docker, cargo, ip, port.local).catch((e: unknown) => {
      throw new GefyraError("CARGO_UNAVAILABLE", `cannot reach ${bridge.local} through Cargo (${cargo}): ${describeCause(e)}; run gefyra up again`);
    });
    return { conn, via: `${bridge.local} (${ip}:${port.local}) through Cargo` };
  }
  if (!bridge.shadow) {
    throw new GefyraError(
      "NO_ORIGINAL",
      `bridge ${bridge.name} takes all traffic of ${bridge.target.kind}/${bridge.target.name}: every replica runs Carrier, so the original application runs nowhere while it is active; replay to the local container, or bridge with rules (a shadow copy then keeps serving the original)`,
    );
  }
  const group = bridgeGroupId({ namespace: bridge.namespace, kind: bridge.target.kind, name: bridge.target.name, container: bridge.target.container });
  const core = await deps.core();
  const pods = (await core.listNamespacedPod({ namespace: bridge.namespace, labelSelector: `${SHADOW_LABEL}=${group}` })).items.filter(
    (p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  );
  const pod = pods[0]?.metadata?.name;
  if (!pod) throw new GefyraError("NO_ORIGINAL", `the shadow copy ${bridge.shadow} of ${bridge.target.name} has no Ready pod right now: wait a moment and replay again`);
  const dial = await deps.dialer();
  const conn = await dial({ namespace: bridge.namespace, pod, port: record.port });
  return { conn, via: `original: pod ${pod} (shadow copy ${bridge.shadow}) port ${record.port} through the API's port-forward` };
}

/** Sends the recorded (or edited) request once; the answer's failure is a result, not a throw. */
export async function replay(input: ReplayInput, deps: ReplayDeps): Promise<ReplayResult> {
  const { request, notSent } = requestToSend(input.record, input.edit);
  const { conn, via } = await connect(input, deps);
  conn.on("error", () => undefined); // reported through the request
  const host = request.headers.find(([k]) => k.toLowerCase() === "host")?.[1] ?? `${input.bridge.target.name}:${input.record.port}`;
  const timeoutMs = deps.timeoutMs ?? 15_000;
  const answer = input.record.kind === "h2" ? await sendHttp2(conn, request, host, timeoutMs) : await sendHttp1(conn, request, timeoutMs);
  return { target: input.target, via, request, notSent, ...answer };
}

/** The same request to the local container and to the original, at once, and what differs. */
export async function compare(input: Omit<ReplayInput, "target">, deps: ReplayDeps): Promise<CompareResult> {
  const [local, original] = await Promise.all([replay({ ...input, target: "local" }, deps), replay({ ...input, target: "original" }, deps)]);
  return compareAnswers(local, original);
}
