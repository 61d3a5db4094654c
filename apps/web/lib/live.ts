"use client";
/**
 * The state of the live connection (the one WebSocket every subscription rides on), for the header
 * and for operations that must not outlive it.
 *
 * The server closes sockets with 1012 "server restarting" when it shuts down (SIGTERM, Ctrl-C);
 * the tRPC client then reconnects with back-off and subscribes again. A restarted server has a new
 * access token, so a tab whose reconnects keep failing asks the server over HTTP whether its cookie
 * is still good: 401 means the developer has to open the URL the new server printed.
 */
import { useSyncExternalStore } from "react";

/** Must match apps/server/src/http/server.ts WS_CLOSE_RESTART. */
export const CLOSE_SERVER_RESTART = 1012;

export type LiveState =
  /** not connected yet (first connect) */
  | "connecting"
  | "live"
  /** the server said it is restarting; reconnecting */
  | "restarting"
  /** the socket dropped without notice; reconnecting */
  | "down"
  /** the server answers, but not to our token: it was restarted with a new one */
  | "signed-out";

let state: LiveState = "connecting";
const listeners = new Set<() => void>();
/** Called on every close of the socket (operations in flight end there). */
const closeListeners = new Set<() => void>();

function set(next: LiveState): void {
  if (next === state) return;
  state = next;
  for (const l of listeners) l();
}

export function socketOpened(): void {
  set("live");
}

let probing = false;
export function socketClosed(code: number | undefined): void {
  for (const l of closeListeners) l();
  // 1000/1005: this tab closed an idle socket itself (lazy mode); the next subscription reopens it
  if (code === 1000 || code === 1005) return set("connecting");
  if (code === CLOSE_SERVER_RESTART) set("restarting");
  else if (state !== "restarting" && state !== "signed-out") set("down");
  if (probing) return;
  probing = true;
  // a failed reconnect looks the same whether the server is down or refuses our token: ask over HTTP
  fetch("/api/trpc/health.info", { cache: "no-store" })
    .then((res) => {
      if (res.status === 401) set("signed-out");
    })
    .catch(() => undefined)
    .finally(() => (probing = false));
}

/** Runs `listener` whenever the socket closes; returns the unsubscribe. */
export function onSocketClosed(listener: () => void): () => void {
  closeListeners.add(listener);
  return () => closeListeners.delete(listener);
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useLiveState(): LiveState {
  return useSyncExternalStore(
    subscribe,
    () => state,
    () => "connecting",
  );
}

/** Reconnect delays: quick at first (a restart takes a few seconds), then every 4 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(250 * 2 ** attempt, 4000);
}
