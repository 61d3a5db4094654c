import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { toHar, type HarLog } from "@gefyra/shared";
import { GefyraError } from "../../core/errors";
import {
  compare,
  filterOrThrow,
  queryStored,
  replay,
  series,
  sharedHub,
  storedRecord,
  type CompareResult,
  type FeedRecord,
  type ReplayDeps,
  type ReplayResult,
  type Series,
  type SharedHub,
  type TrafficEvent,
  type TrafficHub,
  type TrafficStatus,
} from "../../core/traffic";
import { matchRecord } from "@gefyra/shared";
import type { SessionStatsView } from "../../store";
import { paced, type StreamMarker } from "../backpressure";
import { publicProcedure, type Context } from "../trpc";
import { toSessionDto, type SessionDto } from "./sessions";

/** A bridge session with its traffic figures (absent until a request was stored). */
export interface TrafficSessionDto extends SessionDto {
  stats: (Omit<SessionStatsView, "firstAt" | "lastAt"> & { firstAt: string | null; lastAt: string | null }) | null;
}

const context = z.string().min(1);
const recordId = z.string().regex(/^(L\d+|S[^:]+:\d+)$/, "a record id (L… or S…:…)");
const editInput = z
  .object({
    method: z.string().regex(/^[A-Za-z]{1,20}$/, "an HTTP method").optional(),
    path: z.string().startsWith("/", "a path starting with /").max(16_384).optional(),
    headers: z
      .array(z.tuple([z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "a header name"), z.string().max(16_384)]))
      .max(200)
      .optional(),
    body: z
      .object({ encoding: z.enum(["utf8", "base64"]), data: z.string().max(8 * 1024 * 1024) })
      .nullable()
      .optional(),
  })
  .optional();

function hubOf(ctx: Context, ctxName: string): SharedHub {
  return sharedHub({ store: ctx.store, kube: ctx.kube, ...(ctx.retention ? { nudge: () => ctx.retention?.nudge() } : {}) }, ctxName);
}

/** Uses the context's shared hub for one call. */
async function withHub<T>(ctx: Context, name: string, work: (hub: TrafficHub, shared: SharedHub) => Promise<T>): Promise<T> {
  const shared = hubOf(ctx, name);
  try {
    return await work(shared.hub, shared);
  } finally {
    shared.release();
  }
}

async function waitListed(hub: TrafficHub, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!hub.ready && !hub.status().error && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/** Live lists carry sizes and headers; bodies come with the record by id. */
function partial(r: FeedRecord): FeedRecord {
  const strip = (m: FeedRecord["request"]) => (m ? { headers: m.headers, body: { ...m.body, data: "" } } : undefined);
  const request = strip(r.request);
  const response = strip(r.response);
  return { ...r, ...(request ? { request } : {}), ...(response ? { response } : {}), partial: true };
}

/** A live id while the hub holds its record, then its stored copy; a stored id from the store. */
async function lookUp(ctx: Context, hub: TrafficHub, id: string): Promise<FeedRecord | undefined> {
  if (!id.startsWith("L")) return storedRecord(ctx.store, id);
  const held = hub.find(id);
  if (held) return held;
  const stored = hub.storedAs(id);
  return stored ? storedRecord(ctx.store, `S${stored.sessionId}:${stored.seq}`) : undefined;
}

async function findRecord(ctx: Context, hub: TrafficHub, id: string): Promise<FeedRecord> {
  const found = await lookUp(ctx, hub, id);
  if (!found) {
    throw new GefyraError(
      "RECORD_NOT_FOUND",
      id.startsWith("L") ? `record ${id} is no longer held in memory and was not stored (this process did not record its bridge): open it from the stored history of the process that records it` : `record ${id} is not in the store (history retention may have removed it)`,
    );
  }
  return found;
}

function replayDeps(shared: SharedHub): ReplayDeps {
  return { dialer: () => shared.source.dialer(), core: async () => (await shared.source.cluster()).core };
}

async function bridgeOf(hub: TrafficHub, record: FeedRecord) {
  await waitListed(hub);
  const names = record.bridge ? [record.bridge, ...record.bridges] : record.bridges;
  const bridge = hub.bridges().find((b) => names.includes(b.name));
  if (!bridge) {
    throw new GefyraError("BRIDGE_NOT_ACTIVE", `bridge ${names.join(", ") || "(unknown)"} is not active any more: a replay goes to its local container or its shadow copy, which only exist while it is active`);
  }
  return bridge;
}

export const trafficRouter = {
  /**
   * Live records of the context's bridges (or one bridge): the newest records held first, then
   * batches as they arrive, the feed's status (pods, counts, recording) and Carrier's per-second
   * aggregates while it samples. A slow tab gets `{stream: "missed", missed: N}` for records it
   * did not get (they stay in history).
   */
  live: publicProcedure
    .input(z.object({ context, bridge: z.string().min(1).optional(), backlog: z.number().int().min(0).max(5000).default(500) }))
    .subscription(({ ctx, input, signal }): AsyncGenerator<TrafficEvent | StreamMarker> =>
      paced(
        async function* (stop) {
          const shared = hubOf(ctx, input.context);
          const queue: TrafficEvent[] = [];
          let wake: (() => void) | null = null;
          const poke = () => {
            const w = wake;
            wake = null;
            w?.();
          };
          const unsubscribe = shared.hub.subscribe({ bridge: input.bridge, backlog: input.backlog }, (e) => {
            queue.push(e.type === "records" ? { type: "records", records: e.records.map(partial) } : e);
            poke();
          });
          stop.addEventListener("abort", poke, { once: true });
          try {
            while (!stop.aborted) {
              const next = queue.shift();
              if (next) yield next;
              else await new Promise<void>((r) => (wake = r));
            }
          } finally {
            unsubscribe();
            stop.removeEventListener("abort", poke);
            shared.release();
          }
        },
        { socket: ctx.socket, signal, overflow: "drop", maxQueued: 5000, weigh: (e) => (e.type === "records" ? e.records.length : 1) },
      ),
    ),

  /** The feed's state now: bridges, their pods' streams, counts, whether this process records them. */
  status: publicProcedure.input(z.object({ context })).query(({ ctx, input }): Promise<TrafficStatus> =>
    withHub(ctx, input.context, async (hub) => {
      await waitListed(hub);
      return hub.status();
    }),
  ),

  /**
   * Records through the filter language, newest first: from the store (`source: "store"`, all
   * history, optionally one session or bridge) or from what this process holds live.
   */
  list: publicProcedure
    .input(
      z.object({
        context,
        source: z.enum(["store", "live"]).default("store"),
        bridge: z.string().min(1).optional(),
        sessionId: z.string().min(1).optional(),
        filter: z.string().max(4000).default(""),
        limit: z.number().int().min(1).max(5000).default(500),
        before: z.string().datetime().optional(),
        from: z.string().datetime().optional(),
        to: z.string().datetime().optional(),
      }),
    )
    .query(async ({ ctx, input }): Promise<{ records: FeedRecord[]; scanned: number; more: boolean }> => {
      if (input.source === "live") {
        const filter = filterOrThrow(input.filter);
        return withHub(ctx, input.context, async (hub) => {
          await waitListed(hub, 1000);
          const all = hub.recent({ bridge: input.bridge }, 100_000);
          const records = (filter ? all.filter((r) => matchRecord(filter, r)) : all).reverse().slice(0, input.limit).map(partial);
          return { records, scanned: all.length, more: false };
        });
      }
      const page = await queryStored(ctx.store, {
        ...(input.sessionId ? { sessionIds: [input.sessionId] } : {}),
        bridge: input.bridge,
        filter: input.filter,
        limit: input.limit,
        before: input.before,
        from: input.from,
        to: input.to,
      });
      return { ...page, records: page.records.map(partial) };
    }),

  /** One record with its bodies (live id L…, or a stored S…). */
  record: publicProcedure.input(z.object({ context, id: recordId })).query(({ ctx, input }): Promise<FeedRecord> => withHub(ctx, input.context, (hub) => findRecord(ctx, hub, input.id))),

  /** Sends a record's request again (as recorded, or edited) to the local container or the original. */
  replay: publicProcedure
    .input(z.object({ context, id: recordId, target: z.enum(["local", "original"]), edit: editInput }))
    .mutation(({ ctx, input }): Promise<ReplayResult> =>
      withHub(ctx, input.context, async (hub, shared) => {
        const record = await findRecord(ctx, hub, input.id);
        const bridge = await bridgeOf(hub, record);
        return replay({ record, bridge, target: input.target, edit: input.edit }, replayDeps(shared));
      }),
    ),

  /** The request to both, at once, and what differs (status, headers, body line by line). */
  compare: publicProcedure.input(z.object({ context, id: recordId, edit: editInput })).mutation(({ ctx, input }): Promise<CompareResult> =>
    withHub(ctx, input.context, async (hub, shared) => {
      const record = await findRecord(ctx, hub, input.id);
      const bridge = await bridgeOf(hub, record);
      return compare({ record, bridge, edit: input.edit }, replayDeps(shared));
    }),
  ),

  /** A HAR 1.2 log of the given records (ids), or of the stored records matching a filter. */
  har: publicProcedure
    .input(
      z.object({
        context,
        ids: z.array(recordId).max(5000).optional(),
        bridge: z.string().min(1).optional(),
        sessionId: z.string().min(1).optional(),
        filter: z.string().max(4000).default(""),
        limit: z.number().int().min(1).max(5000).default(1000),
      }),
    )
    .query(({ ctx, input }): Promise<{ har: HarLog; missing: number }> =>
      withHub(ctx, input.context, async (hub) => {
        let records: FeedRecord[];
        let missing = 0;
        if (input.ids) {
          records = [];
          for (const id of input.ids) {
            const r = await lookUp(ctx, hub, id);
            if (r) records.push(r);
            else missing++;
          }
        } else {
          records = (await queryStored(ctx.store, { ...(input.sessionId ? { sessionIds: [input.sessionId] } : {}), bridge: input.bridge, filter: input.filter, limit: input.limit })).records;
        }
        records.sort((a, b) => a.time.localeCompare(b.time));
        return { har: toHar(records, { version: ctx.version }), missing };
      }),
    ),

  /** Requests per second, error rate and latency percentiles over a time range (from the store). */
  series: publicProcedure
    .input(
      z.object({
        bridge: z.string().min(1).optional(),
        sessionId: z.string().min(1).optional(),
        from: z.string().datetime(),
        to: z.string().datetime(),
        buckets: z.number().int().min(1).max(600).default(60),
      }),
    )
    .query(({ ctx, input }): Series =>
      series(ctx.store, { bridge: input.bridge, ...(input.sessionId ? { sessionIds: [input.sessionId] } : {}), from: new Date(input.from), to: new Date(input.to), buckets: input.buckets }),
    ),

  /** Bridge sessions (history), newest first, with their request counts and percentiles. */
  sessions: publicProcedure
    .input(z.object({ context: z.string().min(1).optional(), limit: z.number().int().min(1).max(1000).default(50) }).default({ limit: 50 }))
    .query(async ({ ctx, input }): Promise<TrafficSessionDto[]> => {
      const sessions = (await ctx.store.listSessions({ kind: "bridge", limit: input.context ? 1000 : input.limit })).filter((s) => !input.context || s.context === input.context).slice(0, input.limit);
      const stats = await ctx.store.sessionStats(sessions.map((s) => s.id));
      return sessions.map((s) => {
        const st = stats.get(s.id);
        return { ...toSessionDto(s), stats: st ? { ...st, firstAt: st.firstAt?.toISOString() ?? null, lastAt: st.lastAt?.toISOString() ?? null } : null };
      });
    }),
} satisfies TRPCRouterRecord;
