/**
 * The CLI records what it does in the same session history as the dashboard (one store, one
 * format), so `gefyra history` and the dashboard show CLI work too. History is a record, not the
 * operation: if the store cannot be opened, the command still runs and says so once on stderr.
 */
import { kubeConfigFor } from "../core/contexts";
import { toGefyraError } from "../core/errors";
import { findOpenSession, openSession, type SessionRef, type SessionRecorder } from "../core/sessions";
import { openStore, type Store } from "../store";

async function withStore<T>(work: (store: Store | undefined) => Promise<T>): Promise<T> {
  let store: Store | undefined;
  try {
    store = await openStore();
  } catch (error) {
    process.stderr.write(`gefyra: warning: session history not recorded (${toGefyraError(error).message})\n`);
  }
  try {
    return await work(store);
  } finally {
    await store?.close().catch(() => undefined);
  }
}

/** The context a command talks to, for the history; null when there is no kubeconfig. */
export function contextName(options: { kubeconfig?: string; context?: string }): string | null {
  try {
    return kubeConfigFor(options.context, options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}).context;
  } catch {
    return options.context ?? null;
  }
}

/**
 * Runs `work` inside the session `ref` (continuing an open one for the same target): records the
 * result's event (and ends the session if asked), or the error's sentence and ends it as failed.
 */
export async function recorded<T>(
  ref: SessionRef,
  work: (session: SessionRecorder | undefined) => Promise<T>,
  describe: (result: T) => { type: string; message: string; endSession?: string },
): Promise<T> {
  return withStore(async (store) => {
    const session = store ? await openSession(store, ref).catch(() => undefined) : undefined;
    try {
      const result = await work(session);
      const d = describe(result);
      await session?.event(d.type, d.message);
      if (d.endSession) await session?.end(d.endSession);
      return result;
    } catch (error) {
      const e = toGefyraError(error);
      await session?.event("error", e.message, { code: e.code });
      await session?.end("failed");
      throw error;
    }
  });
}

/** Adds an event to the open session of `ref`, if any (stop, rm), optionally ending it. */
export async function noteOnOpenSession(ref: SessionRef, type: string, message: string, endSession?: string): Promise<void> {
  await withStore(async (store) => {
    if (!store) return;
    const open = await findOpenSession(store, ref).catch(() => undefined);
    if (!open) return;
    await store.recordSessionEvent(open.id, { type, message }).catch(() => undefined);
    if (endSession) await store.endSession(open.id, endSession).catch(() => undefined);
  });
}
