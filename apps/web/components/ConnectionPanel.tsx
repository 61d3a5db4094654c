"use client";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useEffect, useState } from "react";
import { useSelection } from "../lib/selection";
import { ago } from "../lib/time";
import { useTRPC, useTRPCClient } from "../lib/trpc";
import { isMarker } from "../lib/stream";
import type { ConnectionReport, ConnectionSummary, DownProgress, DownResult, SessionActivity, StreamMarker, UninstallProgress, UpProgress } from "../lib/types";
import { useNow } from "../lib/useNow";
import { useOperation } from "../lib/useOperation";
import { ProgressLog } from "./ProgressLog";

type AnyProgress = UpProgress | DownProgress | UninstallProgress;
type AnyResult = ConnectionSummary | DownResult | { context: string };

const describe = (p: AnyProgress): string => ("step" in p ? `${p.step}: ${p.message}` : p.message);

/** The selected context's gefyra-ts installation and this machine's connection: up, down, uninstall. */
export function ConnectionPanel() {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const { context, connectionName, setConnectionName } = useSelection();
  const defaults = useQuery(trpc.connection.defaults.queryOptions());
  const [nameDraft, setNameDraft] = useState<string>("");
  const name = connectionName ?? defaults.data?.name ?? "";
  useEffect(() => setNameDraft(name), [name]);

  const status = useQuery({
    ...trpc.connection.status.queryOptions({ context: context ?? "" }),
    enabled: Boolean(context),
    // tunnel health (handshake, heartbeat) changes by itself; ages tick on the client in between
    refetchInterval: 15_000,
    retry: false,
  });
  const op = useOperation<AnyProgress, AnyResult>(() => void queryClient.invalidateQueries({ queryKey: trpc.connection.status.queryKey() }));
  const now = useNow();
  const running = op.state.phase === "running";
  // what other tabs (and this one) do with connections here: the state follows at once
  const [latest, setLatest] = useState<SessionActivity | null>(null);
  useSubscription(
    trpc.connection.activity.subscriptionOptions(
      { context: context ?? "" },
      {
        enabled: Boolean(context),
        onData: (a: SessionActivity | StreamMarker) => {
          // some activity was dropped while this tab was slow: read the state again
          if (isMarker(a)) return void queryClient.invalidateQueries({ queryKey: trpc.connection.status.queryKey() });
          setLatest(a);
          if (!a.type.includes(".")) void queryClient.invalidateQueries({ queryKey: trpc.connection.status.queryKey() });
        },
      },
    ),
  );

  if (!context) {
    return (
      <section className="panel" aria-labelledby="connection-heading">
        <h2 id="connection-heading">Connection</h2>
        <p className="empty">Pick a context in the Contexts panel to connect to its cluster.</p>
      </section>
    );
  }

  const mine = status.data?.connections.find((c) => c.name === name);
  return (
    <section className="panel" aria-labelledby="connection-heading">
      <div className="panel-head">
        <h2 id="connection-heading">Connection</h2>
        <button type="button" className="button" onClick={() => void status.refetch()} disabled={status.isFetching}>
          {status.isFetching ? "Checking…" : "Check status"}
        </button>
      </div>
      <div className="form-row">
        <label className="field">
          <span>Connection name</span>
          <input
            className="input mono"
            value={nameDraft}
            onChange={(e) => setNameDraft(e.target.value)}
            onBlur={() => nameDraft && nameDraft !== name && setConnectionName(nameDraft)}
            disabled={running}
            spellCheck={false}
          />
        </label>
        <div className="buttons">
          <button
            type="button"
            className="button button-primary"
            disabled={running || !nameDraft}
            onClick={() => {
              setConnectionName(nameDraft);
              op.start(`Connecting ${nameDraft} to ${context}`, (h) => client.connection.up.subscribe({ context, name: nameDraft }, h));
            }}
          >
            Up
          </button>
          <button
            type="button"
            className="button"
            disabled={running || !nameDraft}
            onClick={() => op.start(`Disconnecting ${nameDraft}`, (h) => client.connection.down.subscribe({ context, name: nameDraft }, h))}
          >
            Down
          </button>
          <button
            type="button"
            className="button button-danger"
            disabled={running}
            onClick={() => {
              if (!window.confirm(`Uninstall gefyra-ts from ${context}? Every developer's connection to this cluster ends, and the operator, Stowaway and CRDs are removed.`)) return;
              op.start(`Uninstalling gefyra-ts from ${context}`, (h) => client.connection.uninstall.subscribe({ context }, h));
            }}
          >
            Uninstall
          </button>
          {running ? (
            <button type="button" className="button" onClick={op.cancel}>
              Cancel
            </button>
          ) : null}
        </div>
      </div>

      {status.isPending ? (
        <p className="muted" role="status">
          Reading the installation in {context}…
        </p>
      ) : status.isError ? (
        <p className="error" role="alert">
          {status.error.message}
        </p>
      ) : (
        <dl className="facts" aria-label="Connection state">
          <dt>Installed</dt>
          <dd>{status.data.installed ? `yes · operator ${status.data.operatorReady ? "ready" : "not ready"} · Stowaway ${status.data.stowawayReady ? "ready" : "not ready"}` : "no (Up installs it)"}</dd>
          <dt>This machine</dt>
          <dd>{mine ? <ConnectionHealth connection={mine} now={now} /> : <span>not connected as {name || "…"}</span>}</dd>
          {latest ? (
            <>
              <dt>Activity</dt>
              <dd className="small" aria-label="Latest activity">
                {latest.target ?? ""} {latest.type}: {latest.message} · {ago(latest.at, now)}
              </dd>
            </>
          ) : null}
          {status.data.connections.filter((c) => c.name !== name).length > 0 ? (
            <>
              <dt>Others</dt>
              <dd>
                {status.data.connections
                  .filter((c) => c.name !== name)
                  .map((c) => `${c.name} (${c.client}, ${c.phase})`)
                  .join(", ")}
              </dd>
            </>
          ) : null}
        </dl>
      )}

      <ProgressLog state={op.state} describe={describe} name="Connection progress" />
    </section>
  );
}

function ConnectionHealth({ connection, now }: { connection: ConnectionReport; now: number }) {
  const local = connection.local;
  const healthy = connection.phase === "Ready" && local?.running && local.lastHandshake !== null && now - new Date(local.lastHandshake).getTime() < 180_000;
  return (
    <span className="health" aria-label="Tunnel health">
      <span className={`pill ${healthy ? "pill-ok" : "pill-bad"}`}>{healthy ? "Connected" : connection.phase}</span>{" "}
      <span className="small">
        tunnel {connection.clientAddress ?? "?"} → {connection.endpoint ?? "?"} · handshake {ago(local?.lastHandshake, now)} · heartbeat {ago(connection.lastHeartbeat, now)}
        {local ? ` · Cargo ${local.cargoIp ?? "?"} ${local.running ? "running" : "stopped"}` : " · no Cargo on this machine"}
      </span>
    </span>
  );
}
