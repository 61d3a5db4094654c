"use client";
/** Bridge sessions of the context with their request counts and percentiles; one opens its stored requests in the list. */
import { useQuery } from "@tanstack/react-query";
import { memo } from "react";
import { useTRPC } from "../../lib/trpc";
import { formatMs } from "../../lib/traffic";
import type { TrafficSessionDto } from "../../lib/traffic-types";

/** Memoised: the live list re-renders its screen every frame under load; this does not need to. */
export const TrafficHistory = memo(function TrafficHistory({ context, openSession, openedId }: { context: string; openSession: (s: TrafficSessionDto) => void; openedId: string | null }) {
  const trpc = useTRPC();
  const sessions = useQuery({ ...trpc.traffic.sessions.queryOptions({ context, limit: 50 }), refetchInterval: 3000 });
  const rows = sessions.data ?? [];
  return (
    <section className="panel" aria-labelledby="traffic-history-heading">
      <div className="panel-head">
        <h2 id="traffic-history-heading">History</h2>
        <span className="small muted">bridge sessions in {context}</span>
      </div>
      {sessions.error ? <p className="error">{sessions.error.message}</p> : null}
      {rows.length === 0 ? (
        <p className="empty">No bridge sessions yet: a bridge's requests are recorded here while it runs.</p>
      ) : (
        <table className="table" aria-label="Bridge sessions">
          <thead>
            <tr>
              <th>Bridge</th>
              <th>Namespace</th>
              <th>Started</th>
              <th>Ended</th>
              <th>Requests</th>
              <th>Errors</th>
              <th>p50</th>
              <th>p95</th>
              <th>p99</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((s) => (
              <tr key={s.id} aria-label={`Session of ${s.target ?? "?"}`} aria-current={s.id === openedId ? "true" : undefined}>
                <td className="mono">{s.target}</td>
                <td>{s.namespace ?? "–"}</td>
                <td>{new Date(s.startedAt).toLocaleString()}</td>
                <td>{s.endedAt ? `${new Date(s.endedAt).toLocaleTimeString()}${s.stopReason ? ` (${s.stopReason})` : ""}` : <span className="ok">active</span>}</td>
                <td aria-label="Request count">{s.stats?.requests ?? 0}</td>
                <td>{s.stats?.errors ?? 0}</td>
                <td>{formatMs(s.stats?.latencyMs.p50)}</td>
                <td>{formatMs(s.stats?.latencyMs.p95)}</td>
                <td>{formatMs(s.stats?.latencyMs.p99)}</td>
                <td>
                  <button type="button" className="button button-small" onClick={() => openSession(s)} aria-label={`Show requests of ${s.target ?? "session"}`}>
                    Requests
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
});
