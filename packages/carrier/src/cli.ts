/**
 * `carrier apply`, `carrier status` and `carrier probe`: run in the container through the exec API
 * (the operator, kubectl exec, an exec probe) and talk to the container's Carrier over the local
 * socket (local.ts).
 *
 * Exit codes: 0 done; 1 Carrier refused (nothing changed) or, for probe, Carrier is not serving;
 * 2 bad input or usage; 3 no Carrier answers in this container. Every failure is one line on stderr
 * that names the problem and the fix; stdout gets one JSON line on success.
 */
import http from "node:http";
import { CarrierNotRunning, localAddress, localRequest, MAX_LOCAL_MESSAGE, type LocalAddress, type LocalAnswer } from "./local";

export interface CliIO {
  /** stdin's whole text (apply), or undefined when stdin is a terminal. */
  readStdin(): Promise<string | undefined>;
  out(line: string): void;
  err(line: string): void;
  address?: LocalAddress;
}

export const EXIT = { ok: 0, refused: 1, usage: 2, notRunning: 3 } as const;

const APPLY_SHAPE = '{"config": {"listen": {"ports": [8080]}, "routes": {…}}, "token": "<16+ characters>"}';

export async function applyCommand(io: CliIO): Promise<number> {
  const text = await io.readStdin();
  if (text === undefined || text.trim() === "") {
    io.err(`carrier apply: BAD_INPUT: nothing on stdin; pipe one JSON document ${APPLY_SHAPE}`);
    return EXIT.usage;
  }
  if (Buffer.byteLength(text) > MAX_LOCAL_MESSAGE - 1024) {
    io.err(`carrier apply: BAD_INPUT: stdin holds more than ${MAX_LOCAL_MESSAGE - 1024} bytes; a route table may have at most 1 MiB`);
    return EXIT.usage;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text) as unknown;
  } catch (e) {
    io.err(`carrier apply: BAD_INPUT: stdin is not one JSON document (${oneLine((e as Error).message)}); send ${APPLY_SHAPE}`);
    return EXIT.usage;
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc) || !("config" in doc) || !("token" in doc)) {
    io.err(`carrier apply: BAD_INPUT: stdin must be an object with "config" and "token"; send ${APPLY_SHAPE}`);
    return EXIT.usage;
  }
  const answer = await ask(io, "apply", { op: "apply", ...doc, config: doc.config, token: doc.token });
  if (typeof answer === "number") return answer;
  if (!answer.ok) {
    io.err(`carrier apply: ${answer.error.code}: ${oneLine(answer.error.message)}`);
    return answer.error.code === "BAD_INPUT" || answer.error.code === "BAD_REQUEST" ? EXIT.usage : EXIT.refused;
  }
  const r = answer.result as { revision: number; ports: number[] };
  io.out(JSON.stringify({ revision: r.revision, ports: r.ports }));
  return EXIT.ok;
}

export async function statusCommand(io: CliIO): Promise<number> {
  const answer = await ask(io, "status", { op: "status" });
  if (typeof answer === "number") return answer;
  if (!answer.ok) {
    io.err(`carrier status: ${answer.error.code}: ${oneLine(answer.error.message)}`);
    return EXIT.refused;
  }
  io.out(JSON.stringify(answer.result));
  return EXIT.ok;
}

/** Start draining (decision 0027): the readiness probe fails from now on; prints the drain state. */
export async function drainCommand(io: CliIO): Promise<number> {
  const answer = await ask(io, "drain", { op: "drain" });
  if (typeof answer === "number") return answer;
  if (!answer.ok) {
    io.err(`carrier drain: ${answer.error.code}: ${oneLine(answer.error.message)}`);
    return EXIT.refused;
  }
  io.out(JSON.stringify(answer.result));
  return EXIT.ok;
}

/**
 * Exit 0 when this container's Carrier is configured and its control port answers GET /healthz.
 * Standby (not configured yet) is exit 1: nothing listens on the workload's ports yet, so the
 * container is not ready; the operator configures it within about a second of its start. When the
 * local socket does not answer (a Carrier from the environment that went without it),
 * `fallbackPort` — the control port of the environment's configuration — is asked directly.
 */
export async function probeCommand(io: CliIO, fallbackPort: () => number): Promise<number> {
  let port: number;
  try {
    const answer = await localRequest({ op: "status" }, io.address ?? localAddress());
    const s = answer.ok ? (answer.result as { configured?: boolean; controlPort?: number | null }) : undefined;
    if (!s?.configured || !s.controlPort) {
      io.err("carrier probe: Carrier is in standby (not configured yet): the operator applies its configuration within about a second of the container's start (carrier status shows it)");
      return EXIT.refused;
    }
    port = s.controlPort;
  } catch (e) {
    if (!(e instanceof CarrierNotRunning)) throw e;
    port = fallbackPort();
  }
  const ok = await new Promise<boolean>((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/healthz", timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(false));
  });
  if (!ok) io.err(`carrier probe: Carrier's control port ${port} does not answer GET /healthz; see the container's log`);
  return ok ? EXIT.ok : EXIT.refused;
}

async function ask(io: CliIO, what: string, request: Parameters<typeof localRequest>[0]): Promise<LocalAnswer | number> {
  try {
    return await localRequest(request, io.address ?? localAddress());
  } catch (e) {
    if (!(e instanceof CarrierNotRunning)) throw e;
    io.err(
      `carrier ${what}: CARRIER_NOT_RUNNING: no Carrier answers in this container (tried ${e.tried.join(" and ")}: ${oneLine(e.message)}); ` +
        "it is still starting (retry in a second), or the container's main process is not Carrier (its image or command is another; see the container's log)",
    );
    return EXIT.notRunning;
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ").trim();
}
