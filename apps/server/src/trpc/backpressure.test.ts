import { afterEach, describe, expect, it } from "vitest";
import { paced, pacingStats, resetPacingStats, type ClientSocket, type StreamMarker } from "./backpressure";

/** A socket double: the test sets how many bytes it holds unsent and whether it is open. */
function fakeSocket(): ClientSocket & { bufferedAmount: number; readyState: number } {
  return { bufferedAmount: 0, readyState: 1 };
}

/** A push source double: values pushed by the test, ended by its signal or by `end()`. */
function fakeSource<T>() {
  let push: (value: T) => void = () => undefined;
  let end: () => void = () => undefined;
  const opened: AbortSignal[] = [];
  const open = (signal: AbortSignal): AsyncIterable<T> => {
    opened.push(signal);
    const queue: T[] = [];
    let done = false;
    let wake: (() => void) | null = null;
    push = (value) => {
      queue.push(value);
      wake?.();
    };
    end = () => {
      done = true;
      wake?.();
    };
    signal.addEventListener("abort", () => end(), { once: true });
    return (async function* () {
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) yield next;
        else if (done) return;
        else await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    })();
  };
  return { open, opened, push: (v: T) => push(v), end: () => end() };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

/** Reads `n` values from a generator. */
async function take<T>(it: AsyncGenerator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

afterEach(() => resetPacingStats());

describe("paced", () => {
  it("passes values through in order while the socket keeps up", async () => {
    const socket = fakeSocket();
    const source = fakeSource<number>();
    const stream = paced(source.open, { socket, overflow: "drop", maxQueued: 10 });
    const reading = take(stream, 3);
    await tick();
    source.push(1);
    source.push(2);
    source.push(3);
    expect(await reading).toEqual([1, 2, 3]);
    await stream.return(undefined);
    expect(source.opened[0]?.aborted).toBe(true);
  });

  it("holds values while the socket is above the high-water mark and sends them once it drains", async () => {
    const socket = fakeSocket();
    const source = fakeSource<number>();
    const stream = paced(source.open, { socket, overflow: "drop", maxQueued: 10, highWaterBytes: 1000, pollMs: 5 });
    socket.bufferedAmount = 5000;
    const first = stream.next();
    source.push(1);
    source.push(2);
    let settled = false;
    void first.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 40));
    expect(settled).toBe(false);
    expect(pacingStats().queued).toBe(2);
    socket.bufferedAmount = 0;
    expect(await first).toEqual({ done: false, value: 1 });
    expect((await stream.next()).value).toBe(2);
    await stream.return(undefined);
    expect(pacingStats().subscribers).toBe(0);
  });

  it("drop: keeps at most maxQueued, drops the oldest, and says how many were missed", async () => {
    const socket = fakeSocket();
    const source = fakeSource<{ type: string; n: number }>();
    const stream = paced(source.open, { socket, overflow: "drop", maxQueued: 100, keep: (e) => e.type !== "progress", pollMs: 5 });
    socket.bufferedAmount = 10 * 1024 * 1024;
    const first = stream.next();
    for (let n = 0; n < 5000; n++) source.push({ type: "progress", n });
    source.push({ type: "done", n: 5000 });
    await tick();
    expect(pacingStats().queued).toBe(100);
    expect(pacingStats().peakQueued).toBeLessThanOrEqual(101);
    socket.bufferedAmount = 0;
    const got = [(await first).value, ...(await take(stream, 100))];
    expect(got[0]).toEqual({ stream: "missed", missed: 4901 });
    expect(got[1]).toEqual({ type: "progress", n: 4901 });
    // the outcome is never dropped
    expect(got.at(-1)).toEqual({ type: "done", n: 5000 });
    await stream.return(undefined);
  });

  it("resync: past the bound it drops the queue, stops the source, sends a marker after the drain and opens the source again", async () => {
    const socket = fakeSocket();
    const source = fakeSource<string>();
    const stream = paced(source.open, { socket, overflow: "resync", maxQueued: 50, pollMs: 5 });
    const first = stream.next();
    source.push("snapshot-1");
    expect((await first).value).toBe("snapshot-1");
    socket.bufferedAmount = 10 * 1024 * 1024;
    const next = stream.next();
    for (let n = 0; n < 3000; n++) source.push(`change-${n}`);
    await tick();
    expect(source.opened).toHaveLength(1);
    expect(source.opened[0]?.aborted).toBe(true);
    expect(pacingStats().queued).toBe(0);
    socket.bufferedAmount = 0;
    expect((await next).value).toEqual({ stream: "resync", missed: 51 } satisfies StreamMarker);
    await tick();
    expect(source.opened).toHaveLength(2);
    const after = stream.next();
    source.push("snapshot-2");
    expect((await after).value).toBe("snapshot-2");
    expect(pacingStats().resyncs).toBe(1);
    await stream.return(undefined);
    expect(source.opened[1]?.aborted).toBe(true);
  });

  it("a single value larger than the bound still goes through (a big snapshot)", async () => {
    const source = fakeSource<number[]>();
    const stream = paced(source.open, { overflow: "resync", maxQueued: 10, weigh: (rows) => rows.length });
    const r = stream.next();
    source.push(Array.from({ length: 1000 }, (_, i) => i));
    expect(((await r).value as number[]).length).toBe(1000);
    await stream.return(undefined);
  });

  it("ends when the source ends, and rethrows its failure after what was queued", async () => {
    const failing = paced(
      async function* () {
        yield await Promise.resolve(1);
        throw new Error("boom");
      },
      { overflow: "drop" },
    );
    expect((await failing.next()).value).toBe(1);
    await expect(failing.next()).rejects.toThrow("boom");

    const source = fakeSource<number>();
    const finite = paced(source.open, { overflow: "drop" });
    const r = take(finite, 5);
    await tick();
    source.push(7);
    source.end();
    expect(await r).toEqual([7]);
  });

  it("stops when the subscription's signal aborts or the socket closes", async () => {
    const controller = new AbortController();
    const source = fakeSource<number>();
    const stream = paced(source.open, { signal: controller.signal, overflow: "drop" });
    const r = stream.next();
    await tick();
    controller.abort();
    expect(await r).toEqual({ done: true, value: undefined });
    expect(source.opened[0]?.aborted).toBe(true);

    const socket = fakeSocket();
    const other = fakeSource<number>();
    const closing = paced(other.open, { socket, overflow: "drop", pollMs: 5 });
    socket.bufferedAmount = 1e9;
    const pending = closing.next();
    other.push(1);
    await tick();
    socket.readyState = 3;
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(other.opened[0]?.aborted).toBe(true);
  });
});
