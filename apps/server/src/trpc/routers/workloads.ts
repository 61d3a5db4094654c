import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { workloadFeed, type FeedMessage, type WorkloadFeed } from "../../core/workloads";
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
      // looked up now, so an unknown context fails the subscription at once; after a resync it is
      // looked up again (a feed left idle past its linger while the socket drained is gone)
      let first: WorkloadFeed | null = workloadFeed(ctx.kube, input.context, input.namespace);
      const open = (s: AbortSignal) => {
        const feed = first ?? workloadFeed(ctx.kube, input.context, input.namespace);
        first = null;
        return feed.subscribe(s);
      };
      return paced(open, { socket: ctx.socket, signal, overflow: "resync", maxQueued: WORKLOAD_QUEUE_ROWS, weigh: feedWeight });
    }),
} satisfies TRPCRouterRecord;
