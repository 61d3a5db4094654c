"use client";
import { useDeferredValue, useMemo, useState } from "react";
import { useBridges } from "../lib/bridges";
import { useSelection } from "../lib/selection";
import { age } from "../lib/time";
import type { WorkloadKind } from "../lib/types";
import { useNow } from "../lib/useNow";
import { useWorkloads, type IndexedRow } from "../lib/useWorkloads";
import { VirtualTable, type Column } from "./VirtualTable";

const KINDS: Array<{ kind: WorkloadKind | "all"; label: string }> = [
  { kind: "all", label: "All" },
  { kind: "Deployment", label: "Deployments" },
  { kind: "StatefulSet", label: "StatefulSets" },
  { kind: "Pod", label: "Pods" },
  { kind: "Service", label: "Services" },
];

/** Every Deployment, StatefulSet, Pod and Service of the selected context and namespace, live from the cluster's watches. */
export function WorkloadsPanel({ onBridge }: { onBridge?: (rowKey: string) => void }) {
  const { context, namespace, setNamespace } = useSelection();
  const { workloads, namespaces, status, loaded, resyncing, subscription } = useWorkloads(context, namespace);
  const [kind, setKind] = useState<WorkloadKind | "all">("all");
  const [query, setQuery] = useState("");
  const deferred = useDeferredValue(query);
  const now = useNow(10_000);
  const { byRowKey } = useBridges();

  const shown = useMemo(() => {
    const words = deferred.toLowerCase().split(/\s+/).filter(Boolean);
    return workloads.filter((r) => (kind === "all" || r.kind === kind) && words.every((w) => r.search.includes(w)));
  }, [workloads, kind, deferred]);

  const columns = useMemo<Column<IndexedRow>[]>(
    () => [
      { key: "kind", header: "Kind", width: "7.5rem", render: (r) => <span className={`kind kind-${r.kind}`}>{r.kind}</span> },
      { key: "name", header: "Name", width: "minmax(10rem, 2fr)", render: (r) => <span className="mono" title={`${r.namespace}/${r.name}`}>{namespace ? r.name : `${r.namespace}/${r.name}`}</span> },
      { key: "ready", header: "Ready", width: "4rem", render: (r) => <span className={r.healthy ? "ok" : "bad"}>{r.ready || "–"}</span> },
      { key: "status", header: "Status", width: "minmax(6rem, 1fr)", render: (r) => <span className={r.healthy ? "" : "bad"}>{r.status}</span> },
      { key: "ports", header: "Ports", width: "minmax(6rem, 1.3fr)", render: (r) => <span className="mono small" title={r.ports.join(", ")}>{r.ports.join(", ") || "–"}</span> },
      { key: "ip", header: "IP", width: "7rem", render: (r) => <span className="mono small">{r.ip || "–"}</span> },
      {
        key: "bridge",
        header: "Bridge",
        width: "minmax(6rem, 1fr)",
        render: (r) => {
          const on = byRowKey.get(r.key);
          if (on) {
            return (
              <span className="bridged small" title={on.map((b) => `${b.name}: ${b.state}${b.message ? ` (${b.message})` : ""}`).join("\n")} aria-label={`Bridged by ${on.map((b) => b.name).join(", ")}`}>
                ⇄ {on.map((b) => `${b.name}${b.state === "Active" ? "" : ` (${b.state})`}`).join(", ")}
              </span>
            );
          }
          return onBridge && r.kind !== "Service" ? (
            <button type="button" className="button button-small" aria-label={`Bridge ${r.namespace}/${r.name}`} onClick={() => onBridge(r.key)}>
              Bridge…
            </button>
          ) : (
            <span className="muted small">–</span>
          );
        },
      },
      { key: "age", header: "Age", width: "4rem", render: (r) => <span className="muted small">{r.created ? age(r.created, now) : ""}</span> },
    ],
    [namespace, now, byRowKey, onBridge],
  );

  if (!context) {
    return (
      <section className="panel" aria-labelledby="workloads-heading">
        <h2 id="workloads-heading">Workloads</h2>
        <p className="empty">Pick a context in the Contexts panel to see its workloads.</p>
      </section>
    );
  }

  return (
    <section className="panel panel-wide" aria-labelledby="workloads-heading">
      <div className="panel-head">
        <h2 id="workloads-heading">Workloads</h2>
        <span className="muted small" role="status" aria-label="Workloads count">
          {loaded ? `${shown.length} of ${workloads.length}` : "Loading…"}
        </span>
      </div>
      <div className="toolbar">
        <label className="field field-inline">
          <span>Namespace</span>
          <select className="input" value={namespace} onChange={(e) => setNamespace(e.target.value)}>
            <option value="">All namespaces</option>
            {namespace && !namespaces.includes(namespace) ? <option value={namespace}>{namespace}</option> : null}
            {namespaces.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <div className="segmented" role="group" aria-label="Kind">
          {KINDS.map((k) => (
            <button key={k.kind} type="button" className={`button button-small${kind === k.kind ? " button-on" : ""}`} aria-pressed={kind === k.kind} onClick={() => setKind(k.kind)}>
              {k.label}
            </button>
          ))}
        </div>
        <label className="field field-inline field-grow">
          <span>Filter</span>
          <input className="input" type="search" placeholder="name, status, image, port…" value={query} onChange={(e) => setQuery(e.target.value)} aria-label="Filter workloads" />
        </label>
      </div>
      {subscription.status === "error" ? (
        <p className="error" role="alert">
          {subscription.error?.message}
        </p>
      ) : null}
      {resyncing ? (
        <p className="muted small" role="status" aria-label="Workloads resync">
          This tab fell behind the cluster&apos;s changes: the list is being read again…
        </p>
      ) : null}
      {status?.errors.map((e) => (
        <p key={e.kind} className="error" role="alert">
          {e.message}
        </p>
      ))}
      {!loaded ? (
        subscription.status === "error" ? null : (
          <p className="muted" role="status">
            Listing workloads in {namespace || "all namespaces"} of {context}…
          </p>
        )
      ) : (
        <VirtualTable
          label="Workloads"
          rows={shown}
          columns={columns}
          rowKey={(r) => r.key}
          empty={
            <p className="muted">
              {workloads.length === 0 ? `No Deployments, StatefulSets, Pods or Services in ${namespace || "any namespace"}.` : "Nothing matches the filter."}
            </p>
          }
        />
      )}
    </section>
  );
}
