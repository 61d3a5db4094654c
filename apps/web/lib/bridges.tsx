"use client";
/**
 * The bridges of the selected context, live (one subscription per tab, shared by the Bridges
 * screen and the workloads list that marks bridged workloads).
 */
import { useSubscription } from "@trpc/tanstack-react-query";
import { createContext, useContext, useMemo, useState, type ReactNode } from "react";
import { useSelection } from "./selection";
import { isMarker } from "./stream";
import { useTRPC } from "./trpc";
import type { BridgeInfo, BridgesMessage, StreamMarker, TargetKind } from "./types";

interface BridgesApi {
  bridges: BridgeInfo[];
  /** The list arrived at least once. */
  loaded: boolean;
  /** Why the list cannot be read (not installed, cluster away); retried by the server. */
  error: string | null;
  /** Bridges by workloads-row key (Deployment/ns/name, and the bridged pods). */
  byRowKey: Map<string, BridgeInfo[]>;
}

const BridgesContext = createContext<BridgesApi | null>(null);

const ROW_KIND: Record<TargetKind, string> = { deployment: "Deployment", statefulset: "StatefulSet", pod: "Pod" };

/** The workloads row key of a bridge's target (the same shape as the server's rowKey). */
export const targetRowKey = (b: Pick<BridgeInfo, "namespace" | "target">): string => `${ROW_KIND[b.target.kind]}/${b.namespace}/${b.target.name}`;

export function BridgesProvider({ children }: { children: ReactNode }) {
  const trpc = useTRPC();
  const { context } = useSelection();
  const [state, setState] = useState<{ context: string | null; bridges: BridgeInfo[]; loaded: boolean; error: string | null }>({ context: null, bridges: [], loaded: false, error: null });
  useSubscription(
    trpc.bridges.list.subscriptionOptions(
      { context: context ?? "" },
      {
        enabled: Boolean(context),
        onStarted: () => setState({ context, bridges: [], loaded: false, error: null }),
        onData: (m: BridgesMessage | StreamMarker) => {
          // a resync is followed by the current list
          if (isMarker(m)) return;
          if (m.type === "list") setState({ context, bridges: m.bridges, loaded: true, error: null });
          else setState((s) => ({ ...s, error: m.message }));
        },
      },
    ),
  );
  const api = useMemo<BridgesApi>(() => {
    const bridges = state.context === context ? state.bridges : [];
    const byRowKey = new Map<string, BridgeInfo[]>();
    const add = (key: string, b: BridgeInfo) => byRowKey.set(key, [...(byRowKey.get(key) ?? []), b]);
    for (const b of bridges) {
      add(targetRowKey(b), b);
      for (const pod of b.pods) if (b.target.kind !== "pod") add(`Pod/${b.namespace}/${pod.name}`, b);
    }
    return { bridges, loaded: state.loaded && state.context === context, error: state.error, byRowKey };
  }, [state, context]);
  return <BridgesContext.Provider value={api}>{children}</BridgesContext.Provider>;
}

export function useBridges(): BridgesApi {
  const api = useContext(BridgesContext);
  if (!api) throw new Error("useBridges outside BridgesProvider");
  return api;
}
