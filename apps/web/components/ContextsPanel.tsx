"use client";
import { useQuery } from "@tanstack/react-query";
import { useEffect } from "react";
import { useSelection } from "../lib/selection";
import { useTRPC } from "../lib/trpc";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "../lib/trpc";

type ContextSummary = inferRouterOutputs<AppRouter>["contexts"]["list"]["contexts"][number];

/**
 * Picks the kubeconfig's current context until the developer picks another. Mounted with the
 * dashboard itself, not with this panel, so that opening another screen first still gets a context.
 */
export function DefaultContext() {
  const trpc = useTRPC();
  const list = useQuery(trpc.contexts.list.queryOptions());
  const selection = useSelection();
  const contexts = list.data?.contexts;
  useEffect(() => {
    if (!contexts || contexts.length === 0) return;
    if (selection.context && contexts.some((c) => c.name === selection.context)) return;
    const pick = contexts.find((c) => c.current) ?? contexts[0];
    if (pick) selection.setContext(pick.name, pick.namespace);
  }, [contexts, selection]);
  return null;
}

/** Kubeconfig contexts (KUBECONFIG or ~/.kube/config) with the reachability of each API server. */
export function ContextsPanel() {
  const trpc = useTRPC();
  const list = useQuery(trpc.contexts.list.queryOptions());
  const selection = useSelection();

  return (
    <section className="panel" aria-labelledby="contexts-heading">
      <div className="panel-head">
        <h2 id="contexts-heading">Contexts</h2>
        <button type="button" className="button" onClick={() => void list.refetch()} disabled={list.isFetching}>
          {list.isFetching ? "Refreshing…" : "Refresh"}
        </button>
      </div>
      {list.isPending ? (
        <p className="muted" role="status">
          Reading kubeconfig…
        </p>
      ) : list.isError ? (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      ) : list.data.files.length === 0 ? (
        <div className="empty">
          <p>
            <strong>No kubeconfig found: set KUBECONFIG or create ~/.kube/config</strong>
          </p>
          <p className="muted">Looked at {list.data.searched.join(", ")}.</p>
        </div>
      ) : list.data.contexts.length === 0 ? (
        <div className="empty">
          <p>
            <strong>Your kubeconfig has no contexts.</strong>
          </p>
          <p className="muted">Read {list.data.files.join(", ")}; add a context with kubectl config set-context.</p>
        </div>
      ) : (
        <>
          <ul className="contexts" aria-label="Kubeconfig contexts">
            {list.data.contexts.map((c) => (
              <ContextRow key={c.name} context={c} selected={c.name === selection.context} onSelect={() => selection.setContext(c.name, c.namespace)} />
            ))}
          </ul>
          <p className="muted small">From {list.data.files.join(", ")}</p>
        </>
      )}
    </section>
  );
}

function ContextRow({ context, selected, onSelect }: { context: ContextSummary; selected: boolean; onSelect: () => void }) {
  const trpc = useTRPC();
  const check = useQuery({ ...trpc.contexts.check.queryOptions({ context: context.name }), staleTime: 15_000, refetchInterval: 30_000 });
  let state: { tone: "ok" | "bad" | "wait"; text: string; detail?: string };
  if (check.isPending) state = { tone: "wait", text: "Checking…" };
  else if (check.isError) state = { tone: "bad", text: "Check failed", detail: check.error.message };
  else if (check.data.reachable) state = { tone: "ok", text: `Reachable${check.data.version ? ` · ${check.data.version}` : ""}` };
  else state = { tone: "bad", text: "Unreachable", detail: check.data.error.message };

  return (
    <li className={`context${selected ? " context-selected" : ""}`} aria-label={context.name} aria-current={selected ? "true" : undefined}>
      <div className="context-main">
        <span className="context-name">{context.name}</span>
        {context.current ? <span className="badge">current</span> : null}
        {selected ? (
          <span className="badge badge-solid">selected</span>
        ) : (
          <button type="button" className="button button-small" onClick={onSelect} aria-label={`Use context ${context.name}`}>
            Use
          </button>
        )}
        <span className="muted small">
          {context.server ?? "no server"}
          {context.namespace ? ` · namespace ${context.namespace}` : ""}
        </span>
      </div>
      <div className="context-status">
        <span className={`pill pill-${state.tone}`}>{state.text}</span>
        {state.detail ? <p className="small detail">{state.detail}</p> : null}
      </div>
    </li>
  );
}
