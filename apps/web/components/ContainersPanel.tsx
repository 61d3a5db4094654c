"use client";
import { useMutation } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { useSelection } from "../lib/selection";
import { useTRPC, useTRPCClient } from "../lib/trpc";
import { isMarker } from "../lib/stream";
import type { LocalContainer, LocalContainersMessage, LogBatch, RunProgress, StreamMarker } from "../lib/types";
import { useDebounced } from "../lib/useDebounced";
import { useOperation } from "../lib/useOperation";
import { useWorkloads } from "../lib/useWorkloads";
import { ProgressLog } from "./ProgressLog";

/** `["sh", "-c", "…"]` (JSON) or words separated by spaces. */
function parseCommand(text: string): string[] | null {
  const t = text.trim();
  if (!t) return [];
  if (t.startsWith("[")) {
    try {
      const parsed: unknown = JSON.parse(t);
      return Array.isArray(parsed) && parsed.every((x) => typeof x === "string") ? parsed : null;
    } catch {
      return null;
    }
  }
  return t.split(/\s+/);
}

const lines = (text: string): string[] =>
  text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);

/** Local containers in the cluster network: run (image or build, env from a workload, env, volumes, ports), list, logs, stop, remove. */
export function ContainersPanel() {
  const trpc = useTRPC();
  const [list, setList] = useState<LocalContainer[] | null>(null);
  const [dockerError, setDockerError] = useState<string | null>(null);
  const [logsOf, setLogsOf] = useState<string | null>(null);
  const watch = useSubscription(
    trpc.containers.watch.subscriptionOptions(undefined, {
      onData: (m: LocalContainersMessage | StreamMarker) => {
        // a resync is followed by the current list
        if (isMarker(m)) return;
        if (m.type === "list") {
          setList(m.containers);
          setDockerError(null);
        } else setDockerError(m.message);
      },
    }),
  );
  const stop = useMutation(trpc.containers.stop.mutationOptions());
  const remove = useMutation(trpc.containers.remove.mutationOptions({ onSuccess: (r) => setLogsOf((l) => (l === r.name ? null : l)) }));
  const actionError = stop.error?.message ?? remove.error?.message ?? null;

  return (
    <section className="panel panel-wide" aria-labelledby="containers-heading">
      <div className="panel-head">
        <h2 id="containers-heading">Local containers</h2>
      </div>
      <RunForm />
      {dockerError ? (
        <p className="error" role="alert">
          {dockerError}
        </p>
      ) : watch.status === "error" ? (
        <p className="error" role="alert">
          {watch.error?.message}
        </p>
      ) : null}
      {actionError ? (
        <p className="error" role="alert">
          {actionError}
        </p>
      ) : null}
      {list === null ? (
        dockerError ? null : (
          <p className="muted" role="status">
            Asking Docker for local containers…
          </p>
        )
      ) : list.length === 0 ? (
        <p className="empty">No local containers yet: run one with the form above (it joins the cluster network of its namespace).</p>
      ) : (
        <table className="table" aria-label="Local containers">
          <thead>
            <tr>
              <th>Name</th>
              <th>Image</th>
              <th>State</th>
              <th>IP</th>
              <th>Ports</th>
              <th>Namespace</th>
              <th>Connection</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {list.map((c) => (
              <tr key={c.name} aria-label={c.name}>
                <td className="mono">{c.name}</td>
                <td className="mono small">{c.image}</td>
                <td>
                  <span className={`pill ${c.state === "running" ? "pill-ok" : "pill-wait"}`}>{c.state}</span>
                </td>
                <td className="mono small">{c.ip || "–"}</td>
                <td className="mono small">{c.ports.map((p) => `${p.hostIp}:${p.hostPort}→${p.containerPort}/${p.protocol}`).join(", ") || "–"}</td>
                <td>{c.namespace}</td>
                <td className="small">{c.connection}</td>
                <td className="actions">
                  <button type="button" className="button button-small" aria-label={`Logs of ${c.name}`} onClick={() => setLogsOf(c.name)}>
                    Logs
                  </button>
                  <button type="button" className="button button-small" aria-label={`Stop ${c.name}`} disabled={c.state !== "running" || stop.isPending} onClick={() => stop.mutate({ name: c.name })}>
                    Stop
                  </button>
                  <button type="button" className="button button-small button-danger" aria-label={`Remove ${c.name}`} disabled={remove.isPending} onClick={() => remove.mutate({ name: c.name })}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {logsOf ? <LogsView key={logsOf} name={logsOf} onClose={() => setLogsOf(null)} /> : null}
    </section>
  );
}

function RunForm() {
  const client = useTRPCClient();
  const { context, namespace: selectedNamespace, connectionName } = useSelection();
  const [source, setSource] = useState<"image" | "build">("image");
  const [form, setForm] = useState({ name: "", image: "", build: "", namespace: "", envFrom: "", env: "", volumes: "", ports: "", command: "" });
  const namespace = form.namespace || selectedNamespace || "default";
  const { workloads } = useWorkloads(context, useDebounced(namespace));
  const envSources = useMemo(
    () => workloads.filter((w) => w.kind === "Deployment" || w.kind === "StatefulSet").map((w) => `${w.kind === "Deployment" ? "deploy" : "sts"}/${w.name}`),
    [workloads],
  );
  const op = useOperation<RunProgress, LocalContainer>();
  const [invalid, setInvalid] = useState<string | null>(null);
  const set = (key: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [key]: e.target.value }));

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!context) return setInvalid("Pick a context first: the container joins that cluster's network.");
    const env: Record<string, string> = {};
    for (const line of lines(form.env)) {
      const eq = line.indexOf("=");
      if (eq <= 0) return setInvalid(`"${line}" is not KEY=VALUE: write one variable per line, e.g. LOG_LEVEL=debug.`);
      env[line.slice(0, eq)] = line.slice(eq + 1);
    }
    for (const p of lines(form.ports)) if (!/^(\S+:)?\d+:\d+(\/(tcp|udp))?$/.test(p)) return setInvalid(`"${p}" is not HOST:CONTAINER: write e.g. 8080:80.`);
    const command = parseCommand(form.command);
    if (command === null) return setInvalid('The command is not a JSON array of strings: write e.g. ["sh", "-c", "npm run dev"] or plain words.');
    setInvalid(null);
    op.start(`Starting ${form.name}`, (h) =>
      client.containers.run.subscribe(
        {
          context,
          namespace,
          ...(connectionName ? { connection: connectionName } : {}),
          name: form.name,
          ...(source === "image" ? { image: form.image } : { build: form.build }),
          ...(form.envFrom ? { envFrom: form.envFrom } : {}),
          env,
          volumes: lines(form.volumes),
          ports: lines(form.ports),
          ...(command.length ? { command } : {}),
        },
        h,
      ),
    );
  }

  return (
    <form className="run-form" aria-label="Run a local container" onSubmit={submit}>
      <div className="grid-2">
        <label className="field">
          <span>Name</span>
          <input className="input mono" required value={form.name} onChange={set("name")} placeholder="api-dev" spellCheck={false} />
        </label>
        <fieldset className="field fieldset">
          <legend>Source</legend>
          <label className="radio">
            <input type="radio" name="source" checked={source === "image"} onChange={() => setSource("image")} /> Run an image
          </label>
          <label className="radio">
            <input type="radio" name="source" checked={source === "build"} onChange={() => setSource("build")} /> Build from a folder
          </label>
        </fieldset>
        {source === "image" ? (
          <label className="field">
            <span>Image</span>
            <input className="input mono" required value={form.image} onChange={set("image")} placeholder="registry/app:tag" spellCheck={false} />
          </label>
        ) : (
          <label className="field">
            <span>Build context folder</span>
            <input className="input mono" required value={form.build} onChange={set("build")} placeholder="/home/me/src/api" spellCheck={false} />
          </label>
        )}
        <label className="field">
          <span>Namespace</span>
          <input className="input mono" value={form.namespace} onChange={set("namespace")} placeholder={selectedNamespace || "default"} spellCheck={false} />
        </label>
        <label className="field">
          <span>Env from workload</span>
          <input className="input mono" list="env-sources" value={form.envFrom} onChange={set("envFrom")} placeholder="deploy/api" spellCheck={false} />
          <datalist id="env-sources">
            {envSources.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
        </label>
        <label className="field">
          <span>Environment (KEY=VALUE per line)</span>
          <textarea className="input mono" rows={2} value={form.env} onChange={set("env")} spellCheck={false} />
        </label>
        <label className="field">
          <span>Volumes (SRC:DST per line)</span>
          <textarea className="input mono" rows={2} value={form.volumes} onChange={set("volumes")} spellCheck={false} />
        </label>
        <label className="field">
          <span>Ports (HOST:CONTAINER per line)</span>
          <textarea className="input mono" rows={2} value={form.ports} onChange={set("ports")} spellCheck={false} />
        </label>
        <label className="field">
          <span>Command (optional)</span>
          <input className="input mono" value={form.command} onChange={set("command")} placeholder='["sh", "-c", "npm run dev"]' spellCheck={false} />
        </label>
      </div>
      <div className="buttons">
        <button type="submit" className="button button-primary" disabled={op.state.phase === "running"}>
          Run
        </button>
        {op.state.phase === "running" ? (
          <button type="button" className="button" onClick={op.cancel}>
            Cancel
          </button>
        ) : null}
        <span className="muted small">in {namespace} through {connectionName ? `connection ${connectionName}` : "this machine's default connection"}</span>
      </div>
      {invalid ? (
        <p className="error" role="alert">
          {invalid}
        </p>
      ) : null}
      <ProgressLog state={op.state} describe={(p) => `${p.step}: ${p.message}`} name="Run progress" />
    </form>
  );
}

function LogsView({ name, onClose }: { name: string; onClose: () => void }) {
  const trpc = useTRPC();
  const [text, setText] = useState<string[]>([]);
  const box = useRef<HTMLPreElement>(null);
  const logs = useSubscription(
    trpc.containers.logs.subscriptionOptions(
      { name, tail: 500 },
      {
        onData: (batch: LogBatch | StreamMarker) =>
          setText((old) => {
            const next = isMarker(batch)
              ? [...old, `… about ${batch.missed} lines skipped (this tab was too slow)`]
              : [...old, ...(batch.skipped ? [`… ${batch.skipped} lines skipped`] : []), ...batch.lines];
            return next.length > 2000 ? next.slice(-2000) : next;
          }),
      },
    ),
  );
  useEffect(() => {
    const el = box.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [text]);
  return (
    <section className="logs" aria-label={`Logs of ${name}`}>
      <div className="panel-head">
        <h3>Logs of {name}</h3>
        <button type="button" className="button button-small" onClick={onClose}>
          Close
        </button>
      </div>
      {logs.status === "error" ? (
        <p className="error" role="alert">
          {logs.error?.message}
        </p>
      ) : null}
      <pre className="logs-text" ref={box} role="log" aria-label={`Output of ${name}`}>
        {text.join("\n")}
      </pre>
    </section>
  );
}
