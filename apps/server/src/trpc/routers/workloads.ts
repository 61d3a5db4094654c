import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { workloadFeed, type FeedMessage } from "../../core/workloads";
import { paced, type StreamMarker } from "../backpressure";
import { publicProcedure } from "../trpc";

/** Rows a browser may have waiting before it is sent a resync instead (the feed's own bound too). */
export const WORKLOAD_QUEUE_ROWS = 5000;

/** A feed message's weight is its rows: a snapshot of 2500 rows weighs what 2500 changes do. */
export const feedWeight = (m: FeedMessage): number => (m.type === "snapshot" ? m.rows.length : m.upserts.length + m.deletes.length) + 1;

export const workloadsRouter = {
  /**
   * Namespaces, Deployments, StatefulSets, Pods and Services of a context, live: a snapshot, then
   * batches of changes from the cluster's watches. A slow client gets `{ stream: "resync" }` and a
   * fresh snapshot instead of an ever-growing queue.
   */
  watch: publicProcedure
    .input(z.object({ context: z.string().min(1), namespace: z.string().default("") }))
    .subscription(({ ctx, input, signal }): AsyncGenerator<FeedMessage | StreamMarker> => {
      const feed = workloadFeed(ctx.kube, input.context, input.namespace);
      return paced((s) => feed.subscribe(s), { socket: ctx.socket, signal, overflow: "resync", maxQueued: WORKLOAD_QUEUE_ROWS, weigh: feedWeight });
    }),
} satisfies TRPCRouterRecord;
