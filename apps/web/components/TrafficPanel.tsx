"use client";
/**
 * The traffic inspector: every request that crosses the context's bridges, live (from each bridged
 * pod's Carrier, through the server), or a past session's from the history. Filter language as in
 * the CLI (docs/traffic.md), pause without losing records, details with replay / edit / compare,
 * HAR export of the selection, charts over time, and the bridge sessions with their figures.
 */
import { useQuery } from "@tanstack/react-query";
import { useCallback, useMemo, useState } from "react";
import { useBridges } from "../lib/bridges";
import { useSelection } from "../lib/selection";
import { download, useFilter, useLiveTraffic } from "../lib/traffic";
import { useTRPC, useTRPCClient } from "../lib/trpc";
import type { FeedRecord, TrafficSessionDto, TrafficStatus } from "../lib/traffic-types";
import { RecordDetails } from "./traffic/RecordDetails";
import { RecordList } from "./traffic/RecordList";
import { TrafficCharts } from "./traffic/TrafficCharts";
import { TrafficHistory } from "./traffic/TrafficHistory";
import styles from "./traffic/traffic.module.css";

function FeedState({ status }: { status: TrafficStatus | null }) {
  if (!status) return <p className={styles.feedStatus}>Connecting to the bridges' Carriers…</p>;
  if (status.error) return <p className="error">{status.error}</p>;
  if (status.bridges.length === 0) return <p className={styles.feedStatus}>No bridges in this context: start one on the Bridges screen (or gefyra bridge); its requests show here as they happen.</p>;
  return (
    <ul className={styles.feedStatus} aria-label="Feed status" style={{ listStyle: "none", padding: 0 }}>
      {status.bridges.map((b) => {
        const live = b.pods.filter((p) => p.state === "live").length;
        const c = b.counts;
        const notes = [c.sampled ? `${c.sampled} sampled` : "", c.dropped ? `${c.dropped} counted but not kept (Carrier sampled)` : "", c.missed ? `${c.missed} missed` : "", c.notStored ? `${c.notStored} not stored` : ""].filter(Boolean);
        return (
          <li key={b.name}>
            <span className="mono">{b.name}</span>: {live}/{b.pods.length} pod(s) live · {c.records} request(s)
            {notes.length ? <span className={styles.warn}> · {notes.join(" · ")}</span> : null}
            {b.recording ? " · recorded" : <span className={styles.warn}> · {b.recordingMessage ?? "not recorded"}</span>}
            {b.pods
              .filter((p) => p.state !== "live" && p.message)
              .map((p) => (
                <span key={p.name} className={styles.warn}>
                  {" "}
                  · {p.name}: {p.message}
                </span>
              ))}
          </li>
        );
      })}
    </ul>
  );
}

export function TrafficPanel() {
  const { context } = useSelection();
  if (!context) {
    return (
      <section className="panel" aria-labelledby="traffic-heading">
        <h2 id="traffic-heading">Traffic</h2>
        <p className="empty">Pick a context in the Contexts panel to see its bridges' requests.</p>
      </section>
    );
  }
  return <Inspector context={context} />;
}

function Inspector({ context }: { context: string }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const { bridges } = useBridges();
  const [bridge, setBridge] = useState<string>("");
  const [filterText, setFilterText] = useState("");
  const filter = useFilter(filterText);
  const match = filter.ok ? filter.match : null;
  const [session, setSession] = useState<TrafficSessionDto | null>(null);
  const live = useLiveTraffic(context, bridge || null, match);

  // a past session: its stored requests (newest 5000), filtered here like the live list
  const stored = useQuery({
    ...trpc.traffic.list.queryOptions({ context, source: "store", sessionId: session?.id ?? "-", limit: 5000 }),
    enabled: Boolean(session),
  });
  const storedRows = useMemo(() => {
    const rows = [...(stored.data?.records ?? [])].reverse();
    return match ? rows.filter(match) : rows;
  }, [stored.data, match]);

  const rows: FeedRecord[] = session ? storedRows : live.shown;
  const version = session ? (stored.dataUpdatedAt ?? 0) : live.version;
  const [selected, setSelected] = useState<FeedRecord | null>(null);
  const [checked, setChecked] = useState<Set<string>>(new Set());
  const [harState, setHarState] = useState<string | null>(null);

  const exportHar = async () => {
    const ids = checked.size ? [...checked] : rows.slice(-5000).map((r) => r.id);
    if (ids.length === 0) return;
    setHarState("Exporting…");
    try {
      const { har, missing } = await client.traffic.har.query({ context, ids: ids.slice(0, 5000) });
      download(`gefyra-traffic-${new Date().toISOString().replace(/[:.]/g, "-")}.har`, JSON.stringify(har, null, 2));
      setHarState(`Exported ${har.log.entries.length} request(s) as HAR 1.2${missing ? `; ${missing} no longer held (open them from History)` : ""}.`);
    } catch (e) {
      setHarState(`Export failed: ${(e as Error).message}`);
    }
  };

  const bridgeNames = useMemo(() => bridges.map((b) => b.name), [bridges]);
  const openSession = useCallback((s: TrafficSessionDto) => {
    setSession(s);
    setSelected(null);
    setChecked(new Set());
  }, []);
  return (
    <>
      <section className="panel" aria-labelledby="traffic-heading">
        <div className={styles.sectionHead}>
          <h2 id="traffic-heading">{session ? `Requests of ${session.target ?? "session"} (history)` : "Traffic"}</h2>
          {session ? (
            <button type="button" className="button button-small" onClick={() => setSession(null)}>
              Back to live
            </button>
          ) : null}
        </div>
        <div className={styles.toolbar}>
          {!session ? (
            <label className="field">
              Bridge
              <select className="input" aria-label="Bridge" value={bridge} onChange={(e) => setBridge(e.target.value)}>
                <option value="">all bridges</option>
                {bridgeNames.map((b) => (
                  <option key={b} value={b}>
                    {b}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          <label className="field field-grow">
            Filter
            <input
              className={`input ${styles.filter}`}
              aria-label="Filter"
              aria-invalid={!filter.ok}
              aria-describedby={!filter.ok ? "traffic-filter-error" : undefined}
              placeholder="method:POST status:>=500 path:/api header:x-user=me dur:>200ms"
              value={filterText}
              spellCheck={false}
              onChange={(e) => setFilterText(e.target.value)}
            />
          </label>
          <div className="buttons">
            {!session ? (
              <button type="button" className={`button ${live.paused ? "button-on" : ""}`} aria-pressed={live.paused} onClick={() => live.setPaused(!live.paused)}>
                {live.paused ? `Resume${live.held ? ` (${live.held} new)` : ""}` : "Pause"}
              </button>
            ) : null}
            {!session ? (
              <button
                type="button"
                className="button"
                onClick={() => {
                  live.clear();
                  setChecked(new Set());
                  setSelected(null);
                }}
              >
                Clear
              </button>
            ) : null}
            <button type="button" className="button" disabled={rows.length === 0} onClick={() => void exportHar()}>
              {checked.size ? `Export HAR (${checked.size} selected)` : `Export HAR (${Math.min(rows.length, 5000)} shown)`}
            </button>
          </div>
        </div>
        {!filter.ok ? (
          <div id="traffic-filter-error" role="alert" aria-label="Filter problem">
            <p className="error">{filter.error}</p>
            <p className={styles.filterError} aria-hidden="true">
              {filterText}
              {"\n"}
              {" ".repeat(Math.max(0, filter.column - 1))}^
            </p>
          </div>
        ) : null}
        {harState ? (
          <p className="small muted" role="status">
            {harState}
          </p>
        ) : null}
        {!session ? <FeedState status={live.status} /> : null}
        {live.error && !session ? <p className="error">{live.error}</p> : null}
        <p className="small muted" role="status" aria-label="List summary">
          {rows.length} shown
          {session ? ` of ${stored.data?.records.length ?? 0} stored` : ` of ${live.total}`}
          {!session && live.paused ? ` · paused, ${live.held} held` : ""}
          {!session && live.missed ? ` · ${live.missed} not sent to this tab (too slow; they are in History)` : ""}
          {!session && live.letGo ? ` · ${live.letGo} older let go (they are in History)` : ""}
          {session && stored.data?.more ? " · newest 5000" : ""}
        </p>
        {stored.error && session ? <p className="error">{stored.error.message}</p> : null}
        <div className={styles.split}>
          <RecordList
            label={session ? "Stored requests" : "Live requests"}
            rows={rows}
            version={version}
            base={session ? 0 : live.shownBase}
            selectedId={selected?.id ?? null}
            onSelect={setSelected}
            checked={checked}
            onCheck={(id, on) =>
              setChecked((c) => {
                const next = new Set(c);
                if (on) next.add(id);
                else next.delete(id);
                return next;
              })
            }
            onCheckAll={(on) => setChecked(on ? new Set(rows.map((r) => r.id)) : new Set())}
            empty={session ? "No stored requests match." : filterText ? "No request matches the filter yet." : "No requests yet: send one through a bridged Service."}
          />
          {selected ? (
            <RecordDetails key={selected.id} context={context} id={selected.id} initial={selected} />
          ) : (
            <p className="muted small">Pick a request to see its headers, bodies and timing, replay it or compare the local answer with the original's.</p>
          )}
        </div>
      </section>
      <TrafficCharts bridges={bridgeNames} />
      <TrafficHistory
        context={context}
        openedId={session?.id ?? null}
        openSession={openSession}
      />
    </>
  );
}
