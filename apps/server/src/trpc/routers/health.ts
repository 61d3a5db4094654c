import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { paced, pacingStats, type StreamMarker } from "../backpressure";
import { publicProcedure } from "../trpc";

export interface HealthTick {
  at: string;
  uptimeMs: number;
}

export const healthRouter = {
  /** Version and uptime of this server process, and how much waits for slow browsers. */
  info: publicProcedure.query(({ ctx }) => ({
    version: ctx.version,
    uptimeMs: Date.now() - ctx.startedAt,
    startedAt: new Date(ctx.startedAt).toISOString(),
    streams: pacingStats(),
    memory: process.memoryUsage(),
  })),

  /** A heartbeat over the WebSocket: one tick per interval until the client unsubscribes. */
  ticks: publicProcedure
    .input(z.object({ intervalMs: z.number().int().min(50).max(60_000).default(1000) }).default({ intervalMs: 1000 }))
    .subscription(({ ctx, input, signal }): AsyncGenerator<HealthTick | StreamMarker> =>
      paced(
        async function* (stop) {
          while (!stop.aborted) {
            yield { at: new Date().toISOString(), uptimeMs: Date.now() - ctx.startedAt };
            await sleep(input.intervalMs, stop);
          }
        },
        { socket: ctx.socket, signal, overflow: "drop", maxQueued: 10 },
      ),
    ),
} satisfies TRPCRouterRecord;

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
