"use client";
/**
 * One request in full: what was sent and answered (headers, bodies pretty-printed when JSON, with
 * Carrier's cap and redaction marked), timing, route and rule; and the actions on it: replay to the
 * local container or the original, edit then replay, compare both answers.
 */
import { useQuery } from "@tanstack/react-query";
import { memo, useEffect, useState, type ReactNode } from "react";
import { useTRPC, useTRPCClient } from "../../lib/trpc";
import { formatBytes, formatMs, pretty } from "../../lib/traffic";
import type { CompareResult, FeedRecord, ReplayRequest, ReplayResult, ReplayTarget, TrafficBody } from "../../lib/traffic-types";
import styles from "./traffic.module.css";

const REDACTED = "[redacted]";

function Headers({ label, headers }: { label: string; headers: ReadonlyArray<readonly [string, string]> }) {
  if (headers.length === 0) return <p className="muted small">No headers.</p>;
  return (
    <table className={styles.headers} aria-label={label}>
      <tbody>
        {headers.map(([k, v], i) => (
          <tr key={`${k}-${i}`}>
            <td>{k}</td>
            <td>
              {v === REDACTED ? (
                <>
                  <span className="muted">{v}</span>
                  <span className={styles.marker}>redacted by Carrier</span>
                </>
              ) : (
                v
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Body({ label, body, headers, partial }: { label: string; body: TrafficBody; headers: ReadonlyArray<readonly [string, string]>; partial?: boolean }) {
  if (body.bytes === 0) return <p className="muted small">No body.</p>;
  if (partial) return <p className="muted small">{formatBytes(body.bytes)} (loading…)</p>;
  const type = headers.find(([k]) => k.toLowerCase() === "content-type")?.[1] ?? "";
  const shown = body.encoding === "utf8" ? pretty(body.data, type) : { text: body.data, json: false };
  return (
    <div>
      <span className="small muted">
        {formatBytes(body.bytes)}
        {shown.json ? " · JSON" : ""}
        {body.encoding === "base64" ? <span className={styles.marker}>binary, shown as base64</span> : null}
        {body.truncated ? <span className={styles.marker}>{`capped: first ${formatBytes(body.encoding === "base64" ? Math.floor((body.data.length * 3) / 4) : new TextEncoder().encode(body.data).length)} of ${formatBytes(body.bytes)} kept`}</span> : null}
      </span>
      <pre className={styles.pre} aria-label={label}>
        {shown.text}
      </pre>
    </div>
  );
}

function Fact({ k, children }: { k: string; children: ReactNode }) {
  return (
    <>
      <dt>{k}</dt>
      <dd>{children}</dd>
    </>
  );
}

function ReplayView({ r }: { r: ReplayResult }) {
  return (
    <section aria-label={`Replay to ${r.target}`} className={styles.details}>
      <h4 style={{ margin: 0 }}>
        Replayed to {r.target}: <span className={r.status && r.status < 400 ? "ok" : "bad"}>{r.status ?? "no answer"}</span> {r.statusText}
      </h4>
      <p className="small muted" style={{ margin: 0 }}>
        {r.request.method} {r.request.path} via {r.via} · first byte {formatMs(r.ttfbMs)} · total {formatMs(r.durationMs)}
      </p>
      {r.error ? <p className="error">{r.error}</p> : null}
      {r.notSent.length ? (
        <ul className="small muted" style={{ margin: 0 }}>
          {r.notSent.map((n) => (
            <li key={n.name}>
              not sent: {n.name} ({n.reason})
            </li>
          ))}
        </ul>
      ) : null}
      <Headers label={`Replay to ${r.target} response headers`} headers={r.headers} />
      <Body label={`Replay to ${r.target} response body`} body={r.body} headers={r.headers} />
    </section>
  );
}

function CompareView({ c }: { c: CompareResult }) {
  const differing = c.headers.filter((h) => !h.same);
  return (
    <section aria-label="Comparison" className={styles.details}>
      <h4 style={{ margin: 0 }}>{c.same ? "Local and original answer the same" : "Local and original answer differently"}</h4>
      <dl className={styles.facts}>
        <Fact k="Status">
          <span className={c.status.same ? "" : "bad"}>
            original {c.status.original ?? "no answer"} · local {c.status.local ?? "no answer"}
          </span>
        </Fact>
        <Fact k="Time">
          original {formatMs(c.original.durationMs)} · local {formatMs(c.local.durationMs)}
        </Fact>
        <Fact k="Headers">{differing.length ? `${differing.length} differ${differing.every((h) => h.volatile) ? " (only volatile ones such as date)" : ""}` : "the same"}</Fact>
        <Fact k="Body">{c.body.same ? "the same" : `differs${c.body.json ? " (JSON, compared pretty-printed)" : ""}${c.body.truncated ? "; too long to diff line by line, first difference shown" : ""}`}</Fact>
      </dl>
      {c.local.error || c.original.error ? <p className="error">{[c.original.error && `original: ${c.original.error}`, c.local.error && `local: ${c.local.error}`].filter(Boolean).join("; ")}</p> : null}
      {differing.length ? (
        <table className={styles.headers} aria-label="Header differences">
          <thead>
            <tr>
              <td>header</td>
              <td>original → local</td>
            </tr>
          </thead>
          <tbody>
            {differing.map((h) => (
              <tr key={h.name} className={h.volatile ? "" : styles.changed}>
                <td>{h.name}</td>
                <td>
                  {h.original ?? "(absent)"} → {h.local ?? "(absent)"}
                  {h.volatile ? <span className={styles.marker}>volatile</span> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <div className={styles.diff} role="list" aria-label="Body differences">
        {c.body.lines.map((l, i) => (
          <div key={i} role="listitem" className={l.op === "-" ? styles.del : l.op === "+" ? styles.ins : undefined} aria-label={l.op === "-" ? "only in the original" : l.op === "+" ? "only in the local answer" : undefined}>
            {l.op === "=" ? " " : l.op} {l.text}
          </div>
        ))}
      </div>
    </section>
  );
}

function toEdit(r: FeedRecord): { method: string; path: string; headers: string; body: string } {
  return {
    method: r.method ?? "GET",
    path: r.path ?? "/",
    headers: (r.request?.headers ?? [])
      .filter(([k]) => !["content-length", "connection", "transfer-encoding", "keep-alive"].includes(k.toLowerCase()))
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n"),
    body: r.request?.body.encoding === "utf8" ? r.request.body.data : "",
  };
}

function parseHeaders(text: string): { ok: true; headers: Array<[string, string]> } | { ok: false; error: string } {
  const headers: Array<[string, string]> = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    const at = line.indexOf(":");
    if (at <= 0) return { ok: false, error: `line ${i + 1}: "Name: value" expected, got "${line}"` };
    headers.push([line.slice(0, at).trim(), line.slice(at + 1).trim()]);
  }
  return { ok: true, headers };
}

/** Memoised: the live list re-renders the screen several times a second under load; an open record does not change with it. */
export const RecordDetails = memo(function RecordDetails({ context, id, initial }: { context: string; id: string; initial: FeedRecord }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const full = useQuery({ ...trpc.traffic.record.queryOptions({ context, id }), retry: false, staleTime: Infinity });
  const r = full.data ?? initial;
  const [result, setResult] = useState<{ kind: "replay"; value: ReplayResult } | { kind: "compare"; value: CompareResult } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(() => toEdit(r));
  useEffect(() => {
    setResult(null);
    setError(null);
    setEditing(false);
  }, [id]);
  useEffect(() => {
    if (full.data) setDraft(toEdit(full.data));
  }, [full.data]);

  const edit = (): Partial<ReplayRequest> | undefined | null => {
    if (!editing) return undefined;
    const h = parseHeaders(draft.headers);
    if (!h.ok) {
      setError(`Headers: ${h.error}`);
      return null;
    }
    return { method: draft.method.trim() || "GET", path: draft.path.trim() || "/", headers: h.headers, body: draft.body ? { encoding: "utf8", data: draft.body } : null };
  };
  const run = async (label: string, work: (e: Partial<ReplayRequest> | undefined) => Promise<void>) => {
    const e = edit();
    if (e === null) return;
    setBusy(label);
    setError(null);
    setResult(null);
    try {
      await work(e);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(null);
    }
  };
  const replay = (target: ReplayTarget) =>
    run(`Replaying to ${target}…`, async (e) => setResult({ kind: "replay", value: await client.traffic.replay.mutate({ context, id, target, ...(e ? { edit: e } : {}) }) }));
  const compare = () => run("Comparing…", async (e) => setResult({ kind: "compare", value: await client.traffic.compare.mutate({ context, id, ...(e ? { edit: e } : {}) }) }));
  const replayable = r.kind === "http" || r.kind === "h2";
  const partial = !full.data;

  return (
    <section className={styles.details} aria-label="Request details">
      <h3 className="mono" style={{ overflowWrap: "anywhere" }}>
        {r.kind === "tcp" ? `TCP connection from ${r.client}` : `${r.method ?? ""} ${r.path ?? ""}`}
      </h3>
      {full.error ? <p className="error">{full.error.message}</p> : null}
      <dl className={styles.facts}>
        <Fact k="Status">{r.status ?? (r.error ? "failed" : "no answer")}</Fact>
        {r.error ? <Fact k="Error">{r.error}</Fact> : null}
        <Fact k="Time">{new Date(r.time).toLocaleString()}</Fact>
        <Fact k="Timing">
          first byte {formatMs(r.ttfbMs)} · total {formatMs(r.durationMs)}
        </Fact>
        <Fact k="Size">
          in {formatBytes(r.bytesIn)} · out {formatBytes(r.bytesOut)}
        </Fact>
        <Fact k="Route">{r.route ? `${r.route.to}${r.route.destination ? ` (${r.route.destination})` : ""}` : "none"}</Fact>
        <Fact k="Bridge">{r.bridge || r.bridges.join(", ") || "–"}</Fact>
        <Fact k="Rule">{r.route?.rule ?? (r.route?.to === "original" ? "no rule matched" : "–")}</Fact>
        <Fact k="Where">
          {r.kind} · port {r.port}
          {r.pod ? ` · pod ${r.pod}` : ""} · client {r.client || "–"}
        </Fact>
        {r.sampled ? <Fact k="Sampled">kept as a sample while Carrier was over its rate</Fact> : null}
      </dl>
      {replayable ? (
        <div className="buttons" role="group" aria-label="Replay">
          <button type="button" className="button button-small" disabled={Boolean(busy)} onClick={() => void replay("local")}>
            {editing ? "Send edited to local" : "Replay to local"}
          </button>
          <button type="button" className="button button-small" disabled={Boolean(busy)} onClick={() => void replay("original")}>
            {editing ? "Send edited to original" : "Replay to original"}
          </button>
          <button type="button" className="button button-small" disabled={Boolean(busy)} onClick={() => void compare()}>
            {editing ? "Compare edited" : "Compare"}
          </button>
          <button type="button" className={`button button-small ${editing ? "button-on" : ""}`} aria-pressed={editing} disabled={Boolean(busy) || partial} onClick={() => setEditing((e) => !e)}>
            Edit…
          </button>
          {busy ? <span className="small muted" role="status">{busy}</span> : null}
        </div>
      ) : null}
      {editing ? (
        <form className={styles.edit} aria-label="Edit request" onSubmit={(e) => e.preventDefault()}>
          <div className="form-row" style={{ marginBottom: 0 }}>
            <label className="field">
              Method
              <input className="input" style={{ width: "6rem" }} value={draft.method} onChange={(e) => setDraft({ ...draft, method: e.target.value })} />
            </label>
            <label className="field field-grow">
              Path
              <input className="input mono" value={draft.path} onChange={(e) => setDraft({ ...draft, path: e.target.value })} />
            </label>
          </div>
          <label className="field">
            Headers (one "Name: value" a line)
            <textarea className="input" rows={5} value={draft.headers} onChange={(e) => setDraft({ ...draft, headers: e.target.value })} />
          </label>
          <label className="field">
            Body
            <textarea className="input" rows={4} value={draft.body} onChange={(e) => setDraft({ ...draft, body: e.target.value })} />
          </label>
        </form>
      ) : null}
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      {result?.kind === "replay" ? <ReplayView r={result.value} /> : null}
      {result?.kind === "compare" ? <CompareView c={result.value} /> : null}
      {r.request ? (
        <div>
          <h4 style={{ margin: "0 0 0.2rem" }}>Request</h4>
          <Headers label="Request headers" headers={r.request.headers} />
          <Body label="Request body" body={r.request.body} headers={r.request.headers} partial={partial} />
        </div>
      ) : null}
      {r.response ? (
        <div>
          <h4 style={{ margin: "0 0 0.2rem" }}>Response</h4>
          <Headers label="Response headers" headers={r.response.headers} />
          <Body label="Response body" body={r.response.body} headers={r.response.headers} partial={partial} />
        </div>
      ) : null}
    </section>
  );
});
