"use client";
/**
 * A long server operation (up, down, uninstall, run) as a subscription of typed progress events:
 * `start()` subscribes, every event is kept for the progress list, `cancel()` unsubscribes (the
 * server aborts the operation, which rolls back).
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { onSocketClosed } from "./live";
import { isMarker } from "./stream";
import type { OperationEvent, StreamMarker } from "./types";

interface Unsubscribable {
  unsubscribe: () => void;
}

export interface SubscribeHandlers<P, R> {
  onData: (event: OperationEvent<P, R> | StreamMarker) => void;
  onError: (error: { message: string }) => void;
  onComplete: () => void;
}

export interface OperationState<P, R> {
  phase: "idle" | "running" | "done" | "failed" | "cancelled";
  label: string;
  events: Array<OperationEvent<P, R>>;
  /** Progress events the server dropped while this tab was too slow to take them. */
  missed: number;
  result: R | null;
  error: string | null;
}

export function useOperation<P, R>(onFinished?: (state: OperationState<P, R>) => void) {
  const [state, setState] = useState<OperationState<P, R>>({ phase: "idle", label: "", events: [], missed: 0, result: null, error: null });
  const sub = useRef<Unsubscribable | null>(null);
  const finished = useRef(onFinished);
  finished.current = onFinished;

  useEffect(() => () => sub.current?.unsubscribe(), []);
  // The server cancels an operation whose socket closed (restart, lost network); the tRPC client
  // would send the subscription again on reconnect and so start the operation a second time.
  useEffect(
    () =>
      onSocketClosed(() => {
        if (!sub.current) return;
        sub.current.unsubscribe();
        sub.current = null;
        setState((s) => {
          if (s.phase !== "running") return s;
          const next: OperationState<P, R> = { ...s, phase: "failed", error: "The connection to the server was lost, so the server cancelled this and rolled it back: check the state and start it again." };
          queueMicrotask(() => finished.current?.(next));
          return next;
        });
      }),
    [],
  );

  const start = useCallback((label: string, subscribe: (handlers: SubscribeHandlers<P, R>) => Unsubscribable) => {
    sub.current?.unsubscribe();
    setState({ phase: "running", label, events: [], missed: 0, result: null, error: null });
    const finish = (patch: Partial<OperationState<P, R>>) => {
      setState((s) => {
        const next = { ...s, ...patch };
        queueMicrotask(() => finished.current?.(next));
        return next;
      });
      sub.current?.unsubscribe();
      sub.current = null;
    };
    sub.current = subscribe({
      onData: (event) => {
        if (isMarker(event)) {
          setState((s) => ({ ...s, missed: s.missed + event.missed }));
          return;
        }
        setState((s) => ({ ...s, events: [...s.events, event] }));
        if (event.type === "done") finish({ phase: "done", result: event.result });
        else if (event.type === "error") finish({ phase: "failed", error: event.error.message });
      },
      onError: (error) => finish({ phase: "failed", error: error.message }),
      onComplete: () => setState((s) => (s.phase === "running" ? { ...s, phase: "failed", error: "The server ended the operation without a result: see the server log." } : s)),
    });
  }, []);

  const cancel = useCallback(() => {
    sub.current?.unsubscribe();
    sub.current = null;
    setState((s) => ({ ...s, phase: "cancelled", error: "Cancelled: what was made so far is being rolled back." }));
  }, []);

  return { state, start, cancel };
}
