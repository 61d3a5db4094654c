"use client";
/**
 * The inspector's request list: windowed like VirtualTable (only rows in view are in the DOM, so
 * twenty thousand rows cost what fifty do), newest on top, with a selected row (the details pane)
 * and checked rows (HAR export). ARIA grid roles with aria-rowcount/aria-rowindex, so assistive
 * technology and tests see the whole list's size.
 *
 * New rows come in on top all the time, which would move every row on screen each time. Instead a
 * row is placed once, by its position in the list (`base` + index, which stays the same while rows
 * only arrive), and the layer holding the rows moves down: a row already on screen keeps its style.
 */
import { useCallback, useRef, useState } from "react";
import type { FeedRecord } from "../../lib/traffic-types";
import { formatBytes, formatMs, formatTime } from "../../lib/traffic";
import styles from "./traffic.module.css";

const ROW = 28;
/** Positions are taken modulo this many rows, so pixel offsets stay far below the browser's layout limits. */
const REBASE = 100_000;
const COLUMNS = "1.6rem 6.6rem 4.2rem minmax(8rem, 1fr) 3.9rem 4.6rem 4.6rem 4.4rem minmax(5rem, 0.5fr)";

function statusClass(s: number | undefined): string | undefined {
  if (s === undefined) return styles.s5;
  return s >= 500 ? styles.s5 : s >= 400 ? styles.s4 : s >= 300 ? styles.s3 : styles.s2;
}

export interface RecordListProps<T extends FeedRecord> {
  label: string;
  /** Oldest first; shown newest first. */
  rows: readonly T[];
  /** Changes whenever `rows` changed in place. */
  version: number;
  /** The position of `rows[0]`: rows keep theirs while it grows by the rows let go from the front. */
  base?: number;
  selectedId: string | null;
  onSelect: (row: T) => void;
  checked: ReadonlySet<string>;
  onCheck: (id: string, on: boolean) => void;
  onCheckAll: (on: boolean) => void;
  height?: number;
  empty: string;
}

export function RecordList<T extends FeedRecord>({ label, rows, version, base = 0, selectedId, onSelect, checked, onCheck, onCheckAll, height = 460, empty }: RecordListProps<T>) {
  const [scrollTop, setScrollTop] = useState(0);
  const frame = useRef<number | null>(null);
  const onScroll = useCallback((e: React.UIEvent<HTMLDivElement>) => {
    const top = e.currentTarget.scrollTop;
    if (frame.current !== null) cancelAnimationFrame(frame.current);
    frame.current = requestAnimationFrame(() => setScrollTop(top));
  }, []);
  const n = rows.length;
  // a few rows beyond the view for scrolling; while records come in, every row in the DOM is laid out
  // again each frame, so fewer below the view (live, at the top of the list, there are none above)
  const first = Math.max(0, Math.floor(scrollTop / ROW) - 8);
  const last = Math.min(n, Math.ceil((scrollTop + height) / ROW) + 4);
  const visible: Array<{ row: T; index: number }> = [];
  for (let i = first; i < last; i++) visible.push({ row: rows[n - 1 - i]!, index: i });
  /** The newest row's position; the row at `index` from the top has `newest - index`. */
  const newest = (base % REBASE) + n - 1;
  const layerTop = newest * ROW;
  const allChecked = n > 0 && checked.size >= n;

  return (
    <div className={styles.list} role="grid" aria-label={label} aria-rowcount={n + 1} data-version={version}>
      <div className={`${styles.row} ${styles.head}`} role="row" aria-rowindex={1} style={{ gridTemplateColumns: COLUMNS }}>
        <div role="columnheader" className={styles.cell}>
          <input type="checkbox" aria-label="Select every request shown" checked={allChecked} onChange={(e) => onCheckAll(e.target.checked)} />
        </div>
        {["Time", "Method", "Path", "Status", "Duration", "Size", "Route", "Bridge"].map((h) => (
          <div key={h} role="columnheader" className={styles.cell}>
            {h}
          </div>
        ))}
      </div>
      {n === 0 ? (
        <p className="muted small" style={{ padding: "0.8rem", margin: 0 }}>
          {empty}
        </p>
      ) : (
        <div className={styles.body} style={{ height: Math.min(height, n * ROW + 2) }} onScroll={onScroll}>
          <div style={{ height: n * ROW, position: "relative" }} role="rowgroup">
            <div style={{ position: "absolute", top: 0, left: 0, right: 0, transform: `translateY(${layerTop}px)`, willChange: "transform" }}>
              {visible.map(({ row, index }) => (
                <div
                  key={row.id}
                  role="row"
                  aria-rowindex={index + 2}
                  aria-selected={row.id === selectedId}
                  tabIndex={0}
                  className={styles.row}
                  data-path={row.path ?? ""}
                  data-recorded={Math.round(Date.parse(row.time) + row.durationMs)}
                  style={{ gridTemplateColumns: COLUMNS, position: "absolute", top: -(newest - index) * ROW, height: ROW, left: 0, right: 0 }}
                  onClick={() => onSelect(row)}
                  onKeyDown={(e) => {
                    if (e.key === "Enter" || e.key === " ") {
                      e.preventDefault();
                      onSelect(row);
                    }
                  }}
                >
                  <div role="gridcell" className={styles.cell} onClick={(e) => e.stopPropagation()}>
                    <input type="checkbox" aria-label={`Select ${row.method ?? row.kind} ${row.path ?? ""}`} checked={checked.has(row.id)} onChange={(e) => onCheck(row.id, e.target.checked)} />
                  </div>
                  <div role="gridcell" className={styles.cell}>
                    {formatTime(row.time)}
                  </div>
                  <div role="gridcell" className={styles.cell}>
                    {row.kind === "tcp" ? "TCP" : row.method}
                  </div>
                  <div role="gridcell" className={`${styles.cell} mono`} title={row.path}>
                    {row.kind === "tcp" ? row.client : row.path}
                    {row.sampled ? <span className={styles.marker}>sampled</span> : null}
                  </div>
                  <div role="gridcell" className={`${styles.cell} ${statusClass(row.status) ?? ""}`} title={row.error}>
                    {row.status ?? (row.error ? "ERR" : "–")}
                  </div>
                  <div role="gridcell" className={styles.cell}>
                    {formatMs(row.durationMs)}
                  </div>
                  <div role="gridcell" className={styles.cell}>
                    {formatBytes(row.bytesIn + row.bytesOut)}
                  </div>
                  <div role="gridcell" className={styles.cell}>
                    {row.route?.to ?? "–"}
                  </div>
                  <div role="gridcell" className={styles.cell} title={row.bridges.join(", ")}>
                    {row.bridge || row.bridges.join(", ")}
                  </div>
                </div>
              ))}
            </div>
          </div>
        </div>
      )}
    </div>
  );
}
