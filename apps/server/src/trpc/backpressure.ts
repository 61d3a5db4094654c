/**
 * Back-pressure per browser for subscriptions.
 *
 * tRPC's WebSocket adapter pulls the next value of a subscription as soon as it has handed the
 * previous one to `ws.send()`, which never blocks: a browser that reads slowly (background tab,
 * laptop on bad Wi-Fi, a debugger paused) would make the socket's send buffer grow without end.
 * `paced()` sits between a source (a feed, an operation's progress, log lines) and the adapter:
 *
 * - the source is read at once into a queue of its own, so the source never waits for the socket;
 * - a value is handed on only while the socket holds at most `highWaterBytes` unsent
 *   (`bufferedAmount`), so the socket's buffer stays near that mark plus one message;
 * - the queue is bounded by `maxQueued` (summed `weigh()`; a single value always fits). Past it:
 *   - "resync" (state feeds: workloads, local containers, bridges): the queue is dropped, the
 *     source is stopped, and once the socket drains the client gets `{ stream: "resync" }` and the
 *     source is opened again, which starts with a full snapshot (the client re-lists);
 *   - "drop" (event streams: progress, activity, logs): the oldest values are dropped (never those
 *     `keep()` protects, such as an operation's done/error) and the client gets
 *     `{ stream: "missed", missed: N }` before the next value.
 *
 * Without a socket (HTTP transport, in-process callers) values are not paced, but the queue is
 * bounded the same way, by the consumer's own pace.
 */

/** What pacing needs of the client's WebSocket (`ws`'s WebSocket has both). */
export interface ClientSocket {
  /** Bytes queued by send() and not yet written to the network. */
  readonly bufferedAmount: number;
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
}

/** Sent in place of values that were not delivered; `missed` is their summed weight. */
export type StreamMarker = { stream: "resync"; missed: number } | { stream: "missed"; missed: number };

export function isStreamMarker(value: unknown): value is StreamMarker {
  return typeof value === "object" && value !== null && "stream" in value && (value.stream === "resync" || value.stream === "missed");
}

export interface PaceOptions<T> {
  /** The subscriber's socket; undefined: no socket to pace by (HTTP, in-process callers). */
  socket?: ClientSocket | undefined;
  /** The subscription's signal: aborting it stops the source and ends the stream. */
  signal?: AbortSignal | undefined;
  overflow: "resync" | "drop";
  /** Most summed weight waiting for this subscriber. Default 1000. */
  maxQueued?: number;
  /** Weight of a value (rows in a batch, lines in a log batch). Default 1. */
  weigh?: (value: T) => number;
  /** "drop" only: values that are never dropped (an operation's outcome). */
  keep?: (value: T) => boolean;
  /** Unsent bytes in the socket above which nothing more is handed on. Default 256 KiB. */
  highWaterBytes?: number;
  /** How often a congested socket is checked for having drained. Default 25 ms. */
  pollMs?: number;
}

export const DEFAULT_HIGH_WATER_BYTES = 256 * 1024;
const WS_OPEN = 1;

export interface PacingStats {
  /** Paced subscriptions right now. */
  subscribers: number;
  /** Values waiting in their queues right now. */
  queued: number;
  /** The largest summed weight any queue has held since start (or the last reset). */
  peakQueued: number;
  /** Times a queue overflowed into a resync since start. */
  resyncs: number;
  /** Weight of values dropped or discarded since start. */
  missed: number;
  /** The most unsent bytes seen in a subscriber's socket when handing on a value. */
  peakBufferedBytes: number;
}

interface QueueGauge {
  length(): number;
}
const gauges = new Set<QueueGauge>();
const totals = { peakQueued: 0, resyncs: 0, missed: 0, peakBufferedBytes: 0 };

/** Queue gauges of every paced subscription in this process (health.info, tests). */
export function pacingStats(): PacingStats {
  let queued = 0;
  for (const g of gauges) queued += g.length();
  return { subscribers: gauges.size, queued, ...totals };
}

/** Forgets peak and counters (tests). */
export function resetPacingStats(): void {
  totals.peakQueued = 0;
  totals.resyncs = 0;
  totals.missed = 0;
  totals.peakBufferedBytes = 0;
}

/**
 * Reads `open(signal)` into a bounded queue and yields its values at the socket's pace, with
 * markers for what the subscriber did not get. `open` is called again after a resync, with a
 * fresh signal; it must stop when its signal aborts.
 */
export async function* paced<T>(open: (signal: AbortSignal) => AsyncIterable<T>, options: PaceOptions<T>): AsyncGenerator<T | StreamMarker> {
  const { socket, signal, overflow, keep } = options;
  const maxQueued = options.maxQueued ?? 1000;
  const weigh = options.weigh ?? (() => 1);
  const highWater = options.highWaterBytes ?? DEFAULT_HIGH_WATER_BYTES;
  const pollMs = options.pollMs ?? 25;

  const queue: Array<{ value: T; weight: number }> = [];
  let queuedWeight = 0;
  let missed = 0;
  let resync = false;
  let ended = false;
  let failure: { error: unknown } | null = null;
  let source = new AbortController();
  let wake: (() => void) | null = null;
  const poke = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  const sleep = (ms: number | null): Promise<void> =>
    new Promise<void>((resolve) => {
      const timer = ms === null ? undefined : setTimeout(poke, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const push = (value: T): void => {
    const weight = weigh(value);
    queue.push({ value, weight });
    queuedWeight += weight;
    while (queuedWeight > maxQueued && queue.length > 1) {
      if (overflow === "resync") {
        missed += queuedWeight;
        totals.missed += queuedWeight;
        queue.length = 0;
        queuedWeight = 0;
        resync = true;
        totals.resyncs++;
        // the source's own buffers go too: it is opened again once the socket has drained
        source.abort();
        break;
      }
      const i = queue.findIndex((e) => !keep?.(e.value));
      if (i < 0) break; // only values that must arrive: an operation has one outcome, so few
      const [gone] = queue.splice(i, 1);
      queuedWeight -= gone!.weight;
      missed += gone!.weight;
      totals.missed += gone!.weight;
    }
    if (queuedWeight > totals.peakQueued) totals.peakQueued = queuedWeight;
    poke();
  };

  const pump = async (controller: AbortController): Promise<void> => {
    const iterator = open(controller.signal)[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done || controller.signal.aborted) break;
        push(next.value);
      }
    } catch (error) {
      if (!controller.signal.aborted) failure = { error };
    } finally {
      await iterator.return?.()?.catch(() => undefined);
      if (controller === source) {
        ended = true;
        poke();
      }
    }
  };

  const gauge: QueueGauge = { length: () => queue.length };
  const onAbort = (): void => {
    source.abort();
    poke();
  };
  if (signal?.aborted) return;
  signal?.addEventListener("abort", onAbort, { once: true });
  gauges.add(gauge);
  void pump(source);
  try {
    for (;;) {
      if (signal?.aborted || (socket && socket.readyState > WS_OPEN)) return;
      if (!resync && missed === 0 && queue.length === 0 && !ended) {
        await sleep(null);
        continue;
      }
      if (socket) {
        const buffered = socket.bufferedAmount;
        if (buffered > totals.peakBufferedBytes) totals.peakBufferedBytes = buffered;
        if (buffered > highWater) {
          await sleep(pollMs);
          continue;
        }
      }
      if (resync) {
        const marker: StreamMarker = { stream: "resync", missed };
        resync = false;
        missed = 0;
        // opened before the marker is handed on, so the snapshot is being made while it travels
        source = new AbortController();
        ended = false;
        failure = null;
        void pump(source);
        yield marker;
        continue;
      }
      if (missed > 0) {
        const marker: StreamMarker = { stream: "missed", missed };
        missed = 0;
        yield marker;
        continue;
      }
      const next = queue.shift();
      if (next) {
        queuedWeight -= next.weight;
        yield next.value;
        continue;
      }
      // ended and drained
      if (failure) throw (failure as { error: unknown }).error;
      return;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    source.abort();
    gauges.delete(gauge);
  }
}

/** An operation's events: progress may be dropped (and counted), its outcome (done, error) never. */
export function pacedOperation<E extends { type: string }>(
  ctx: { socket?: ClientSocket | undefined },
  signal: AbortSignal | undefined,
  open: (signal: AbortSignal) => AsyncIterable<E>,
): AsyncGenerator<E | StreamMarker> {
  return paced(open, { socket: ctx.socket, signal, overflow: "drop", maxQueued: 1000, keep: (e) => e.type !== "progress" });
}
