"use client";
/**
 * Requests per second, latency p50/p95/p99 and error rate over a time range, per bridge, from
 * the stored records (refreshed every 2 s while the range ends now). Plain SVG.
 */
import { useQuery } from "@tanstack/react-query";
import { memo, startTransition, useEffect, useMemo, useState } from "react";
import { useTRPC } from "../../lib/trpc";
import { formatMs } from "../../lib/traffic";
import type { SeriesPoint } from "../../lib/traffic-types";
import styles from "./traffic.module.css";

const RANGES = [
  { id: "5m", label: "Last 5 minutes", ms: 5 * 60_000 },
  { id: "15m", label: "Last 15 minutes", ms: 15 * 60_000 },
  { id: "1h", label: "Last hour", ms: 3_600_000 },
  { id: "24h", label: "Last 24 hours", ms: 86_400_000 },
] as const;

interface Line {
  label: string;
  color: string;
  values: Array<number | null>;
}

function Chart({ title, lines, times, format }: { title: string; lines: Line[]; times: string[]; format: (v: number) => string }) {
  const W = 320;
  const H = 110;
  const pad = { l: 44, r: 6, t: 6, b: 16 };
  const max = Math.max(1e-9, ...lines.flatMap((l) => l.values.filter((v): v is number => v !== null)));
  const n = Math.max(times.length, 2);
  const x = (i: number) => pad.l + (i / (n - 1)) * (W - pad.l - pad.r);
  const y = (v: number) => H - pad.b - (v / max) * (H - pad.t - pad.b);
  const latest = lines.map((l) => `${l.label} ${(() => {
    const v = [...l.values].reverse().find((x): x is number => x !== null);
    return v === undefined ? "–" : format(v);
  })()}`);
  return (
    <figure className={styles.chart} style={{ margin: 0 }}>
      <h4>{title}</h4>
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label={`${title}: latest ${latest.join(", ")}; peak ${format(max)}`}>
        <line x1={pad.l} x2={W - pad.r} y1={H - pad.b} y2={H - pad.b} stroke="currentColor" strokeOpacity={0.3} />
        <line x1={pad.l} x2={W - pad.r} y1={pad.t} y2={pad.t} stroke="currentColor" strokeOpacity={0.1} />
        <text x={pad.l - 4} y={pad.t + 8} textAnchor="end" fontSize="9" fill="currentColor" opacity={0.7}>
          {format(max)}
        </text>
        <text x={pad.l - 4} y={H - pad.b} textAnchor="end" fontSize="9" fill="currentColor" opacity={0.7}>
          0
        </text>
        {times.length ? (
          <>
            <text x={pad.l} y={H - 3} fontSize="9" fill="currentColor" opacity={0.7}>
              {new Date(times[0]!).toLocaleTimeString([], { hour12: false })}
            </text>
            <text x={W - pad.r} y={H - 3} textAnchor="end" fontSize="9" fill="currentColor" opacity={0.7}>
              {new Date(times[times.length - 1]!).toLocaleTimeString([], { hour12: false })}
            </text>
          </>
        ) : null}
        {lines.map((l) => {
          // gaps (no requests in a bucket) break the line instead of drawing zeros for latencies
          const parts: string[] = [];
          let current = "";
          l.values.forEach((v, i) => {
            if (v === null) {
              if (current) parts.push(current);
              current = "";
              return;
            }
            current += `${current ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
          });
          if (current) parts.push(current);
          return <path key={l.label} d={parts.join(" ")} fill="none" stroke={l.color} strokeWidth={1.5} />;
        })}
      </svg>
      <div className={styles.legend}>
        {lines.map((l, i) => (
          <span key={l.label}>
            <span className={styles.swatch} style={{ background: l.color }} />
            {latest[i]}
          </span>
        ))}
      </div>
    </figure>
  );
}

/** Memoised: the live list re-renders its screen every frame under load; this does not need to. */
export const TrafficCharts = memo(function TrafficCharts({ bridges }: { bridges: string[] }) {
  const trpc = useTRPC();
  const [bridge, setBridge] = useState<string>("");
  const [range, setRange] = useState<(typeof RANGES)[number]["id"]>("5m");
  const ms = RANGES.find((r) => r.id === range)!.ms;
  const [now, setNow] = useState(() => Date.now());
  // the range ends now: move it every 2 s (the previous figures stay on screen while the next load)
  useEffect(() => {
    const t = setInterval(() => startTransition(() => setNow(Date.now())), 2000);
    return () => clearInterval(t);
  }, []);
  const to = new Date(Math.ceil(now / 1000) * 1000);
  const from = new Date(to.getTime() - ms);
  const series = useQuery({
    ...trpc.traffic.series.queryOptions({ ...(bridge ? { bridge } : {}), from: from.toISOString(), to: to.toISOString(), buckets: 60 }),
    placeholderData: (prev) => prev,
  });
  const points: SeriesPoint[] = useMemo(() => series.data?.points ?? [], [series.data]);
  const times = points.map((p) => p.t);

  return (
    <section className="panel" aria-labelledby="traffic-charts-heading">
      <div className={styles.sectionHead}>
        <h2 id="traffic-charts-heading">Over time</h2>
        <div className="buttons">
          <label className="field field-inline">
            Bridge
            <select className="input" aria-label="Chart bridge" value={bridge} onChange={(e) => setBridge(e.target.value)}>
              <option value="">all bridges</option>
              {bridges.map((b) => (
                <option key={b} value={b}>
                  {b}
                </option>
              ))}
            </select>
          </label>
          <label className="field field-inline">
            Range
            <select className="input" aria-label="Time range" value={range} onChange={(e) => setRange(e.target.value as typeof range)}>
              {RANGES.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.label}
                </option>
              ))}
            </select>
          </label>
        </div>
      </div>
      {series.error ? <p className="error">{series.error.message}</p> : null}
      <div className={styles.charts}>
        <Chart title="Requests per second" times={times} format={(v) => v.toFixed(v < 10 ? 1 : 0)} lines={[{ label: "req/s", color: "var(--accent)", values: points.map((p) => p.perSecond) }]} />
        <Chart
          title="Latency"
          times={times}
          format={formatMs}
          lines={[
            { label: "p50", color: "var(--ok)", values: points.map((p) => p.p50) },
            { label: "p95", color: "var(--wait)", values: points.map((p) => p.p95) },
            { label: "p99", color: "var(--bad)", values: points.map((p) => p.p99) },
          ]}
        />
        <Chart title="Error rate" times={times} format={(v) => `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`} lines={[{ label: "errors", color: "var(--bad)", values: points.map((p) => (p.requests ? p.errorRate : null)) }]} />
      </div>
    </section>
  );
});
