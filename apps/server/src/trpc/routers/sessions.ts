import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import type { Session } from "../../store";
import { publicProcedure } from "../trpc";

/** A session as it crosses the wire (dates as ISO strings; no transformer is configured). */
export interface SessionDto {
  id: string;
  kind: string;
  context: string | null;
  namespace: string | null;
  target: string | null;
  user: string | null;
  startedAt: string;
  endedAt: string | null;
  stopReason: string | null;
}

export function toSessionDto(s: Session): SessionDto {
  return { ...s, startedAt: s.startedAt.toISOString(), endedAt: s.endedAt ? s.endedAt.toISOString() : null };
}

export const sessionsRouter = {
  /** Session history from the store, newest first. */
  list: publicProcedure
    .input(
      z
        .object({
          kind: z.enum(["connection", "run", "bridge"]).optional(),
          limit: z.number().int().min(1).max(1000).optional(),
          activeOnly: z.boolean().optional(),
        })
        .default({}),
    )
    .query(async ({ ctx, input }) => (await ctx.store.listSessions(input)).map(toSessionDto)),
} satisfies TRPCRouterRecord;
