"use client";
/**
 * The live workload list of a context: the subscription's snapshot fills a Map, each batch of
 * changes patches it in place; the sorted array (and a lower-cased search text per row) is
 * rebuilt only when something changed.
 */
import { useSubscription } from "@trpc/tanstack-react-query";
import { useMemo, useRef, useState } from "react";
import { isMarker } from "./stream";
import { useTRPC } from "./trpc";
import type { FeedMessage, FeedStatus, StreamMarker, WorkloadRow } from "./types";

export interface IndexedRow extends WorkloadRow {
  search: string;
}

const KIND_ORDER: Record<string, number> = { Deployment: 0, StatefulSet: 1, Pod: 2, Service: 3, Namespace: 4 };

function indexed(row: WorkloadRow): IndexedRow {
  return { ...row, search: `${row.kind} ${row.namespace}/${row.name} ${row.status} ${row.ip} ${row.ports.join(" ")} ${row.images.join(" ")}`.toLowerCase() };
}

export function useWorkloads(context: string | null, namespace: string) {
  const trpc = useTRPC();
  const rows = useRef(new Map<string, IndexedRow>());
  const [version, setVersion] = useState(0);
  const [status, setStatus] = useState<FeedStatus | null>(null);
  const [snapshotAt, setSnapshotAt] = useState<number | null>(null);
  // the server dropped changes this tab was too slow for; a full snapshot is on its way
  const [resyncing, setResyncing] = useState(false);

  const sub = useSubscription(
    trpc.workloads.watch.subscriptionOptions(
      { context: context ?? "", namespace },
      {
        enabled: Boolean(context),
        onStarted: () => {
          rows.current = new Map();
          setSnapshotAt(null);
        },
        onData: (message: FeedMessage | StreamMarker) => {
          if (isMarker(message)) {
            if (message.stream === "resync") setResyncing(true);
            return;
          }
          if (message.type === "snapshot") {
            rows.current = new Map(message.rows.map((r) => [r.key, indexed(r)]));
            setStatus(message.status);
            setSnapshotAt(performance.now());
            setResyncing(false);
          } else {
            for (const key of message.deletes) rows.current.delete(key);
            for (const row of message.upserts) rows.current.set(row.key, indexed(row));
            if (message.status) setStatus(message.status);
          }
          setVersion((v) => v + 1);
        },
      },
    ),
  );

  const { workloads, namespaces } = useMemo(() => {
    const workloads: IndexedRow[] = [];
    const namespaces: string[] = [];
    for (const row of rows.current.values()) {
      if (row.kind === "Namespace") namespaces.push(row.name);
      else workloads.push(row);
    }
    workloads.sort((a, b) => a.namespace.localeCompare(b.namespace) || (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9) || a.name.localeCompare(b.name));
    namespaces.sort();
    return { workloads, namespaces };
    // version is the change counter of the Map patched in place
  }, [version]);

  return { workloads, namespaces, status, loaded: snapshotAt !== null, resyncing, subscription: sub };
}
