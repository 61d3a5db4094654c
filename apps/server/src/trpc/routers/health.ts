import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { publicProcedure } from "../trpc";

export interface HealthTick {
  at: string;
  uptimeMs: number;
}

export const healthRouter = {
  /** Version and uptime of this server process. */
  info: publicProcedure.query(({ ctx }) => ({
    version: ctx.version,
    uptimeMs: Date.now() - ctx.startedAt,
    startedAt: new Date(ctx.startedAt).toISOString(),
  })),

  /** A heartbeat over the WebSocket: one tick per interval until the client unsubscribes. */
  ticks: publicProcedure
    .input(z.object({ intervalMs: z.number().int().min(50).max(60_000).default(1000) }).default({ intervalMs: 1000 }))
    .subscription(async function* ({ ctx, input, signal }): AsyncGenerator<HealthTick> {
      while (!signal?.aborted) {
        yield { at: new Date().toISOString(), uptimeMs: Date.now() - ctx.startedAt };
        await sleep(input.intervalMs, signal);
      }
    }),
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
