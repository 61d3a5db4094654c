import { EventEmitter } from "node:events";
import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { connectCluster } from "../../core/connection/cluster";
import type { KubeconfigOptions } from "../../core/contexts";
import { GefyraError, toGefyraError } from "../../core/errors";
import { saveProfileFromBridge } from "../../core/profiles/from-bridge";
import type { ProfileFile } from "../../core/profiles/profile-file";
import { listProfiles, saveProfile } from "../../core/profiles/profiles";
import { startProfile, stopProfile, type ProfileStartProgress, type ProfileStartResult, type ProfileStopProgress, type ProfileStopResult } from "../../core/profiles/run";
import {
  defaultProfileUser,
  deleteSharedFromStore,
  localState,
  publishProfile,
  pullProfile,
  readStoredProfile,
  watchSharedProfiles,
  type LocalState,
  type SharedListRow,
  type SharedProfile,
} from "../../core/profiles/shared";
import { checkProfile } from "../../core/profiles/validate";
import { openSession, streamOperation, type OperationEvent } from "../../core/sessions";
import type { Store } from "../../store";
import { paced, pacedOperation, type StreamMarker } from "../backpressure";
import { publicProcedure } from "../trpc";
import { clusterOptions } from "./connection";

/** A local profile and how it stands against the cluster's copy in the context asked about. */
export interface ProfileRow {
  profile: ProfileFile;
  /** null: not shared in this context (or the shared list is not known yet). */
  shared: LocalState | "deleted in cluster" | null;
}

export type ProfilesMessage = {
  type: "list";
  context: string;
  local: ProfileRow[];
  /** null until the cluster's list arrived (or while it cannot be read: see sharedError). */
  shared: SharedListRow[] | null;
  sharedError: { code: string; message: string } | null;
};

const name = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "a profile name is a lowercase DNS label (letters, digits, '-'; at most 63)");
const context = z.string().min(1);

// ---- local edits: every subscription of this process looks again at once --------------------

const localChanges = new EventEmitter();
localChanges.setMaxListeners(0);
const changed = () => localChanges.emit("change");
/** Profiles changed outside this process (the CLI) are noticed this often. */
const STORE_POLL_MS = 2000;

// ---- one shared-profiles watch per (kubeconfig, context), shared by every tab ----------------

interface SharedWatch {
  profiles: Map<string, SharedProfile> | null;
  error: { code: string; message: string } | null;
  listeners: Set<() => void>;
  stop: () => void;
  linger?: NodeJS.Timeout;
}
const watches = new Map<string, SharedWatch>();
const RETRY_MS = 5000;
const LINGER_MS = 10_000;

function sharedWatch(kube: KubeconfigOptions, ctxName: string): { watch: SharedWatch; release: () => void } {
  const key = JSON.stringify([kube.kubeconfig ?? null, kube.env?.KUBECONFIG ?? null, ctxName]);
  let watch = watches.get(key);
  if (!watch) {
    const w: SharedWatch = { profiles: null, error: null, listeners: new Set(), stop: () => undefined };
    const notify = () => {
      for (const l of w.listeners) l();
    };
    let stopped = false;
    let retry: NodeJS.Timeout | undefined;
    let stopWatch = (): void => undefined;
    const begin = () => {
      connectCluster(clusterOptions(kube, ctxName)).then(
        (cluster) => {
          if (stopped) return;
          stopWatch = watchSharedProfiles(cluster, {
            onSync: (list) => {
              w.profiles = new Map(list.map((p) => [p.name, p]));
              notify();
            },
            onChange: (type, p) => {
              const next = new Map(w.profiles ?? []);
              if (type === "delete") next.delete(p.name);
              else next.set(p.name, p);
              w.profiles = next;
              notify();
            },
            onError: (error) => {
              w.error = error ? { code: error.code, message: error.message } : null;
              notify();
            },
          });
        },
        (error: unknown) => {
          if (stopped) return;
          const e = toGefyraError(error);
          w.error = { code: e.code, message: e.message };
          notify();
          // the cluster is away: the list appears once a retry succeeds
          retry = setTimeout(begin, RETRY_MS);
          retry.unref();
        },
      );
    };
    begin();
    w.stop = () => {
      stopped = true;
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

/** Stops every shared-profiles watch (tests). */
export function stopProfileWatches(): void {
  for (const w of watches.values()) {
    clearTimeout(w.linger);
    w.stop();
  }
  watches.clear();
}

async function snapshot(store: Store, ctxName: string, watch: SharedWatch): Promise<ProfilesMessage> {
  const local = await listProfiles(store);
  const sharedList = watch.profiles ? [...watch.profiles.values()].sort((a, b) => a.name.localeCompare(b.name)) : null;
  const stored = new Map(await Promise.all(local.map(async (p) => [p.metadata.name, await readStoredProfile(store, p.metadata.name)] as const)));
  const shared: SharedListRow[] | null = sharedList ? sharedList.map((s) => ({ ...s, local: localState(stored.get(s.name) ?? null, s, ctxName) })) : null;
  const rows: ProfileRow[] = local.map((profile) => {
    const mine = stored.get(profile.metadata.name) ?? null;
    const there = watch.profiles?.get(profile.metadata.name);
    const state: ProfileRow["shared"] = !watch.profiles ? null : there ? localState(mine, there, ctxName) : mine?.shared[ctxName] ? "deleted in cluster" : null;
    return { profile, shared: state };
  });
  return { type: "list", context: ctxName, local: rows, shared, sharedError: watch.error };
}

/** The local profiles and the cluster's, again whenever either changes; only the newest waits for a slow reader. */
async function* profileMessages(store: Store, kube: KubeconfigOptions, ctxName: string, signal: AbortSignal): AsyncGenerator<ProfilesMessage> {
  const { watch, release } = sharedWatch(kube, ctxName);
  let wake: (() => void) | null = null;
  let dirty = true;
  const poke = () => {
    dirty = true;
    wake?.();
    wake = null;
  };
  watch.listeners.add(poke);
  localChanges.on("change", poke);
  const timer = setInterval(poke, STORE_POLL_MS);
  timer.unref();
  signal.addEventListener("abort", poke, { once: true });
  let last = "";
  try {
    while (!signal.aborted) {
      if (dirty) {
        dirty = false;
        const message = await snapshot(store, ctxName, watch);
        const text = JSON.stringify(message);
        if (text !== last) {
          last = text;
          yield message;
        }
        continue;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    clearInterval(timer);
    watch.listeners.delete(poke);
    localChanges.off("change", poke);
    signal.removeEventListener("abort", poke);
    release();
  }
}

function problemsSentence(problems: Array<{ field: string; message: string }>): string {
  const first = problems[0];
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
  return first ? `${first.field}: ${first.message}${more}; nothing was saved` : "the profile is not valid; nothing was saved";
}

export const profilesRouter = {
  /** Local profiles with their state against the context's shared ones, and the shared ones, live (teammates' publishes appear as they happen). */
  watch: publicProcedure.input(z.object({ context })).subscription(
    ({ ctx, input, signal }): AsyncGenerator<ProfilesMessage | StreamMarker> =>
      paced((stop) => profileMessages(ctx.store, ctx.kube, input.context, stop), { socket: ctx.socket, signal, overflow: "resync", maxQueued: 20 }),
  ),

  /** A profile from the form checked against the file schema: every problem with its field and the schema's message. */
  check: publicProcedure.input(z.object({ profile: z.unknown() })).query(({ input }) => {
    const r = checkProfile(input.profile);
    return r.ok ? { ok: true as const, problems: [] } : { ok: false as const, problems: r.problems };
  }),

  /** Saves a profile from the form (create: refuses an existing name). Its cluster versions are kept: publish shares the edit. */
  save: publicProcedure.input(z.object({ profile: z.unknown(), create: z.boolean().default(false) })).mutation(async ({ ctx, input }) => {
    const r = checkProfile(input.profile);
    if (!r.ok) throw new GefyraError("PROFILE_INVALID", problemsSentence(r.problems));
    const profileName = r.profile.metadata.name;
    if (input.create && (await listProfiles(ctx.store)).some((p) => p.metadata.name === profileName)) {
      throw new GefyraError("PROFILE_EXISTS", `profile ${profileName} already exists: pick another name, or edit that one`);
    }
    await saveProfile(ctx.store, r.profile);
    changed();
    return { name: profileName };
  }),

  /** Deletes the local profile (a shared copy in the cluster stays). */
  delete: publicProcedure.input(z.object({ name })).mutation(async ({ ctx, input }) => {
    if (!(await ctx.store.deleteProfile(input.name))) throw new GefyraError("PROFILE_NOT_FOUND", `no profile named ${input.name}: it was deleted meanwhile`);
    changed();
    return { name: input.name };
  }),

  /** Shares the local profile in the context; a teammate's newer version is never overwritten (the conflict names them). */
  publish: publicProcedure.input(z.object({ context, name, create: z.boolean().default(false) })).mutation(async ({ ctx, input }) => {
    try {
      const p = await publishProfile(ctx.store, input.name, { ...clusterOptions(ctx.kube, input.context), user: defaultProfileUser(), ...(input.create ? { create: true } : {}) });
      return { name: p.name, resourceVersion: p.resourceVersion };
    } finally {
      changed();
    }
  }),

  /** Takes the cluster's version (personal values stay). */
  pull: publicProcedure.input(z.object({ context, name })).mutation(async ({ ctx, input }) => {
    const r = await pullProfile(ctx.store, input.name, clusterOptions(ctx.kube, input.context));
    changed();
    return { name: input.name, resourceVersion: r.shared.resourceVersion, changedBy: r.shared.changedBy };
  }),

  /** Removes the cluster's copy, if it is still the version this machine last saw. */
  deleteShared: publicProcedure.input(z.object({ context, name })).mutation(async ({ ctx, input }) => {
    await deleteSharedFromStore(ctx.store, input.name, clusterOptions(ctx.kube, input.context));
    changed();
    return { name: input.name };
  }),

  /** Saves a running bridge as a profile (target, ports, rules; image, env, ports of its local container; host paths personal). */
  fromBridge: publicProcedure
    .input(z.object({ context, bridge: z.string().min(1), name, description: z.string().max(2000).optional(), replace: z.boolean().default(false) }))
    .mutation(async ({ ctx, input }) => {
      const r = await saveProfileFromBridge(ctx.store, {
        ...clusterOptions(ctx.kube, input.context),
        bridge: input.bridge,
        name: input.name,
        ...(input.description ? { description: input.description } : {}),
        replace: input.replace,
      });
      changed();
      return r;
    }),

  /** Starts the profile (local container, then bridge) with live progress; unsubscribing cancels, and what was made goes again. */
  start: publicProcedure
    .input(z.object({ context, name, connection: z.string().min(1).optional() }))
    .subscription(({ ctx, input, signal }): AsyncGenerator<OperationEvent<ProfileStartProgress, ProfileStartResult> | StreamMarker> =>
      pacedOperation(ctx, signal, (stop) =>
        streamOperation<ProfileStartProgress, ProfileStartResult>({
          signal: stop,
          run: (onProgress, abort) =>
            startProfile(input.name, { ...clusterOptions(ctx.kube, input.context), store: ctx.store, ...(input.connection ? { connection: input.connection } : {}), signal: abort }, onProgress),
          session: async () => {
            const stored = await readStoredProfile(ctx.store, input.name);
            return openSession(ctx.store, { kind: "bridge", context: input.context, namespace: stored?.profile.spec.target.namespace ?? null, target: input.name });
          },
          // image lines of a build are many; pulling/building themselves are worth keeping
          describeProgress: (p) => (p.detail === "image" && !/^(pulling|building) /.test(p.message) ? undefined : { type: `profile.${p.step}`, message: p.message }),
          describeResult: (r) => ({
            type: "profile.start",
            message: `profile ${r.profile} runs: ${r.container.name} at ${r.container.ip}, bridge ${r.bridge.name} ${r.bridge.state} (${r.bridge.pods.length} pod(s)) in ${Math.round(r.elapsedMs / 100) / 10} s`,
          }),
        }),
      ),
    ),

  /** Stops the profile (bridge removed and the workload restored, then the container removed), with live progress. */
  stop: publicProcedure
    .input(z.object({ context, name, connection: z.string().min(1).optional() }))
    .subscription(({ ctx, input, signal }): AsyncGenerator<OperationEvent<ProfileStopProgress, ProfileStopResult> | StreamMarker> =>
      pacedOperation(ctx, signal, (stop) =>
        streamOperation<ProfileStopProgress, ProfileStopResult>({
          signal: stop,
          run: (onProgress, abort) => stopProfile(input.name, { ...clusterOptions(ctx.kube, input.context), ...(input.connection ? { connection: input.connection } : {}), signal: abort }, onProgress),
          session: () => openSession(ctx.store, { kind: "bridge", context: input.context, target: input.name }),
          describeProgress: (p) => ({ type: `profile.${p.step}`, message: p.message }),
          describeResult: (r) => ({ type: "profile.stop", message: `profile ${r.profile} stopped: ${[...r.bridges, ...r.containers].join(", ") || "nothing"} removed`, endSession: "stopped" }),
        }),
      ),
    ),
} satisfies TRPCRouterRecord;
