/** Small helpers around @kubernetes/client-node 1.x: error classification, exec. */
import { Readable, Writable } from "node:stream";
import * as k8s from "@kubernetes/client-node";

export function statusCode(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === "number") return e.code;
  if (typeof e?.statusCode === "number") return e.statusCode;
  return undefined;
}
export const isNotFound = (e: unknown): boolean => statusCode(e) === 404;
export const isConflict = (e: unknown): boolean => statusCode(e) === 409;

export function errorText(error: unknown): string {
  const e = error as { body?: unknown; message?: unknown } | null;
  if (e && typeof e.body === "string") {
    try {
      const parsed = JSON.parse(e.body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      /* not JSON */
    }
  }
  if (e && typeof e.body === "object" && e.body && "message" in e.body) return String((e.body).message);
  if (error instanceof Error) return error.message;
  if (e && typeof e.message === "string") return e.message;
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}

/** Runs a command in a container; resolves with stdout, rejects with stderr on a non-zero exit. */
export function execIn(kc: k8s.KubeConfig, namespace: string, pod: string, container: string, command: string[], timeoutMs = 15_000, stdin?: string): Promise<string> {
  let stdout = "";
  let stderr = "";
  const out = new Writable({ write: (c: Buffer, _e, cb) => ((stdout += c.toString()), cb()) });
  const err = new Writable({ write: (c: Buffer, _e, cb) => ((stderr += c.toString()), cb()) });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec ${command.join(" ")} in ${pod} timed out`)), timeoutMs);
    new k8s.Exec(kc)
      .exec(namespace, pod, container, command, out, err, stdin === undefined ? null : Readable.from([Buffer.from(stdin)]), false, (status) => {
        clearTimeout(timer);
        if (status.status === "Success") resolve(stdout);
        else reject(new Error(`exec ${command.join(" ")} in ${pod} failed: ${status.message ?? ""} ${stderr}`.trim()));
      })
      .catch((e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(`exec ${command.join(" ")} in ${pod}: ${errorText(e)}`));
      });
  });
}
