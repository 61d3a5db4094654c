"use client";
import { useQuery } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { targetRowKey, useBridges } from "../lib/bridges";
import { describeMatch, parseSamples, previewRules, suggestSamples, toMatch, type RuleDraft } from "../lib/rules";
import { useSelection } from "../lib/selection";
import { isMarker } from "../lib/stream";
import { useTRPC, useTRPCClient } from "../lib/trpc";
import type { BridgeInfo, BridgeProgress, LocalContainer, LocalContainersMessage, StreamMarker, TargetKind, UnbridgeProgress } from "../lib/types";
import { useOperation } from "../lib/useOperation";
import { useWorkloads } from "../lib/useWorkloads";
import { ProgressLog } from "./ProgressLog";

const KIND_OF_ROW: Record<string, TargetKind> = { Deployment: "deployment", StatefulSet: "statefulset", Pod: "pod" };
const SHORT: Record<TargetKind, string> = { deployment: "deploy", statefulset: "sts", pod: "pod" };

/** A workloads-row key (Deployment/ns/name) as the wizard's target. */
export function parseTargetKey(key: string): { kind: TargetKind; namespace: string; name: string } | null {
  const [rowKind = "", namespace = "", ...rest] = key.split("/");
  const kind = KIND_OF_ROW[rowKind];
  return kind && namespace && rest.length > 0 ? { kind, namespace, name: rest.join("/") } : null;
}

/** Same as the core's default bridge name: LOCAL-to-TARGET, as a DNS label. */
const defaultName = (local: string, target: string) =>
  `${local}-to-${target}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .slice(0, 63)
    .replace(/^-+|-+$/g, "");

/** Bridges: start one (target, container and ports from the cluster, a local container, optional rules with a live preview), see them live, stop them. */
export function BridgesPanel({ preset, onPresetUsed }: { preset: string | null; onPresetUsed: () => void }) {
  const { context } = useSelection();
  if (!context) {
    return (
      <section className="panel" aria-labelledby="bridges-heading">
        <h2 id="bridges-heading">Bridges</h2>
        <p className="empty">Pick a context in the Contexts panel to bridge its workloads.</p>
      </section>
    );
  }
  return (
    <>
      <BridgeWizard context={context} preset={preset} onPresetUsed={onPresetUsed} />
      <ActiveBridges context={context} />
    </>
  );
}

function BridgeWizard({ context, preset, onPresetUsed }: { context: string; preset: string | null; onPresetUsed: () => void }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const { namespace: selectedNamespace } = useSelection();
  const { bridges, byRowKey } = useBridges();
  const { workloads, loaded } = useWorkloads(context, selectedNamespace);

  // 1. target
  const [filter, setFilter] = useState("");
  const [targetKey, setTargetKey] = useState("");
  useEffect(() => {
    if (!preset) return;
    setTargetKey(preset);
    setFilter("");
    onPresetUsed();
  }, [preset, onPresetUsed]);
  const candidates = useMemo(() => {
    const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
    return workloads.filter((w) => w.kind in KIND_OF_ROW && words.every((word) => w.search.includes(word))).slice(0, 300);
  }, [workloads, filter]);
  const target = parseTargetKey(targetKey);

  // 2. container and ports, from the pod template
  const details = useQuery({
    ...trpc.bridges.target.queryOptions({ context, namespace: target?.namespace ?? "", kind: target?.kind ?? "deployment", name: target?.name ?? "" }),
    enabled: Boolean(target),
    retry: false,
  });
  const [container, setContainer] = useState("");
  const [ports, setPorts] = useState<Record<number, { on: boolean; local: string }>>({});
  const containers = details.data?.containers ?? [];
  const chosen = containers.find((c) => c.name === container) ?? (containers.length === 1 ? containers[0] : undefined);
  useEffect(() => {
    // a new target: its only container, every declared port, local port = remote port
    const only = details.data?.containers.length === 1 ? details.data.containers[0] : undefined;
    setContainer(only?.name ?? "");
    setPorts(Object.fromEntries((only?.ports ?? []).map((p) => [p.port, { on: true, local: String(p.port) }])));
  }, [details.data]);
  const pickContainer = (name: string) => {
    setContainer(name);
    const c = containers.find((x) => x.name === name);
    setPorts(Object.fromEntries((c?.ports ?? []).map((p) => [p.port, { on: true, local: String(p.port) }])));
  };

  // 3. the local container
  const [locals, setLocals] = useState<LocalContainer[] | null>(null);
  const [dockerError, setDockerError] = useState<string | null>(null);
  useSubscription(
    trpc.containers.watch.subscriptionOptions(undefined, {
      onData: (m: LocalContainersMessage | StreamMarker) => {
        if (isMarker(m)) return;
        if (m.type === "list") {
          setLocals(m.containers);
          setDockerError(null);
        } else setDockerError(m.message);
      },
    }),
  );
  const [local, setLocal] = useState("");
  const running = (locals ?? []).filter((c) => c.state === "running");
  const localContainer = running.find((c) => c.name === local);
  useEffect(() => {
    if (!local && running.length === 1) setLocal(running[0]?.name ?? "");
  }, [local, running]);

  // 4. rules and their preview
  const [rules, setRules] = useState<RuleDraft[]>([]);
  const [samplesText, setSamplesText] = useState<string | null>(null);
  const [nameDraft, setNameDraft] = useState("");
  const name = nameDraft.trim() || (local && target ? defaultName(local, target.name) : "");
  const selectedPorts = Object.entries(ports)
    .filter(([, p]) => p.on)
    .map(([remote, p]) => ({ remote: Number(remote), local: Number(p.local) }));
  const siblings = useMemo(
    () => (target && chosen ? bridges.filter((b) => targetRowKey(b) === targetKey && b.target.container === chosen.name && b.state !== "Failed") : []),
    [bridges, target, chosen, targetKey],
  );
  const samples = samplesText ?? suggestSamples(rules);
  const previewPort = selectedPorts[0]?.remote ?? chosen?.ports[0]?.port ?? 80;
  const preview = useMemo(() => previewRules({ name: name || "this-bridge", rules, port: previewPort, siblings, samples: parseSamples(samples) }), [name, rules, previewPort, siblings, samples]);

  // 5. start
  const op = useOperation<BridgeProgress, BridgeInfo>();
  const [invalid, setInvalid] = useState<string | null>(null);
  const problem = !target
    ? "Pick the workload to bridge."
    : details.isError
      ? details.error.message
      : details.isPending
        ? "Reading the workload's containers…"
      : !chosen
        ? containers.length > 1
          ? "Pick the container to bridge."
          : null
        : chosen.ports.length === 0
          ? `Container ${chosen.name} declares no TCP ports, so there is nothing to bridge: add a containerPort to its spec.`
          : selectedPorts.length === 0
            ? "Tick at least one port to bridge."
            : selectedPorts.some((p) => !Number.isInteger(p.local) || p.local < 1 || p.local > 65535)
              ? "A local port is a number from 1 to 65535: the port your local container listens on."
              : !localContainer
                ? running.length === 0
                  ? "No local container is running: start one on the Local containers screen (gefyra run) first."
                  : "Pick the local container that gets the traffic."
                : !preview.ok
                  ? preview.error
                  : null;

  function submit(e: FormEvent) {
    e.preventDefault();
    if (problem || !target || !chosen || !localContainer) return setInvalid(problem ?? "The form is not complete.");
    setInvalid(null);
    op.start(`Bridging ${SHORT[target.kind]}/${target.name} to ${localContainer.name}`, (h) =>
      client.bridges.start.subscribe(
        {
          context,
          namespace: target.namespace,
          target: { kind: target.kind, name: target.name, container: chosen.name },
          local: localContainer.name,
          // the bridge goes through the connection the local container was started on
          connection: localContainer.connection,
          ports: selectedPorts,
          match: rules.map(toMatch),
          ...(nameDraft.trim() ? { name: nameDraft.trim() } : {}),
        },
        h,
      ),
    );
  }

  const busy = op.state.phase === "running";
  return (
    <section className="panel panel-wide" aria-labelledby="bridge-wizard-heading">
      <div className="panel-head">
        <h2 id="bridge-wizard-heading">Bridge a workload</h2>
      </div>
      <form className="wizard" aria-label="Bridge a workload" onSubmit={submit}>
        <fieldset className="step" disabled={busy}>
          <legend>1. Target in the cluster</legend>
          <div className="form-row">
            <label className="field field-grow">
              <span>Find a workload {selectedNamespace ? `in ${selectedNamespace}` : "in all namespaces"}</span>
              <input className="input" type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="name, image, port…" aria-label="Find a workload" />
            </label>
          </div>
          <label className="field">
            <span>Workload</span>
            <select className="input mono" size={Math.min(8, Math.max(3, candidates.length + 1))} value={targetKey} onChange={(e) => setTargetKey(e.target.value)} aria-label="Workload to bridge">
              {target && !candidates.some((c) => c.key === targetKey) ? <option value={targetKey}>{`${SHORT[target.kind]}/${target.name} (${target.namespace})`}</option> : null}
              {candidates.map((w) => (
                <option key={w.key} value={w.key}>
                  {`${SHORT[KIND_OF_ROW[w.kind] ?? "pod"]}/${w.name}${selectedNamespace ? "" : ` (${w.namespace})`} · ${w.ready || "–"} ${w.status}${byRowKey.has(w.key) ? " · bridged" : ""}`}
                </option>
              ))}
            </select>
          </label>
          {!loaded ? <p className="muted small">Listing workloads…</p> : candidates.length === 0 ? <p className="muted small">No Deployments, StatefulSets or Pods match.</p> : null}
        </fieldset>

        {target ? (
          <fieldset className="step" disabled={busy}>
            <legend>2. Container and ports</legend>
            {details.isPending ? (
              <p className="muted small" role="status">
                Reading the pod template of {SHORT[target.kind]}/{target.name}…
              </p>
            ) : details.isError ? (
              <p className="error" role="alert">
                {details.error.message}
              </p>
            ) : (
              <>
                <p className="muted small">
                  {SHORT[target.kind]}/{target.name} in {target.namespace}: {details.data.ready}/{details.data.replicas} ready
                </p>
                {containers.length > 1 ? (
                  <div className="fieldset field" role="radiogroup" aria-label="Container">
                    {containers.map((c) => (
                      <label key={c.name} className="radio">
                        <input type="radio" name="container" checked={chosen?.name === c.name} onChange={() => pickContainer(c.name)} /> <span className="mono">{c.name}</span>{" "}
                        <span className="muted small">{c.image}</span>
                      </label>
                    ))}
                  </div>
                ) : chosen ? (
                  <p className="small">
                    Container <span className="mono">{chosen.name}</span> <span className="muted">{chosen.image}</span>
                  </p>
                ) : null}
                {chosen ? (
                  <table className="table ports" aria-label="Ports">
                    <thead>
                      <tr>
                        <th>Bridge</th>
                        <th>Container port</th>
                        <th>Local port</th>
                      </tr>
                    </thead>
                    <tbody>
                      {chosen.ports.map((p) => (
                        <tr key={p.port}>
                          <td>
                            <input
                              type="checkbox"
                              aria-label={`Bridge port ${p.port}`}
                              checked={ports[p.port]?.on ?? false}
                              onChange={(e) => setPorts((s) => ({ ...s, [p.port]: { on: e.target.checked, local: s[p.port]?.local ?? String(p.port) } }))}
                            />
                          </td>
                          <td className="mono">
                            {p.port}
                            {p.name ? <span className="muted"> ({p.name})</span> : null}
                          </td>
                          <td>
                            <input
                              className="input mono port-input"
                              inputMode="numeric"
                              aria-label={`Local port for ${p.port}`}
                              value={ports[p.port]?.local ?? String(p.port)}
                              onChange={(e) => setPorts((s) => ({ ...s, [p.port]: { on: s[p.port]?.on ?? true, local: e.target.value } }))}
                            />
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                ) : null}
              </>
            )}
          </fieldset>
        ) : null}

        <fieldset className="step" disabled={busy}>
          <legend>3. Local container</legend>
          {dockerError ? (
            <p className="error" role="alert">
              {dockerError}
            </p>
          ) : locals === null ? (
            <p className="muted small">Asking Docker for local containers…</p>
          ) : running.length === 0 ? (
            <p className="muted small">No local container is running: start one on the Local containers screen first (it joins the cluster network of its namespace).</p>
          ) : (
            <label className="field">
              <span>Gets the traffic</span>
              <select className="input mono" value={local} onChange={(e) => setLocal(e.target.value)} aria-label="Local container">
                <option value="">– pick one –</option>
                {running.map((c) => (
                  <option key={c.name} value={c.name}>
                    {`${c.name} · ${c.image} · ${c.namespace} · connection ${c.connection}`}
                  </option>
                ))}
              </select>
            </label>
          )}
        </fieldset>

        <fieldset className="step" disabled={busy}>
          <legend>4. Rules (optional)</legend>
          <p className="muted small">
            Without rules every request and connection on the ports goes to your container. With rules only requests matching all of them do; everyone else keeps reaching the
            cluster&apos;s copy.
          </p>
          <ul className="rules" aria-label="Rules">
            {rules.map((r, i) => (
              <li key={i} className="rule" aria-label={`Rule ${i + 1}`}>
                <select className="input" aria-label="Matches on" value={r.kind} onChange={(e) => setRules((rs) => rs.map((x, j) => (j === i ? { ...x, kind: e.target.value as RuleDraft["kind"] } : x)))}>
                  <option value="header">header</option>
                  <option value="path">path</option>
                </select>
                {r.kind === "header" ? (
                  <input className="input mono rule-name" aria-label="Header name" placeholder="x-user" value={r.name} spellCheck={false} onChange={(e) => setRules((rs) => rs.map((x, j) => (j === i ? { ...x, name: e.target.value } : x)))} />
                ) : null}
                <select className="input" aria-label="Operator" value={r.op} onChange={(e) => setRules((rs) => rs.map((x, j) => (j === i ? { ...x, op: e.target.value as RuleDraft["op"] } : x)))}>
                  <option value="exact">is exactly</option>
                  <option value="prefix">starts with</option>
                  <option value="regex">matches regex</option>
                </select>
                <input
                  className="input mono field-grow"
                  aria-label="Value"
                  placeholder={r.kind === "path" ? "/api/v2" : "alice"}
                  value={r.value}
                  spellCheck={false}
                  onChange={(e) => setRules((rs) => rs.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)))}
                />
                <button type="button" className="button button-small" aria-label={`Remove rule ${i + 1}`} onClick={() => setRules((rs) => rs.filter((_, j) => j !== i))}>
                  Remove
                </button>
              </li>
            ))}
          </ul>
          <div className="buttons">
            <button type="button" className="button button-small" onClick={() => setRules((rs) => [...rs, { kind: "header", name: "", op: "exact", value: "" }])}>
              Add header rule
            </button>
            <button type="button" className="button button-small" onClick={() => setRules((rs) => [...rs, { kind: "path", name: "", op: "prefix", value: "/" }])}>
              Add path rule
            </button>
          </div>
          <div className="preview">
            <label className="field">
              <span>Sample requests (one per line: METHOD PATH | Header: value)</span>
              <textarea className="input mono" rows={3} value={samples} spellCheck={false} aria-label="Sample requests" onChange={(e) => setSamplesText(e.target.value)} />
            </label>
            {preview.ok ? (
              <table className="table" aria-label="Rule preview">
                <thead>
                  <tr>
                    <th>Request on port {previewPort}</th>
                    <th>Goes to</th>
                  </tr>
                </thead>
                <tbody>
                  {preview.rows.map((row, i) => (
                    <tr key={i}>
                      <td className="mono small">{row.sample.line}</td>
                      <td className={row.to === "mine" ? "ok" : "muted"}>
                        {row.to === "mine" ? `your container${local ? ` ${local}` : ""}` : row.to === "other" ? `bridge ${row.bridge ?? ""} (another one on this container)` : "the cluster"}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p className="error" role="alert" aria-label="Rule problem">
                {preview.error}
              </p>
            )}
            {siblings.length > 0 ? <p className="muted small">Also on this container: {siblings.map((b) => `${b.name} (${b.match.length ? b.match.map(describeMatch).join(" and ") : "all traffic"})`).join("; ")}.</p> : null}
          </div>
        </fieldset>

        <fieldset className="step" disabled={busy}>
          <legend>5. Start</legend>
          <div className="form-row">
            <label className="field">
              <span>Bridge name</span>
              <input className="input mono" value={nameDraft} placeholder={name || "LOCAL-to-TARGET"} spellCheck={false} onChange={(e) => setNameDraft(e.target.value)} aria-label="Bridge name" />
            </label>
          </div>
        </fieldset>
        <div className="buttons">
          <button type="submit" className="button button-primary" disabled={busy}>
            Start bridge
          </button>
          {busy ? (
            <button type="button" className="button" onClick={op.cancel}>
              Cancel
            </button>
          ) : null}
          {problem && !busy ? <span className="muted small">{problem}</span> : null}
        </div>
        {invalid ? (
          <p className="error" role="alert">
            {invalid}
          </p>
        ) : null}
        <ProgressLog state={op.state} describe={(p) => `${p.step}: ${p.message}`} name="Bridge progress" />
      </form>
    </section>
  );
}

const STATE_PILL: Record<string, string> = { Active: "pill-ok", Pending: "pill-wait", Removing: "pill-wait", Failed: "pill-bad" };

function ActiveBridges({ context }: { context: string }) {
  const client = useTRPCClient();
  const { bridges, loaded, error } = useBridges();
  const op = useOperation<UnbridgeProgress, { removed: string[] }>();
  const busy = op.state.phase === "running";
  return (
    <section className="panel panel-wide" aria-labelledby="bridges-heading">
      <div className="panel-head">
        <h2 id="bridges-heading">Bridges</h2>
        <span className="muted small" role="status" aria-label="Bridges count">
          {loaded ? `${bridges.length} in ${context}` : "Loading…"}
        </span>
      </div>
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      {!loaded ? null : bridges.length === 0 ? (
        <p className="empty">No bridges in {context}: start one above.</p>
      ) : (
        <table className="table" aria-label="Active bridges">
          <thead>
            <tr>
              <th>Name</th>
              <th>Target</th>
              <th>Ports</th>
              <th>Rules</th>
              <th>Local</th>
              <th>State</th>
              <th>Pods</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {bridges.map((b) => (
              <tr key={b.name} aria-label={b.name}>
                <td className="mono">{b.name}</td>
                <td className="mono small">
                  {SHORT[b.target.kind]}/{b.target.name}/{b.target.container} <span className="muted">({b.namespace})</span>
                </td>
                <td className="mono small">{b.ports.map((p) => `${p.remote}→${p.local}`).join(", ")}</td>
                <td className="small">{b.match.length ? b.match.map(describeMatch).join(" and ") : "all traffic"}</td>
                <td className="mono small">
                  {b.local} <span className="muted">via {b.connection}</span>
                </td>
                <td>
                  <span className={`pill ${STATE_PILL[b.state] ?? "pill-wait"}`} title={b.message}>
                    {b.state}
                  </span>
                  {b.message && b.state !== "Active" ? <div className="muted small">{b.message}</div> : null}
                </td>
                <td className="small">
                  {b.pods.filter((p) => p.ready).length}/{b.pods.length} ready
                </td>
                <td className="actions">
                  <button
                    type="button"
                    className="button button-small button-danger"
                    aria-label={`Stop ${b.name}`}
                    disabled={busy || b.state === "Removing"}
                    onClick={() => op.start(`Stopping ${b.name}`, (h) => client.bridges.stop.subscribe({ context, name: b.name }, h))}
                  >
                    Stop
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ProgressLog state={op.state} describe={(p) => `${p.step}: ${p.message}`} name="Unbridge progress" />
    </section>
  );
}
