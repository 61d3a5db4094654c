import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { checkContext, listContexts } from "../../core/contexts";
import { publicProcedure } from "../trpc";

export const contextsRouter = {
  /** Contexts of the merged kubeconfig (KUBECONFIG or ~/.kube/config); empty when there is none. */
  list: publicProcedure.query(({ ctx }) => listContexts(ctx.kube)),

  /** Reachability of one context's API server (short timeout; never throws for cluster problems). */
  check: publicProcedure
    .input(z.object({ context: z.string().min(1), timeoutMs: z.number().int().min(100).max(30_000).optional() }))
    .query(({ ctx, input, signal }) =>
      checkContext(input.context, { ...ctx.kube, ...(input.timeoutMs ? { timeoutMs: input.timeoutMs } : {}), ...(signal ? { signal } : {}) }),
    ),
} satisfies TRPCRouterRecord;
