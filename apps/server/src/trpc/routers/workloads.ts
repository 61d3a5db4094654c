import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { workloadFeed, type FeedMessage } from "../../core/workloads";
import { publicProcedure } from "../trpc";

export const workloadsRouter = {
  /**
   * Namespaces, Deployments, StatefulSets, Pods and Services of a context, live: a snapshot, then
   * batches of changes from the cluster's watches. A slow client gets a fresh snapshot instead of
   * an ever-growing queue.
   */
  watch: publicProcedure
    .input(z.object({ context: z.string().min(1), namespace: z.string().default("") }))
    .subscription(({ ctx, input, signal }): AsyncGenerator<FeedMessage> => workloadFeed(ctx.kube, input.context, input.namespace).subscribe(signal)),
} satisfies TRPCRouterRecord;
