import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { checkContext, listContexts } from "../../core/contexts";
import { GefyraError } from "../../core/errors";
import { publicProcedure } from "../trpc";

export const contextsRouter = {
  /** Contexts of the merged kubeconfig (KUBECONFIG or ~/.kube/config); empty when there is none. */
  list: publicProcedure.query(({ ctx }) => listContexts(ctx.kube)),

  /** Reachability of one context's API server (short timeout; never throws for cluster problems). */
  check: publicProcedure
    .input(z.object({ context: z.string().min(1), timeoutMs: z.number().int().min(100).max(30_000).optional() }))
    .query(async ({ ctx, input, signal }) => {
      try {
        return await checkContext(input.context, { ...ctx.kube, ...(input.timeoutMs ? { timeoutMs: input.timeoutMs } : {}), ...(signal ? { signal } : {}) });
      } catch (error) {
        // the browser navigated away: not a server failure worth a log line
        if (signal?.aborted) throw new GefyraError("CANCELLED", "The reachability check was cancelled.", { cause: error });
        throw error;
      }
    }),
} satisfies TRPCRouterRecord;
