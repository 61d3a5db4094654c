"use client";
/**
 * The inspector's live list: records from the `traffic.live` subscription kept in a bounded
 * buffer, filtered incrementally (only new records are matched as they arrive; the whole buffer
 * only when the filter changes), pausable without losing records, and rendered at most ten times a
 * second however fast records come.
 */
import { parseFilter, matchRecord } from "@gefyra/shared";
import { startTransition, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { isMarker } from "./stream";
import { useTRPCClient } from "./trpc";
import type { FeedAggregate, FeedRecord, TrafficEvent, TrafficStatus } from "./traffic-types";
import type { StreamMarker } from "./types";

/** Rows kept for the list; older ones stay in History. */
export const MAX_ROWS = 20_000;
/** Records held while paused; beyond it the oldest held are let go (and counted). */
export const MAX_PAUSED = 50_000;
/**
 * The live list renders at most this often. Under load every render replaces every row in view
 * (records arrive in 50 ms batches), so the rate of renders is the page's cost: ten a second still
 * reads as live, and takes half the CPU of one per batch.
 */
const MIN_RENDER_MS = 100;

export type Row = FeedRecord & { n: number };

export type FilterState = { ok: true; match: ((r: FeedRecord) => boolean) | null } | { ok: false; error: string; column: number };

export function compileFilterText(text: string): FilterState {
  if (!text.trim()) return { ok: true, match: null };
  const parsed = parseFilter(text);
  if (!parsed.ok) return { ok: false, error: parsed.error, column: parsed.column };
  const filter = parsed.filter;
  return { ok: true, match: (r) => matchRecord(filter, r) };
}

/** The same request seen again (a resubscribe repeats the newest records) is one row. */
const keyOf = (r: FeedRecord) => `${r.pod}/${r.carrierSeq}/${r.time}`;

/** Inserts keeping `list` sorted by time (appending in the usual case). */
function insertByTime(list: Row[], row: Row): void {
  const last = list[list.length - 1];
  if (!last || last.time <= row.time) {
    list.push(row);
    return;
  }
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.time <= row.time) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, row);
}

export class LiveBuffer {
  rows: Row[] = [];
  shown: Row[] = [];
  /**
   * Rows let go from the front of `shown` since it was last rebuilt: `shownBase + i` is a row's
   * position for good while records only arrive, so the list can keep a row where it is on
   * screen and move the whole list instead (see RecordList).
   */
  shownBase = 0;
  private n = 0;
  private keys = new Set<string>();
  /** Rows let go at the bound since the last clear. */
  trimmed = 0;
  private match: ((r: FeedRecord) => boolean) | null = null;

  constructor(private readonly max = MAX_ROWS) {}

  add(records: readonly FeedRecord[]): number {
    let added = 0;
    for (const r of records) {
      const key = keyOf(r);
      if (this.keys.has(key)) continue;
      this.keys.add(key);
      const row: Row = { ...r, n: ++this.n };
      // in time order: a catch-up of several pods (or a slow one) delivers out of order
      insertByTime(this.rows, row);
      if (!this.match || this.match(row)) insertByTime(this.shown, row);
      added++;
    }
    if (this.rows.length > this.max) {
      const gone = this.rows.splice(0, this.rows.length - this.max);
      const goneKeys = new Set<Row>(gone);
      for (const g of gone) this.keys.delete(keyOf(g));
      this.trimmed += gone.length;
      let cut = 0;
      while (cut < this.shown.length && goneKeys.has(this.shown[cut]!)) cut++;
      // rows are removed from the front of both (the oldest), so the shown ones that went are a prefix
      if (cut > 0) {
        this.shown.splice(0, cut);
        this.shownBase += cut;
      }
    }
    return added;
  }

  setMatch(match: ((r: FeedRecord) => boolean) | null): void {
    this.match = match;
    this.shown = match ? this.rows.filter(match) : [...this.rows];
    this.shownBase = 0;
  }

  clear(): void {
    this.rows = [];
    this.shown = [];
    this.shownBase = 0;
    this.keys.clear();
    this.trimmed = 0;
  }
}

export interface LiveTraffic {
  /** Rows that pass the filter, oldest first. */
  shown: Row[];
  /** The position of `shown[0]` (LiveBuffer.shownBase). */
  shownBase: number;
  total: number;
  version: number;
  paused: boolean;
  /** Records that arrived while paused (shown on resume). */
  held: number;
  /** Held records let go above MAX_PAUSED, and rows let go above MAX_ROWS. */
  letGo: number;
  /** Records the server did not send because this tab was too slow (they are in History). */
  missed: number;
  status: TrafficStatus | null;
  aggregates: FeedAggregate[];
  error: string | null;
  setPaused: (p: boolean) => void;
  clear: () => void;
}

export function useLiveTraffic(context: string | null, bridge: string | null, match: ((r: FeedRecord) => boolean) | null): LiveTraffic {
  const client = useTRPCClient();
  const buffer = useRef(new LiveBuffer());
  const held = useRef<FeedRecord[]>([]);
  const [version, setVersion] = useState(0);
  const [paused, setPausedState] = useState(false);
  const pausedRef = useRef(false);
  const [counts, setCounts] = useState({ missed: 0, heldLetGo: 0 });
  const [status, setStatus] = useState<TrafficStatus | null>(null);
  const [aggregates, setAggregates] = useState<FeedAggregate[]>([]);
  const [error, setError] = useState<string | null>(null);
  const frame = useRef<number | null>(null);
  const wait = useRef<ReturnType<typeof setTimeout> | null>(null);
  const lastRender = useRef(0);

  const render = useCallback(() => {
    if (frame.current !== null || wait.current !== null) return;
    const draw = () => {
      wait.current = null;
      frame.current = requestAnimationFrame(() => {
        frame.current = null;
        lastRender.current = performance.now();
        // a transition: React renders the new rows in slices of a few ms and lets the page answer
        // input (and the browser paint) in between, instead of one long task per batch of records
        startTransition(() => setVersion((v) => v + 1));
      });
    };
    const early = lastRender.current + MIN_RENDER_MS - performance.now();
    if (early > 0) wait.current = setTimeout(draw, early);
    else draw();
  }, []);
  useEffect(
    () => () => {
      if (frame.current !== null) cancelAnimationFrame(frame.current);
      if (wait.current !== null) clearTimeout(wait.current);
    },
    [],
  );

  useEffect(() => {
    buffer.current.setMatch(match);
    render();
  }, [match, render]);

  // another bridge or context: a new list
  useEffect(() => {
    buffer.current.clear();
    held.current = [];
    setCounts({ missed: 0, heldLetGo: 0 });
    setAggregates([]);
    render();
  }, [context, bridge, render]);

  // the vanilla client, not useSubscription: that keeps each message in React state, which would
  // render the whole screen once per message; here messages only fill the buffer, and the screen
  // renders at most ten times a second
  useEffect(() => {
    if (!context) return;
    setError(null);
    const sub = client.traffic.live.subscribe(
      { context, ...(bridge ? { bridge } : {}), backlog: 1000 },
      {
        onError: (e) => setError(e.message),
        onData: (m: TrafficEvent | StreamMarker) => {
          if (isMarker(m)) {
            setCounts((c) => ({ ...c, missed: c.missed + m.missed }));
            return;
          }
          if (m.type === "records") {
            if (pausedRef.current) {
              held.current.push(...m.records);
              if (held.current.length > MAX_PAUSED) {
                const over = held.current.length - MAX_PAUSED;
                held.current.splice(0, over);
                setCounts((c) => ({ ...c, heldLetGo: c.heldLetGo + over }));
              }
            } else buffer.current.add(m.records);
            render();
          } else if (m.type === "status") startTransition(() => setStatus(m.status));
          else startTransition(() => setAggregates((a) => [...a.slice(-119), m.aggregate]));
        },
      },
    );
    return () => sub.unsubscribe();
  }, [client, context, bridge, render]);

  const setPaused = useCallback(
    (p: boolean) => {
      pausedRef.current = p;
      setPausedState(p);
      if (!p && held.current.length) {
        buffer.current.add(held.current);
        held.current = [];
      }
      render();
    },
    [render],
  );
  const clear = useCallback(() => {
    buffer.current.clear();
    held.current = [];
    render();
  }, [render]);

  return {
    // a copy: records keep arriving while a transition's render is paused, and the list must see
    // the rows and their base as they were together
    shown: buffer.current.shown.slice(),
    shownBase: buffer.current.shownBase,
    total: buffer.current.rows.length,
    version,
    paused,
    held: held.current.length,
    letGo: counts.heldLetGo + buffer.current.trimmed,
    missed: counts.missed,
    status,
    aggregates,
    error,
    setPaused,
    clear,
  };
}

/** The filter text, debounced lightly, compiled; errors carry the 1-based column. */
export function useFilter(text: string): FilterState {
  return useMemo(() => compileFilterText(text), [text]);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** One formatter for every row: toLocaleTimeString with options builds a new one per call, which cost the live list more than all its other rendering together. */
const TIME_OF_DAY = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });

export function formatTime(iso: string): string {
  const d = new Date(iso);
  return `${TIME_OF_DAY.format(d)}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/** Pretty JSON when the text is JSON. */
export function pretty(text: string, contentType?: string): { text: string; json: boolean } {
  const t = text.trim();
  if ((t.startsWith("{") || t.startsWith("[")) && (!contentType || /json|text|^$/.test(contentType))) {
    try {
      return { text: JSON.stringify(JSON.parse(t), null, 2), json: true };
    } catch {
      // not JSON after all
    }
  }
  return { text, json: false };
}

/** Saves text as a file through the browser's download. */
export function download(name: string, text: string, type = "application/json"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
