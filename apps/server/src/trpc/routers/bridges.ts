import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { MatchSchema } from "@gefyra/shared/rules";
import { bridge, defaultBridgeName, unbridge, watchBridges, type BridgeInfo, type BridgeProgress, type TargetKind, type UnbridgeProgress } from "../../core/bridge";
import type { KubeconfigOptions } from "../../core/contexts";
import { apiError, connectCluster, isNotFound } from "../../core/connection/cluster";
import { GefyraError } from "../../core/errors";
import { openSession, streamOperation, type OperationEvent } from "../../core/sessions";
import { paced, pacedOperation, type StreamMarker } from "../backpressure";
import { publicProcedure } from "../trpc";
import { clusterOptions } from "./connection";

export type BridgesMessage = { type: "list"; bridges: BridgeInfo[] } | { type: "error"; code: string; message: string };

/** A container of the target's pod template, as the wizard offers it. */
export interface TargetContainer {
  name: string;
  image: string;
  /** TCP ports it declares (only those can be bridged). */
  ports: Array<{ port: number; name: string | null }>;
}

export interface TargetDetails {
  kind: TargetKind;
  name: string;
  namespace: string;
  containers: TargetContainer[];
  /** Replicas wanted / ready (a pod: 1). */
  replicas: number;
  ready: number;
}

const port = z.number().int().min(1).max(65535);
const dnsName = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, "a Kubernetes name: lower-case letters, digits, '-' and '.'");

export const bridgeStartInput = z.object({
  context: z.string().min(1),
  namespace: dnsName,
  target: z.object({ kind: z.enum(["deployment", "statefulset", "pod"]), name: dnsName, container: z.string().min(1).optional() }),
  /** The local container (gefyra run) that gets the traffic. */
  local: z.string().min(1),
  ports: z.array(z.object({ remote: port, local: port })).min(1, "name at least one port to bridge").max(16),
  match: z.array(MatchSchema).max(16).default([]),
  name: z.string().min(1).optional(),
  connection: z.string().min(1).optional(),
});

const targetRef = (t: z.infer<typeof bridgeStartInput>["target"]): string => `${t.kind === "deployment" ? "deploy" : t.kind}/${t.name}${t.container ? `/${t.container}` : ""}`;

// ---- one bridge watch per (kubeconfig, context) in the process, shared by every tab ----------

interface BridgeWatch {
  latest: BridgesMessage | null;
  listeners: Set<() => void>;
  stop: () => void;
  linger?: NodeJS.Timeout;
}
const watches = new Map<string, BridgeWatch>();
const RETRY_MS = 5000;
const LINGER_MS = 10_000;

function sharedWatch(kube: KubeconfigOptions, context: string): { watch: BridgeWatch; release: () => void } {
  const key = JSON.stringify([kube.kubeconfig ?? null, kube.env?.KUBECONFIG ?? null, context]);
  let watch = watches.get(key);
  if (!watch) {
    const w: BridgeWatch = { latest: null, listeners: new Set(), stop: () => undefined };
    const publish = (m: BridgesMessage) => {
      w.latest = m;
      for (const l of w.listeners) l();
    };
    let retry: NodeJS.Timeout | undefined;
    let stopWatch = (): void => undefined;
    const begin = () => {
      stopWatch = watchBridges(
        clusterOptions(kube, context),
        (bridges) => publish({ type: "list", bridges }),
        (error) => {
          publish({ type: "error", code: error.code, message: error.message });
          // not installed yet, cluster away: the list appears once a retry succeeds
          stopWatch();
          retry = setTimeout(begin, RETRY_MS);
          retry.unref();
        },
      );
    };
    begin();
    w.stop = () => {
      clearTimeout(retry);
      stopWatch();
    };
    watches.set(key, w);
    watch = w;
  }
  const w = watch;
  clearTimeout(w.linger);
  return {
    watch: w,
    release: () => {
      if (w.listeners.size > 0) return;
      w.linger = setTimeout(() => {
        if (w.listeners.size > 0) return;
        w.stop();
        watches.delete(key);
      }, LINGER_MS);
      w.linger.unref();
    },
  };
}

/** The latest list (or error) of the shared watch, then every newer one; only the newest waits for a slow reader. */
async function* bridgeMessages(kube: KubeconfigOptions, context: string, signal: AbortSignal): AsyncGenerator<BridgesMessage> {
  const { watch, release } = sharedWatch(kube, context);
  let seen: BridgesMessage | null = null;
  let wake: (() => void) | null = null;
  const poke = () => {
    wake?.();
    wake = null;
  };
  watch.listeners.add(poke);
  signal.addEventListener("abort", poke, { once: true });
  try {
    while (!signal.aborted) {
      const latest = watch.latest;
      if (latest && latest !== seen) {
        seen = latest;
        yield latest;
        continue;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    watch.listeners.delete(poke);
    signal.removeEventListener("abort", poke);
    release();
  }
}

/** Stops every shared bridge watch (tests). */
export function stopBridgeWatches(): void {
  for (const w of watches.values()) {
    clearTimeout(w.linger);
    w.stop();
  }
  watches.clear();
}

export const bridgesRouter = {
  /** Every bridge in the context (optionally of one connection), live from the cluster's Bridge objects. */
  list: publicProcedure.input(z.object({ context: z.string().min(1), connection: z.string().min(1).optional() })).subscription(
    ({ ctx, input, signal }): AsyncGenerator<BridgesMessage | StreamMarker> =>
      paced(
        async function* (stop) {
          for await (const m of bridgeMessages(ctx.kube, input.context, stop)) {
            yield m.type === "list" && input.connection ? { ...m, bridges: m.bridges.filter((b) => b.connection === input.connection) } : m;
          }
        },
        { socket: ctx.socket, signal, overflow: "resync", maxQueued: 20 },
      ),
  ),

  /**
   * The containers and TCP ports of a workload's pod template (what every replica runs), for the
   * wizard's container and port pickers. A read of one object, not a watch.
   */
  target: publicProcedure
    .input(z.object({ context: z.string().min(1), namespace: dnsName, kind: z.enum(["deployment", "statefulset", "pod"]), name: dnsName }))
    .query(async ({ ctx, input, signal }): Promise<TargetDetails> => {
      const cluster = await connectCluster({ ...clusterOptions(ctx.kube, input.context), ...(signal ? { signal } : {}) });
      const shown = `${input.kind === "deployment" ? "deploy" : input.kind}/${input.name}`;
      try {
        const { namespace, name } = input;
        const read =
          input.kind === "pod"
            ? cluster.core.readNamespacedPod({ namespace, name }).then((p) => ({ spec: p.spec, replicas: 1, ready: p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? 1 : 0 }))
            : (input.kind === "deployment" ? cluster.apps.readNamespacedDeployment({ namespace, name }) : cluster.apps.readNamespacedStatefulSet({ namespace, name })).then((w) => ({
                spec: w.spec?.template.spec,
                replicas: w.spec?.replicas ?? 1,
                ready: w.status?.readyReplicas ?? 0,
              }));
        const { spec, replicas, ready } = await read;
        return {
          kind: input.kind,
          name,
          namespace,
          replicas,
          ready,
          containers: (spec?.containers ?? []).map((c) => ({
            name: c.name,
            image: c.image ?? "",
            ports: (c.ports ?? []).filter((p) => (p.protocol ?? "TCP") === "TCP").map((p) => ({ port: p.containerPort, name: p.name ?? null })),
          })),
        };
      } catch (error) {
        if (isNotFound(error)) throw new GefyraError("WORKLOAD_NOT_FOUND", `${shown} not found in namespace ${input.namespace}: pick it again from the workloads list`, { cause: error });
        throw apiError(error, `read ${shown} in namespace ${input.namespace}`, cluster);
      }
    }),

  /** `gefyra bridge` with live progress; unsubscribing (Cancel) aborts it and the core undoes what it made. */
  start: publicProcedure.input(bridgeStartInput).subscription(({ ctx, input, signal }): AsyncGenerator<OperationEvent<BridgeProgress, BridgeInfo> | StreamMarker> => {
    const name = input.name ?? defaultBridgeName(input.local, input.target.name);
    return pacedOperation(ctx, signal, (stop) =>
      streamOperation<BridgeProgress, BridgeInfo>({
        signal: stop,
        run: (onProgress, abort) =>
          bridge(
            {
              ...clusterOptions(ctx.kube, input.context),
              target: targetRef(input.target),
              namespace: input.namespace,
              local: input.local,
              ports: input.ports,
              match: input.match,
              name,
              ...(input.connection ? { connection: input.connection } : {}),
              signal: abort,
            },
            onProgress,
          ),
        session: () => openSession(ctx.store, { kind: "bridge", context: input.context, namespace: input.namespace, target: name }),
        describeProgress: (p) => ({ type: `bridge.${p.step}`, message: p.message }),
        describeResult: (b) => ({
          type: "bridge",
          message: `bridge ${b.name} is active: ${b.match.length ? "matching requests" : "all traffic"} on ${b.target.kind}/${b.target.name} port(s) ${b.ports.map((p) => `${p.remote}->${p.local}`).join(", ")} go to ${b.local} (${b.pods.length} pod(s))`,
        }),
      }),
    );
  }),

  /** `gefyra unbridge NAME` with live progress; ends the bridge's session. */
  stop: publicProcedure
    .input(z.object({ context: z.string().min(1), name: z.string().min(1) }))
    .subscription(({ ctx, input, signal }): AsyncGenerator<OperationEvent<UnbridgeProgress, { removed: string[] }> | StreamMarker> =>
      pacedOperation(ctx, signal, (stop) =>
        streamOperation<UnbridgeProgress, { removed: string[] }>({
          signal: stop,
          run: (onProgress, abort) => unbridge({ ...clusterOptions(ctx.kube, input.context), name: input.name, signal: abort }, onProgress),
          session: () => openSession(ctx.store, { kind: "bridge", context: input.context, target: input.name }),
          describeProgress: (p) => ({ type: `unbridge.${p.step}`, message: p.message }),
          describeResult: (r) => ({ type: "unbridge", message: `bridge ${r.removed.join(", ")} removed; the workload is restored`, endSession: "unbridged" }),
        }),
      ),
    ),
} satisfies TRPCRouterRecord;
