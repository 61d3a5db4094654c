import { Writable } from "node:stream";
import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { kubeConfigFor } from "../../core/contexts";
import { toGefyraError } from "../../core/errors";
import { logsLocal, removeLocal, runLocal, stopLocal, type LocalContainer, type RunProgress } from "../../core/run/local-container";
import { findOpenSession, openSession, streamOperation, type OperationEvent } from "../../core/sessions";
import { watchLocalContainers, type LocalContainersMessage } from "../../core/workloads";
import { paced, pacedOperation, type StreamMarker } from "../backpressure";
import { publicProcedure } from "../trpc";

export const runInput = z
  .object({
    context: z.string().min(1),
    namespace: z.string().min(1).default("default"),
    connection: z.string().min(1).optional(),
    name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, "letters, digits, '.', '_' or '-' (at most 63)"),
    image: z.string().min(1).optional(),
    build: z.string().min(1).optional(),
    envFrom: z.string().min(1).optional(),
    env: z.record(z.string(), z.string()).default({}),
    volumes: z.array(z.string().min(1)).default([]),
    ports: z.array(z.string().min(1)).default([]),
    /** Replaces the image's CMD. */
    command: z.array(z.string()).optional(),
  })
  .refine((v) => v.image || v.build, { message: "give an image or a build context", path: ["image"] });

export interface LogBatch {
  lines: string[];
  /** lines dropped because the browser did not keep up */
  skipped: number;
}

export const containersRouter = {
  /** The local app containers, again after every Docker event about them; a slow client gets a resync and the current list. */
  watch: publicProcedure.subscription(
    ({ ctx, signal }): AsyncGenerator<LocalContainersMessage | StreamMarker> => paced((s) => watchLocalContainers(s), { socket: ctx.socket, signal, overflow: "resync", maxQueued: 50 }),
  ),

  /** `gefyra run` with live progress (pull/build lines included); records a run session. */
  run: publicProcedure.input(runInput).subscription(({ ctx, input, signal }): AsyncGenerator<OperationEvent<RunProgress, LocalContainer> | StreamMarker> => {
    return pacedOperation(ctx, signal, (stop) => streamOperation<RunProgress, LocalContainer>({
      signal: stop,
      run: (onProgress, abort) =>
        runLocal(
          {
            name: input.name,
            namespace: input.namespace,
            ...(input.connection ? { connection: input.connection } : {}),
            ...(input.image ? { image: input.image } : {}),
            ...(input.build ? { build: input.build } : {}),
            ...(input.envFrom ? { envFrom: input.envFrom } : {}),
            env: input.env,
            volumes: input.volumes,
            ports: input.ports,
            ...(input.command?.length ? { command: input.command } : {}),
            kubeConfig: kubeConfigFor(input.context, ctx.kube).kubeConfig,
            signal: abort,
          },
          onProgress,
        ),
      session: () => openSession(ctx.store, { kind: "run", context: input.context, namespace: input.namespace, target: input.name }),
      describeProgress: (p) => (p.step === "image" && !p.message.startsWith("pulling") && !p.message.startsWith("building") ? undefined : { type: `run.${p.step}`, message: p.message }),
      describeResult: (c) => ({ type: "run", message: `${c.name} runs from ${c.image} at ${c.ip || "?"} in ${c.namespace}` }),
    }));
  }),

  /**
   * The container's output, live, in batches of lines; while the browser is slow at most 5000 lines
   * wait for it (older ones are dropped and counted: `skipped`, or a `missed` marker in lines).
   */
  logs: publicProcedure
    .input(z.object({ name: z.string().min(1), tail: z.number().int().min(0).max(10_000).default(500) }))
    .subscription(
      ({ ctx, input, signal }): AsyncGenerator<LogBatch | StreamMarker> =>
        paced((s) => logBatches(input.name, input.tail, s), { socket: ctx.socket, signal, overflow: "drop", maxQueued: 5000, weigh: (b) => b.lines.length + 1 }),
    ),

  stop: publicProcedure.input(z.object({ name: z.string().min(1) })).mutation(async ({ ctx, input }) => {
    await stopLocal(input.name);
    const open = await findOpenSession(ctx.store, { kind: "run", target: input.name });
    if (open) await ctx.store.recordSessionEvent(open.id, { type: "stop", message: `${input.name} stopped` }).catch(() => undefined);
    return { name: input.name };
  }),

  remove: publicProcedure.input(z.object({ name: z.string().min(1) })).mutation(async ({ ctx, input }) => {
    await removeLocal(input.name);
    const open = await findOpenSession(ctx.store, { kind: "run", target: input.name });
    if (open) {
      await ctx.store.recordSessionEvent(open.id, { type: "remove", message: `${input.name} removed` }).catch(() => undefined);
      await ctx.store.endSession(open.id, "removed").catch(() => undefined);
    }
    return { name: input.name };
  }),
} satisfies TRPCRouterRecord;

/** The container's log lines in batches, as fast as they are read; at most 5000 wait between reads. */
async function* logBatches(name: string, tail: number, signal: AbortSignal): AsyncGenerator<LogBatch> {
  const max = 5000;
  let lines: string[] = [];
  let partial = "";
  let skipped = 0;
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | null = null;
  const poke = () => {
    wake?.();
    wake = null;
  };
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const parts = (partial + chunk.toString("utf8")).split("\n");
      partial = parts.pop() ?? "";
      lines.push(...parts);
      if (lines.length > max) {
        skipped += lines.length - max;
        lines = lines.slice(-max);
      }
      poke();
      cb();
    },
  });
  const controller = new AbortController();
  const onAbort = () => {
    controller.abort();
    poke();
  };
  signal.addEventListener("abort", onAbort, { once: true });
  void logsLocal(name, out, { follow: true, tail, signal: controller.signal }).then(
    () => ((ended = true), poke()),
    (error: unknown) => ((failure = error), (ended = true), poke()),
  );
  try {
    while (!controller.signal.aborted) {
      if (lines.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
      if (lines.length > 0 || skipped > 0) {
        const batch: LogBatch = { lines, skipped };
        lines = [];
        skipped = 0;
        yield batch;
        continue;
      }
      if (ended) break;
    }
    if (partial) yield { lines: [partial], skipped: 0 };
    if (failure) throw toGefyraError(failure, "LOGS_FAILED");
  } finally {
    signal.removeEventListener("abort", onAbort);
    controller.abort();
  }
}
