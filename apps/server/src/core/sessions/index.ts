/**
 * Session history for what the dashboard (or any face) does: a connection's up/down, a local
 * container's run/stop/rm, bridges later. Each long operation streams typed progress events and
 * leaves a session with its events in the store; errors are recorded with their one-line sentence.
 */
import { EventEmitter } from "node:events";
import { toGefyraError } from "../errors";
import type { SessionKind, Store } from "../../store";

export interface SessionRef {
  kind: SessionKind;
  context?: string | null;
  namespace?: string | null;
  /** connection name, container name, bridge name */
  target?: string | null;
}

export interface SessionRecorder {
  readonly id: string;
  event(type: string, message: string, data?: unknown): Promise<void>;
  end(reason: string): Promise<void>;
}

/** Starts a session, or continues the open one for the same kind, context and target. */
export async function openSession(store: Store, ref: SessionRef): Promise<SessionRecorder> {
  const existing = await findOpenSession(store, ref);
  const session = existing ?? (await store.startSession({ kind: ref.kind, context: ref.context ?? null, namespace: ref.namespace ?? null, target: ref.target ?? null }));
  return recorder(store, session.id, ref);
}

/** A session event as every open tab sees it, live (another tab's `up` shows here step by step). */
export interface SessionActivity {
  sessionId: string;
  kind: SessionKind;
  context: string | null;
  target: string | null;
  type: string;
  message: string;
  at: string;
}

const activity = new EventEmitter();
activity.setMaxListeners(0);

/** Session events recorded from now on (optionally of one kind and context), until `signal` aborts. At most 1000 wait for a slow client. */
export async function* sessionActivity(signal: AbortSignal | undefined, filter: { kind?: SessionKind; context?: string } = {}): AsyncGenerator<SessionActivity> {
  const queue: SessionActivity[] = [];
  let wake: (() => void) | null = null;
  const listener = (a: SessionActivity) => {
    if ((filter.kind && a.kind !== filter.kind) || (filter.context && a.context !== filter.context)) return;
    queue.push(a);
    if (queue.length > 1000) queue.shift();
    wake?.();
  };
  const onAbort = () => wake?.();
  activity.on("activity", listener);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    while (!signal?.aborted) {
      const next = queue.shift();
      if (next) yield next;
      else await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
  } finally {
    activity.off("activity", listener);
    signal?.removeEventListener("abort", onAbort);
  }
}

export async function findOpenSession(store: Store, ref: SessionRef): Promise<{ id: string } | undefined> {
  const open = await store.listSessions({ kind: ref.kind, activeOnly: true, limit: 1000 });
  return open.find((s) => (ref.context === undefined || s.context === ref.context) && (ref.target === undefined || s.target === ref.target));
}

function recorder(store: Store, id: string, ref: SessionRef): SessionRecorder {
  return {
    id,
    // the store is history, not the operation: a failed write must not fail an up or a run
    event: async (type, message, data) => {
      await store.recordSessionEvent(id, { type, message, ...(data === undefined ? {} : { data }) }).catch(() => undefined);
      const published: SessionActivity = { sessionId: id, kind: ref.kind, context: ref.context ?? null, target: ref.target ?? null, type, message, at: new Date().toISOString() };
      activity.emit("activity", published);
    },
    end: async (reason) => {
      await store.endSession(id, reason).catch(() => undefined);
    },
  };
}

export type OperationEvent<P, R> =
  | { type: "progress"; at: string; progress: P }
  | { type: "done"; at: string; result: R; sessionId: string | null }
  | { type: "error"; at: string; error: { code: string; message: string; details?: Record<string, string> }; sessionId: string | null };

export interface StreamOperationOptions<P, R> {
  signal?: AbortSignal;
  /** The core call; it must honour the signal it is given. */
  run: (onProgress: (p: P) => void, signal: AbortSignal) => Promise<R>;
  /** Where progress, the result and errors are recorded (none: not recorded). */
  session?: () => Promise<SessionRecorder>;
  /** What to record for a progress event (type, message); undefined: not recorded. */
  describeProgress?: (p: P) => { type: string; message: string } | undefined;
  /** The event recorded when the operation succeeded, and whether it ends the session. */
  describeResult?: (r: R) => { type: string; message: string; endSession?: string };
  /** Most progress events kept while the client is slow; older ones are dropped. Default 1000. */
  maxQueued?: number;
}

/**
 * Runs a core operation and yields its progress, then `done` or `error` (never throws for the
 * operation's own failure: the error is an event the screen shows). Aborting `signal` (the client
 * unsubscribed or pressed Cancel) aborts the operation.
 */
export async function* streamOperation<P, R>(options: StreamOperationOptions<P, R>): AsyncGenerator<OperationEvent<P, R>> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) return;
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const max = options.maxQueued ?? 1000;
  const queue: Array<OperationEvent<P, R>> = [];
  let finished = false;
  let wake: (() => void) | null = null;
  const push = (event: OperationEvent<P, R>) => {
    queue.push(event);
    if (queue.length > max) queue.splice(queue.findIndex((e) => e.type === "progress"), 1);
    wake?.();
    wake = null;
  };
  const now = () => new Date().toISOString();
  let session: SessionRecorder | null = null;
  try {
    session = options.session ? await options.session() : null;
  } catch {
    session = null;
  }
  const sessionId = session?.id ?? null;
  const work = options
    .run((p) => {
      push({ type: "progress", at: now(), progress: p });
      const d = options.describeProgress?.(p);
      if (d && session) void session.event(d.type, d.message, p);
    }, controller.signal)
    .then(
      async (result) => {
        const d = options.describeResult?.(result);
        if (d && session) {
          await session.event(d.type, d.message);
          if (d.endSession) await session.end(d.endSession);
        }
        push({ type: "done", at: now(), result, sessionId });
      },
      async (error: unknown) => {
        const e = controller.signal.aborted ? toGefyraError(error, "CANCELLED", "Cancelled") : toGefyraError(error);
        if (session) {
          await session.event("error", e.message, e.toJSON());
          await session.end(controller.signal.aborted ? `cancelled: ${e.message}` : `failed: ${e.message}`);
        }
        push({ type: "error", at: now(), error: e.toJSON(), sessionId });
      },
    )
    .finally(() => {
      finished = true;
      wake?.();
      wake = null;
    });
  try {
    for (;;) {
      const next = queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if (finished) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
    await work;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    // the client went away before the end: stop the work (it rolls back by itself)
    if (!finished) controller.abort(new Error("the dashboard cancelled the operation"));
  }
}
