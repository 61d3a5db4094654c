/**
 * A typed client of Carrier's control API, for the operator (routes) and the server (records).
 *
 *   const carrier = carrierClient({ url: "http://10.244.0.12:8999", token });
 *   await carrier.putRoutes(table, { ifRevision: 3 });          // throws CarrierControlError
 *   for await (const m of carrier.records({ since: 0, signal })) …  // resumes across reconnects
 */
import { WebSocket } from "ws";
import type { RouteTable, RouteTableInput } from "../../shared/src/rules/index";
import type { HelloMessage, MissedMessage, StreamEntry } from "./records";

export type RecordsMessage = StreamEntry | HelloMessage | MissedMessage;

export class CarrierControlError extends Error {
  override readonly name = "CarrierControlError";
  constructor(
    /** ROUTES_INVALID, ROUTES_OVERLAP, ROUTES_UNSAFE_REGEX, ROUTES_REVISION_MISMATCH, UNAUTHORIZED, UNREACHABLE, … */
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export interface CarrierClientOptions {
  /** Base URL of the control port, e.g. http://10.244.0.12:8999 */
  url: string;
  token: string;
}

export interface RoutesState {
  revision: number;
  routes: RouteTable;
}

export interface CarrierClient {
  getRoutes(signal?: AbortSignal): Promise<RoutesState>;
  putRoutes(table: RouteTableInput, opts?: { ifRevision?: number; signal?: AbortSignal }): Promise<RoutesState>;
  /**
   * Every stream message after `since` (undefined: only new ones), reconnecting with backoff
   * (1 s doubling to 30 s) from the last seq seen. When Carrier restarted (a new `hello.instance`)
   * the stream continues from that instance's first record. Ends when `signal` aborts.
   */
  records(opts?: { since?: number; signal?: AbortSignal; maxQueued?: number }): AsyncGenerator<RecordsMessage>;
}

export function carrierClient(opts: CarrierClientOptions): CarrierClient {
  const base = opts.url.replace(/\/+$/, "");
  const auth = { authorization: `Bearer ${opts.token}` };

  async function call(method: string, path: string, body: unknown, headers: Record<string, string>, signal?: AbortSignal): Promise<RoutesState> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: { ...auth, ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      throw new CarrierControlError("UNREACHABLE", `Carrier's control API at ${base} cannot be reached: ${(e as Error).message}`, 0);
    }
    const json = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } } & Partial<RoutesState>;
    if (!res.ok) {
      const { code = "HTTP_" + res.status, message = `Carrier answered ${res.status}`, ...details } = json.error ?? {};
      throw new CarrierControlError(code, message, res.status, details);
    }
    return { revision: json.revision!, routes: json.routes! };
  }

  return {
    getRoutes: (signal) => call("GET", "/routes", undefined, {}, signal),
    putRoutes: (table, o = {}) => call("PUT", "/routes", table, o.ifRevision === undefined ? {} : { "if-match": `"${o.ifRevision}"` }, o.signal),

    async *records(o = {}) {
      const signal = o.signal;
      const maxQueued = o.maxQueued ?? 1000;
      let since = o.since;
      let instance: string | undefined;
      let backoff = 1000;
      while (!signal?.aborted) {
        const queue: RecordsMessage[] = [];
        let wake: (() => void) | undefined;
        let closed = false;
        const query = since === undefined ? "" : `?since=${since}`;
        const ws = new WebSocket(`${base.replace(/^http/, "ws")}/records${query}`, { headers: auth });
        const notify = () => {
          wake?.();
          wake = undefined;
        };
        ws.on("message", (data: Buffer) => {
          queue.push(JSON.parse(data.toString()) as RecordsMessage);
          if (queue.length >= maxQueued) ws.pause(); // the consumer is slower than Carrier: let TCP push back
          notify();
        });
        ws.on("close", () => {
          closed = true;
          notify();
        });
        ws.on("error", () => {}); // followed by close
        const onAbort = () => ws.terminate();
        signal?.addEventListener("abort", onAbort, { once: true });
        try {
          for (;;) {
            const m = queue.shift();
            if (!m) {
              if (closed || signal?.aborted) break;
              await new Promise<void>((r) => (wake = r));
              continue;
            }
            if (queue.length < maxQueued / 2 && ws.isPaused) ws.resume();
            if (m.type === "hello") {
              backoff = 1000;
              if (instance !== undefined && m.instance !== instance && since !== undefined && since > 0) {
                // Carrier restarted: its seqs began again at 1, so "after the last one we saw" is wrong
                instance = m.instance;
                since = 0;
                ws.terminate();
                yield m;
                break;
              }
              instance = m.instance;
              since ??= m.nextSeq - 1; // live only: a reconnect resumes from here, not from the buffer's start
            } else if (m.type === "missed") {
              since = Math.max(since ?? 0, m.toSeq);
            } else {
              since = m.seq;
            }
            yield m;
          }
        } finally {
          signal?.removeEventListener("abort", onAbort);
          ws.terminate();
        }
        if (signal?.aborted) return;
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
    },
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
