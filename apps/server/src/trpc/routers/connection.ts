import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { defaultConnectionName, down, status, uninstall, up, type ConnectionInfo, type DownProgress, type DownResult, type UninstallProgress, type UpProgress } from "../../core/connection";
import type { KubeconfigOptions } from "../../core/contexts";
import { GefyraError } from "../../core/errors";
import { findOpenSession, openSession, sessionActivity, streamOperation, type OperationEvent, type SessionActivity } from "../../core/sessions";
import { paced, pacedOperation, type StreamMarker } from "../backpressure";
import { publicProcedure } from "../trpc";

const target = z.object({
  context: z.string().min(1),
  name: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/, "a connection name is a DNS label: lower-case letters, digits and '-'")
    .optional(),
});

/** The cluster options the connection core takes, from the server's kubeconfig lookup. */
export function clusterOptions(kube: KubeconfigOptions, context: string) {
  return { context, ...(kube.kubeconfig ? { kubeconfig: kube.kubeconfig } : {}), ...(kube.env ? { env: kube.env } : {}) };
}

/** ConnectionInfo without its dnsSearch function (not serialisable). */
export type ConnectionSummary = Omit<ConnectionInfo, "dnsSearch">;

export const connectionRouter = {
  /** The connection name `gefyra up` would use on this machine. */
  defaults: publicProcedure.query(() => ({ name: defaultConnectionName() })),

  /** Installed?, operator and Stowaway ready, every Connection with its tunnel health (handshake, heartbeat). */
  status: publicProcedure.input(z.object({ context: z.string().min(1) })).query(async ({ ctx, input, signal }) => {
    try {
      return await status({ ...clusterOptions(ctx.kube, input.context), ...(signal ? { signal } : {}) });
    } catch (error) {
      // the browser navigated away: not a server failure worth a log line
      if (signal?.aborted) throw new GefyraError("CANCELLED", "The status check was cancelled.", { cause: error });
      throw error;
    }
  }),

  /** What any tab (or face) does with connections of this context, live: up steps, down, errors. */
  activity: publicProcedure
    .input(z.object({ context: z.string().min(1) }))
    .subscription(
      ({ ctx, input, signal }): AsyncGenerator<SessionActivity | StreamMarker> =>
        paced((s) => sessionActivity(s, { kind: "connection", context: input.context }), { socket: ctx.socket, signal, overflow: "drop", maxQueued: 1000 }),
    ),

  /** `gefyra up` with live progress; unsubscribing cancels it (up rolls back what it made). */
  up: publicProcedure.input(target).subscription(({ ctx, input, signal }): AsyncGenerator<OperationEvent<UpProgress, ConnectionSummary> | StreamMarker> => {
    const name = input.name ?? defaultConnectionName();
    return pacedOperation(ctx, signal, (stop) => streamOperation<UpProgress, ConnectionSummary>({
      signal: stop,
      run: async (onProgress, abort) => {
        const { dnsSearch: _, ...info } = await up({ ...clusterOptions(ctx.kube, input.context), name, signal: abort }, onProgress);
        return info;
      },
      session: () => openSession(ctx.store, { kind: "connection", context: input.context, target: name }),
      describeProgress: (p) => ({ type: `up.${p.step}`, message: p.message }),
      describeResult: (info) => ({ type: "up", message: `connection ${info.name} is up: ${info.clientAddress} via ${info.endpoint} in ${Math.round(info.elapsedMs / 100) / 10} s` }),
    }));
  }),

  /** `gefyra down` with live progress; ends the connection's session. */
  down: publicProcedure.input(target).subscription(({ ctx, input, signal }): AsyncGenerator<OperationEvent<DownProgress, DownResult> | StreamMarker> => {
    const name = input.name ?? defaultConnectionName();
    return pacedOperation(ctx, signal, (stop) => streamOperation<DownProgress, DownResult>({
      signal: stop,
      run: (onProgress, abort) => down({ ...clusterOptions(ctx.kube, input.context), name, signal: abort }, onProgress),
      session: () => openSession(ctx.store, { kind: "connection", context: input.context, target: name }),
      describeProgress: (p) => ({ type: "down.step", message: p.message }),
      describeResult: (r) => ({
        type: "down",
        message: r.clusterError ? `connection ${r.name} removed locally; the cluster side failed: ${r.clusterError.message}` : `connection ${r.name} is down`,
        endSession: "down",
      }),
    }));
  }),

  /** `gefyra uninstall`: every local connection and the whole cluster side (ends open connection sessions). */
  uninstall: publicProcedure.input(z.object({ context: z.string().min(1) })).subscription(({ ctx, input, signal }): AsyncGenerator<OperationEvent<UninstallProgress, { context: string }> | StreamMarker> => {
    return pacedOperation(ctx, signal, (stop) => streamOperation<UninstallProgress, { context: string }>({
      signal: stop,
      run: async (onProgress, abort) => {
        await uninstall({ ...clusterOptions(ctx.kube, input.context), signal: abort }, onProgress);
        for (let open = await findOpenSession(ctx.store, { kind: "connection", context: input.context }); open; open = await findOpenSession(ctx.store, { kind: "connection", context: input.context })) {
          await ctx.store.recordSessionEvent(open.id, { type: "uninstall", message: `gefyra-ts was uninstalled from ${input.context}` });
          await ctx.store.endSession(open.id, "uninstalled");
        }
        return { context: input.context };
      },
      session: () => openSession(ctx.store, { kind: "connection", context: input.context, target: "(uninstall)" }),
      describeProgress: (p) => ({ type: "uninstall.step", message: p.message }),
      describeResult: () => ({ type: "uninstall", message: `gefyra-ts uninstalled from ${input.context}`, endSession: "uninstalled" }),
    }));
  }),
} satisfies TRPCRouterRecord;
