/**
 * One bridged pod's records stream (Carrier's `GET /records?since=N` WebSocket, decision 0012),
 * as an async generator of typed events that resumes by itself:
 *
 * - it starts after `cursor.seq` when `cursor.instance` is still the Carrier that answers, and
 *   from the start of Carrier's buffer otherwise (a restarted Carrier numbers from 1 again);
 * - after a lost connection it reconnects (0.25 s doubling to 5 s) from the last seq it handed on,
 *   so a reconnect leaves no gap that Carrier still holds, and says what it could not get
 *   (`missed`, straight from Carrier);
 * - a 401 (the token was replaced) reads the token again before the next attempt;
 * - `caught-up` comes once everything Carrier held at connect time has been handed on.
 *
 * Memory: at most `maxQueued` parsed messages wait for the consumer; above that the socket is
 * paused and TCP pushes back on Carrier, which then counts this consumer as slow (and tells).
 */
import type { TrafficRecord } from "@gefyra/shared";
import WebSocket from "ws";

export interface CarrierHello {
  type: "hello";
  instance: string;
  oldestSeq: number;
  nextSeq: number;
  bufferSize: number;
  maxRatePerSecond: number;
}

/** Carrier's per-second summary while it samples: every request of that second, kept or not. */
export interface CarrierAggregate {
  type: "aggregate";
  seq: number;
  time: string;
  windowMs: number;
  count: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  kept: number;
  dropped: number;
}

export interface CarrierMissed {
  type: "missed";
  count: number;
  fromSeq: number;
  toSeq: number;
  reason: "not-in-buffer" | "slow-consumer";
}

export type CarrierRecord = TrafficRecord & { type: "record" };
export type CarrierMessage = CarrierHello | CarrierRecord | CarrierAggregate | CarrierMissed;

/** Where a consumer stands in one Carrier's stream. */
export interface PodCursor {
  instance: string;
  /** The last seq handed on. */
  seq: number;
}

export type PodStreamEvent =
  | { type: "connected"; hello: CarrierHello; resumedFrom: number; restarted: boolean }
  | { type: "disconnected"; reason: string; retryInMs: number }
  | { type: "caught-up"; seq: number }
  | CarrierRecord
  | CarrierAggregate
  | CarrierMissed;

export interface PodStreamOptions {
  /** ws:// or http:// base of Carrier's control port (a port-forward's 127.0.0.1 URL). */
  url: string;
  /** Read again after a 401. */
  token: () => Promise<string>;
  cursor?: PodCursor | undefined;
  signal: AbortSignal;
  maxQueued?: number;
  /** First reconnect delay; doubles up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export async function* podRecords(options: PodStreamOptions): AsyncGenerator<PodStreamEvent> {
  const { signal } = options;
  const maxQueued = options.maxQueued ?? 1000;
  const base = options.url.replace(/^http/, "ws").replace(/\/+$/, "");
  let instance = options.cursor?.instance;
  let since = options.cursor ? options.cursor.seq : 0;
  const firstBackoff = options.backoffMs ?? 250;
  let backoff = firstBackoff;
  let token: string | undefined;

  while (!signal.aborted) {
    try {
      token ??= await options.token();
    } catch (error) {
      yield { type: "disconnected", reason: `cannot read Carrier's token: ${(error as Error).message}`, retryInMs: backoff };
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, options.maxBackoffMs ?? 5000);
      continue;
    }
    const queue: CarrierMessage[] = [];
    let wake: (() => void) | undefined;
    let closed: string | undefined;
    let unauthorized = false;
    const ws = new WebSocket(`${base}/records?since=${since}`, { headers: { authorization: `Bearer ${token}` }, handshakeTimeout: 10_000 });
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    ws.on("message", (data: Buffer) => {
      try {
        queue.push(JSON.parse(data.toString("utf8")) as CarrierMessage);
      } catch {
        return; // not one of Carrier's messages: nothing to hand on
      }
      if (queue.length >= maxQueued) ws.pause();
      notify();
    });
    ws.on("unexpected-response", (_req, res) => {
      unauthorized = res.statusCode === 401;
      closed = `Carrier answered HTTP ${res.statusCode ?? 0}${unauthorized ? " (the token was replaced)" : ""}`;
      res.resume();
      ws.terminate();
      notify();
    });
    ws.on("close", (code: number, reason: Buffer) => {
      closed ??= code === 1006 ? "the connection was lost" : `Carrier closed the stream (${code}${reason.length ? ` ${reason.toString()}` : ""})`;
      notify();
    });
    ws.on("error", (e: Error) => {
      closed ??= e.message;
      notify();
    });
    const onAbort = () => ws.terminate();
    signal.addEventListener("abort", onAbort, { once: true });
    let restartFromZero = false;
    let target: number | undefined;
    try {
      for (;;) {
        const m = queue.shift();
        if (!m) {
          if (closed !== undefined || signal.aborted) break;
          await new Promise<void>((r) => (wake = r));
          continue;
        }
        if (ws.isPaused && queue.length < maxQueued / 2) ws.resume();
        if (m.type === "hello") {
          backoff = firstBackoff;
          if (instance !== undefined && m.instance !== instance && since > 0) {
            // another Carrier process: its seqs began again at 1, so "after since" would skip its first ones
            instance = m.instance;
            since = 0;
            restartFromZero = true;
            yield { type: "connected", hello: m, resumedFrom: 0, restarted: true };
            break;
          }
          const restarted = instance !== undefined && m.instance !== instance;
          instance = m.instance;
          target = m.nextSeq - 1;
          yield { type: "connected", hello: m, resumedFrom: since, restarted };
          if (since >= target) {
            target = undefined;
            yield { type: "caught-up", seq: since };
          }
          continue;
        }
        const last = m.type === "missed" ? m.toSeq : m.seq;
        if (last <= since) continue; // already handed on (a resumed stream repeats nothing, but be sure)
        since = last;
        yield m;
        if (target !== undefined && since >= target) {
          target = undefined;
          yield { type: "caught-up", seq: since };
        }
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      ws.terminate();
    }
    if (signal.aborted) return;
    if (restartFromZero) continue;
    if (unauthorized) token = undefined;
    yield { type: "disconnected", reason: closed ?? "the stream ended", retryInMs: backoff };
    await sleep(backoff, signal);
    backoff = Math.min(backoff * 2, options.maxBackoffMs ?? 5000);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
