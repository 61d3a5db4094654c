"use client";
import { useQuery } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useEffect, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { useBridges } from "../lib/bridges";
import { draftFromProfile, emptyDraft, problemsByField, profileFromDraft, type FormField, type ProfileDraft } from "../lib/profileForm";
import { describeMatch, type RuleDraft } from "../lib/rules";
import { useSelection } from "../lib/selection";
import { isMarker } from "../lib/stream";
import { useTRPC, useTRPCClient } from "../lib/trpc";
import type {
  LocalContainer,
  LocalContainersMessage,
  ProfileFile,
  ProfileRow,
  ProfilesMessage,
  ProfileStartProgress,
  ProfileStartResult,
  ProfileStopProgress,
  ProfileStopResult,
  SharedListRow,
  StreamMarker,
} from "../lib/types";
import { useDebounced } from "../lib/useDebounced";
import { useOperation, type OperationState } from "../lib/useOperation";
import { ProgressLog } from "./ProgressLog";

const START_STEPS: Array<{ step: ProfileStartProgress["step"]; label: string }> = [
  { step: "profile", label: "Read the profile" },
  { step: "container", label: "Start the local container" },
  { step: "bridge", label: "Bridge the workload" },
  { step: "ready", label: "Ready" },
];

const SHARED_PILL: Record<string, string> = {
  "in sync": "pill-ok",
  "local edits": "pill-wait",
  "changed in cluster": "pill-wait",
  "changed in cluster and locally": "pill-bad",
  "deleted in cluster": "pill-bad",
  "local only": "pill-wait",
  "not pulled": "pill-wait",
};

const target = (p: ProfileFile) => `${p.spec.target.workload} (${p.spec.target.namespace})`;
const ports = (p: ProfileFile) => p.spec.ports.map((x) => `${x.remote}→${x.local}`).join(", ");
const rules = (p: ProfileFile) => (p.spec.rules.length ? p.spec.rules.map(describeMatch).join(" and ") : "all traffic");

/** Profiles: the local ones and the context's shared ones (live), create, edit, delete, publish, pull, start and stop. */
export function ProfilesPanel() {
  const { context } = useSelection();
  if (!context) {
    return (
      <section className="panel" aria-labelledby="profiles-heading">
        <h2 id="profiles-heading">Profiles</h2>
        <p className="empty">Pick a context in the Contexts panel: profiles are started and shared there.</p>
      </section>
    );
  }
  return <Profiles key={context} context={context} />;
}

/** `id` tells one opening of the form from the next (a new form starts fresh). */
type Editor = { id: number; mode: "new" | "edit"; draft: ProfileDraft } | null;

function Profiles({ context }: { context: string }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const { namespace, connectionName } = useSelection();

  // the profiles, live: local edits (this tab, others, the CLI) and teammates' publishes
  const [state, setState] = useState<ProfilesMessage | null>(null);
  const watch = useSubscription(
    trpc.profiles.watch.subscriptionOptions(
      { context },
      {
        onData: (m: ProfilesMessage | StreamMarker) => {
          // a resync is followed by the current lists
          if (!isMarker(m)) setState(m);
        },
      },
    ),
  );

  // what runs: the profiles' bridges and local containers are named after them
  const { bridges } = useBridges();
  const [locals, setLocals] = useState<LocalContainer[]>([]);
  useSubscription(
    trpc.containers.watch.subscriptionOptions(undefined, {
      onData: (m: LocalContainersMessage | StreamMarker) => {
        if (!isMarker(m) && m.type === "list") setLocals(m.containers);
      },
    }),
  );

  // the connection a start goes through: the selected one, else one whose local side runs here
  const status = useQuery({ ...trpc.connection.status.queryOptions({ context }), retry: false, refetchInterval: 30_000 });
  const defaults = useQuery(trpc.connection.defaults.queryOptions());
  const runningHere = (status.data?.connections ?? []).filter((c) => c.local?.running).map((c) => c.name);
  const [connection, setConnection] = useState("");
  const chosenConnection = connection || connectionName || runningHere[0] || defaults.data?.name || "";

  const [editor, setEditor] = useState<Editor>(null);
  const [fromBridge, setFromBridge] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<string | null>(null);

  const act = async (label: string, work: () => Promise<string | void>) => {
    setBusy(label);
    setActionError(null);
    setNotice(null);
    try {
      const done = await work();
      if (done) setNotice(done);
    } catch (error) {
      setActionError(error instanceof Error ? error.message : String(error));
    } finally {
      setBusy(null);
    }
  };

  const start = useOperation<ProfileStartProgress, ProfileStartResult>();
  const stop = useOperation<ProfileStopProgress, ProfileStopResult>();
  const operating = start.state.phase === "running" || stop.state.phase === "running";
  const [lastOp, setLastOp] = useState<"start" | "stop" | null>(null);

  const startProfile = (name: string) => {
    setLastOp("start");
    start.start(`Starting profile ${name}`, (h) => client.profiles.start.subscribe({ context, name, ...(chosenConnection ? { connection: chosenConnection } : {}) }, h));
  };
  const stopProfile = (name: string) => {
    setLastOp("stop");
    stop.start(`Stopping profile ${name}`, (h) => client.profiles.stop.subscribe({ context, name, ...(chosenConnection ? { connection: chosenConnection } : {}) }, h));
  };

  const running = (name: string) => {
    const bridge = bridges.find((b) => b.name === name);
    const container = locals.find((c) => c.name === name);
    return { bridge, container, any: Boolean(bridge ?? container) };
  };

  const local = state?.local ?? [];
  return (
    <>
      <section className="panel panel-wide" aria-labelledby="profiles-heading">
        <div className="panel-head">
          <h2 id="profiles-heading">Profiles</h2>
          <span className="muted small" role="status" aria-label="Profiles count">
            {state ? `${local.length} saved here` : "Loading…"}
          </span>
        </div>
        <div className="toolbar buttons">
          <button type="button" className="button" onClick={() => (setEditor({ id: Date.now(), mode: "new", draft: emptyDraft(namespace) }), setFromBridge(false))}>
            New profile
          </button>
          <button type="button" className="button" onClick={() => (setFromBridge(true), setEditor(null))}>
            New from a running bridge
          </button>
          <label className="field field-inline">
            <span>Start through connection</span>
            <input
              className="input mono"
              list="profile-connections"
              aria-label="Connection for starting profiles"
              value={chosenConnection}
              onChange={(e) => setConnection(e.target.value)}
              spellCheck={false}
            />
            <datalist id="profile-connections">
              {runningHere.map((n) => (
                <option key={n} value={n} />
              ))}
            </datalist>
          </label>
        </div>
        {watch.status === "error" ? (
          <p className="error" role="alert">
            {watch.error?.message}
          </p>
        ) : null}
        {actionError ? (
          <p className="error" role="alert" aria-label="Profile action problem">
            {actionError}
          </p>
        ) : null}
        {notice ? (
          <p className="ok small" role="status">
            {notice}
          </p>
        ) : null}
        {editor ? (
          <ProfileEditor
            key={editor.id}
            context={context}
            editor={editor}
            onDone={(message) => {
              setEditor(null);
              setNotice(message);
            }}
            onCancel={() => setEditor(null)}
          />
        ) : null}
        {fromBridge ? (
          <FromBridgeForm
            context={context}
            onDone={(r) => {
              setFromBridge(false);
              setNotice(r);
            }}
            onCancel={() => setFromBridge(false)}
          />
        ) : null}
        {state === null ? null : local.length === 0 ? (
          <p className="empty">No profiles saved here yet: create one, save one from a running bridge, or pull a shared one below.</p>
        ) : (
          <table className="table" aria-label="Profiles">
            <thead>
              <tr>
                <th>Name</th>
                <th>Target</th>
                <th>Ports</th>
                <th>Rules</th>
                <th>Local container</th>
                <th>Shared in {context}</th>
                <th>Running</th>
                <th aria-label="Actions" />
              </tr>
            </thead>
            <tbody>
              {local.map((row) => (
                <LocalRow
                  key={row.profile.metadata.name}
                  row={row}
                  run={running(row.profile.metadata.name)}
                  disabled={Boolean(busy) || operating}
                  confirmDelete={confirmDelete === row.profile.metadata.name}
                  onStart={() => startProfile(row.profile.metadata.name)}
                  onStop={() => stopProfile(row.profile.metadata.name)}
                  onEdit={() => (setEditor({ id: Date.now(), mode: "edit", draft: draftFromProfile(row.profile) }), setFromBridge(false))}
                  onPublish={() =>
                    act(`Publishing ${row.profile.metadata.name}`, async () => {
                      const r = await client.profiles.publish.mutate({ context, name: row.profile.metadata.name, create: row.shared === "deleted in cluster" });
                      return `Published ${r.name} in ${context} (version ${r.resourceVersion}).`;
                    })
                  }
                  onDelete={() => {
                    const name = row.profile.metadata.name;
                    if (confirmDelete !== name) return setConfirmDelete(name);
                    setConfirmDelete(null);
                    void act(`Deleting ${name}`, async () => {
                      await client.profiles.delete.mutate({ name });
                      return `Deleted ${name} here${row.shared && row.shared !== "local only" ? " (the shared copy stays in the cluster)" : ""}.`;
                    });
                  }}
                />
              ))}
            </tbody>
          </table>
        )}
        {busy ? (
          <p className="muted small" role="status">
            {busy}…
          </p>
        ) : null}
        {lastOp === "start" ? <StartProgress state={start.state} onCancel={start.cancel} /> : null}
        {lastOp === "stop" ? <ProgressLog state={stop.state} describe={(p) => `${p.step}: ${p.message}`} name="Profile stop progress" /> : null}
      </section>
      <SharedProfiles
        context={context}
        state={state}
        disabled={Boolean(busy)}
        onPull={(name) =>
          act(`Pulling ${name}`, async () => {
            const r = await client.profiles.pull.mutate({ context, name });
            return `Pulled ${name} (version ${r.resourceVersion}${r.changedBy ? `, by ${r.changedBy}` : ""}); your personal values were kept.`;
          })
        }
        onDelete={(name) =>
          act(`Deleting the shared ${name}`, async () => {
            await client.profiles.deleteShared.mutate({ context, name });
            return `Deleted the shared profile ${name} in ${context}; your local copy stays.`;
          })
        }
      />
    </>
  );
}

function LocalRow(props: {
  row: ProfileRow;
  run: { bridge: { state: string; message?: string } | undefined; container: LocalContainer | undefined; any: boolean };
  disabled: boolean;
  confirmDelete: boolean;
  onStart: () => void;
  onStop: () => void;
  onEdit: () => void;
  onPublish: () => void;
  onDelete: () => void;
}) {
  const { row, run, disabled } = props;
  const p = row.profile;
  const name = p.metadata.name;
  const canPublish = row.shared !== "in sync" && row.shared !== "changed in cluster";
  return (
    <tr aria-label={name}>
      <td>
        <span className="mono">{name}</span>
        {p.metadata.description ? <div className="muted small">{p.metadata.description}</div> : null}
      </td>
      <td className="mono small">{target(p)}</td>
      <td className="mono small">{ports(p)}</td>
      <td className="small">{rules(p)}</td>
      <td className="mono small">
        {p.spec.local.image ?? (p.personal?.build ? `build ${p.personal.build}` : "–")}
        {p.spec.local.envFrom ? <div className="muted">env from {p.spec.local.envFrom}</div> : null}
      </td>
      <td aria-label={`Sharing of ${name}`}>
        {row.shared ? <span className={`pill ${SHARED_PILL[row.shared] ?? "pill-wait"}`}>{row.shared}</span> : <span className="muted small">not shared</span>}
      </td>
      <td className="small" aria-label={`Running state of ${name}`}>
        {run.any ? (
          <>
            {run.container ? <div>container {run.container.state}</div> : null}
            {run.bridge ? <div title={run.bridge.message}>bridge {run.bridge.state}</div> : null}
          </>
        ) : (
          <span className="muted">stopped</span>
        )}
      </td>
      <td className="actions">
        <button type="button" className="button button-small button-primary" aria-label={`Start ${name}`} disabled={disabled || run.any} onClick={props.onStart}>
          Start
        </button>
        <button type="button" className="button button-small" aria-label={`Stop ${name}`} disabled={disabled || !run.any} onClick={props.onStop}>
          Stop
        </button>
        <button type="button" className="button button-small" aria-label={`Edit ${name}`} disabled={disabled} onClick={props.onEdit}>
          Edit
        </button>
        <button type="button" className="button button-small" aria-label={`Publish ${name}`} disabled={disabled || !canPublish} onClick={props.onPublish}>
          Publish
        </button>
        <button type="button" className="button button-small button-danger" aria-label={props.confirmDelete ? `Confirm delete ${name}` : `Delete ${name}`} disabled={disabled} onClick={props.onDelete}>
          {props.confirmDelete ? "Confirm delete" : "Delete"}
        </button>
      </td>
    </tr>
  );
}

/** The start's steps with where it is, above the step-by-step log. */
function StartProgress({ state, onCancel }: { state: OperationState<ProfileStartProgress, ProfileStartResult>; onCancel: () => void }) {
  const seen = new Set(state.events.flatMap((e) => (e.type === "progress" ? [e.progress.step] : [])));
  const current = [...state.events].reverse().find((e) => e.type === "progress" && e.progress.step !== "rollback");
  const currentStep = current?.type === "progress" ? current.progress.step : null;
  const rolledBack = seen.has("rollback");
  return (
    <div className="progress" aria-label="Profile start">
      <ol className="progress-list" aria-label="Start steps">
        {START_STEPS.map((s) => {
          const reached = seen.has(s.step);
          const done = state.phase === "done" || (reached && s.step !== currentStep);
          const now = state.phase === "running" && s.step === currentStep;
          const mark = done ? "✓" : now ? "…" : state.phase === "failed" && s.step === currentStep ? "✗" : "○";
          return (
            <li key={s.step} aria-current={now ? "step" : undefined} className={now ? "progress-current" : ""} aria-label={`${s.label}: ${done ? "done" : now ? "in progress" : state.phase === "failed" && s.step === currentStep ? "failed" : "pending"}`}>
              {mark} {s.label}
            </li>
          );
        })}
        {rolledBack ? <li className="bad">Rolled back: what was started was removed again</li> : null}
      </ol>
      {state.phase === "running" ? (
        <button type="button" className="button button-small" onClick={onCancel}>
          Cancel start
        </button>
      ) : null}
      <ProgressLog state={state} describe={(p) => `${p.step}${p.detail ? ` (${p.detail})` : ""}: ${p.message}`} name="Profile progress" />
    </div>
  );
}

function SharedProfiles({ context, state, disabled, onPull, onDelete }: { context: string; state: ProfilesMessage | null; disabled: boolean; onPull: (name: string) => void; onDelete: (name: string) => void }) {
  const shared = state?.shared ?? null;
  return (
    <section className="panel panel-wide" aria-labelledby="shared-profiles-heading">
      <div className="panel-head">
        <h2 id="shared-profiles-heading">Shared in {context}</h2>
        <span className="muted small" role="status" aria-label="Shared profiles count">
          {shared ? `${shared.length} shared` : state?.sharedError ? "unavailable" : "Loading…"}
        </span>
      </div>
      {state?.sharedError ? (
        <p className="error" role="alert" aria-label="Shared profiles problem">
          {state.sharedError.message}
        </p>
      ) : null}
      {shared === null ? null : shared.length === 0 ? (
        <p className="empty">Nobody shares a profile in {context} yet: publish one of yours above.</p>
      ) : (
        <table className="table" aria-label="Shared profiles">
          <thead>
            <tr>
              <th>Name</th>
              <th>Target</th>
              <th>Local container</th>
              <th>Rules</th>
              <th>Changed by</th>
              <th>Your copy</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {shared.map((s) => (
              <SharedRow key={s.name} s={s} disabled={disabled} onPull={onPull} onDelete={onDelete} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function SharedRow({ s, disabled, onPull, onDelete }: { s: SharedListRow; disabled: boolean; onPull: (name: string) => void; onDelete: (name: string) => void }) {
  const p = s.profile;
  const loaded = s.local !== "not pulled" && s.local !== "local only";
  return (
    <tr aria-label={s.name}>
      <td>
        <span className="mono">{s.name}</span>
        {p?.metadata.description ? <div className="muted small">{p.metadata.description}</div> : null}
      </td>
      {p ? (
        <>
          <td className="mono small">
            {target(p)} <span className="muted">{ports(p)}</span>
          </td>
          <td className="mono small" aria-label={`Image of shared ${s.name}`}>
            {p.spec.local.image ?? "–"}
          </td>
          <td className="small">{rules(p)}</td>
        </>
      ) : (
        <td colSpan={3} className="error small">
          not a valid profile: {s.problem}
        </td>
      )}
      <td className="small">
        {s.changedBy ?? "–"}
        {s.changedAt ? <div className="muted">{new Date(s.changedAt).toLocaleString()}</div> : null}
      </td>
      <td aria-label={`Your copy of ${s.name}`}>
        <span className={`pill ${SHARED_PILL[s.local] ?? "pill-wait"}`}>{s.local}</span>
      </td>
      <td className="actions">
        <button type="button" className="button button-small" aria-label={`Pull ${s.name}`} disabled={disabled || !p || s.local === "in sync"} onClick={() => onPull(s.name)}>
          Pull
        </button>
        <button type="button" className="button button-small button-danger" aria-label={`Delete ${s.name} from the cluster`} disabled={disabled || !loaded} title={loaded ? undefined : "pull it first: nobody's newer edit is deleted unseen"} onClick={() => onDelete(s.name)}>
          Delete from cluster
        </button>
      </td>
    </tr>
  );
}

// ---- the form ---------------------------------------------------------------------------------

function Field({ id, label, problems, children, hint }: { id: FormField; label: string; problems: string[] | undefined; children: (props: { id: string; "aria-invalid": boolean; "aria-describedby"?: string }) => ReactNode; hint?: string }) {
  const errorId = `profile-${id}-problem`;
  return (
    <div className="field">
      <label htmlFor={`profile-${id}`}>{label}</label>
      {children({ id: `profile-${id}`, "aria-invalid": Boolean(problems?.length), ...(problems?.length ? { "aria-describedby": errorId } : {}) })}
      {hint ? <span className="muted small">{hint}</span> : null}
      {problems?.length ? (
        <p className="error small" id={errorId} role="alert" aria-label={`Problem with ${label}`}>
          {problems.join("; ")}
        </p>
      ) : null}
    </div>
  );
}

function ProfileEditor({ context, editor, onDone, onCancel }: { context: string; editor: NonNullable<Editor>; onDone: (message: string) => void; onCancel: () => void }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const [draft, setDraft] = useState<ProfileDraft>(editor.draft);
  const [mode, setMode] = useState(editor.mode);
  const [touched, setTouched] = useState<Set<FormField>>(new Set());
  const [attempted, setAttempted] = useState(false);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const { profile, problems: lineProblems } = useMemo(() => profileFromDraft(draft), [draft]);
  const checked = useDebounced(profile, 250);
  const check = useQuery({ ...trpc.profiles.check.queryOptions({ profile: checked }), placeholderData: (prev) => prev });
  const all = useMemo(() => {
    const byField = problemsByField(check.data?.problems ?? []);
    for (const p of lineProblems) (byField[p.field] ??= []).unshift(p.message);
    return byField;
  }, [check.data, lineProblems]);
  const shown = (f: FormField) => (attempted || touched.has(f) ? all[f] : undefined);
  const set = (f: keyof ProfileDraft) => (e: { target: { value: string } }) => {
    setDraft((d) => ({ ...d, [f]: e.target.value }));
    setTouched((t) => new Set(t).add(f));
  };
  const setRules = (update: (rules: RuleDraft[]) => RuleDraft[]) => {
    setDraft((d) => ({ ...d, rules: update(d.rules) }));
    setTouched((t) => new Set(t).add("rules"));
  };
  useEffect(() => setError(null), [draft]);

  async function save(publish: boolean) {
    setAttempted(true);
    // the check of exactly this draft: never save past a problem the schema would name
    const result = await client.profiles.check.query({ profile });
    if (lineProblems.length || !result.ok) return setError("Fix the fields marked above first: nothing was saved.");
    setSaving(true);
    setError(null);
    try {
      const { name } = await client.profiles.save.mutate({ profile, create: mode === "new" });
      setMode("edit");
      if (!publish) return onDone(`Saved ${name}.`);
      try {
        const r = await client.profiles.publish.mutate({ context, name });
        onDone(`Saved ${name} and published it in ${context} (version ${r.resourceVersion}).`);
      } catch (e) {
        // saved here, not shared: the conflict (who changed it) stays in front of the edit
        setError(`Saved here, but not published: ${e instanceof Error ? e.message : String(e)}`);
      }
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setSaving(false);
    }
  }

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void save(false);
  };

  return (
    <form className="run-form" aria-label="Profile editor" onSubmit={submit} noValidate>
      <h3>{mode === "new" ? "New profile" : `Edit ${draft.name}`}</h3>
      <fieldset className="step" disabled={saving}>
        <legend>What it bridges (shared)</legend>
        <div className="grid-2">
          <Field id="name" label="Name" problems={shown("name")}>
            {(a) => <input {...a} className="input mono" value={draft.name} onChange={set("name")} readOnly={mode === "edit"} placeholder="api-alice" spellCheck={false} />}
          </Field>
          <Field id="description" label="Description" problems={shown("description")}>
            {(a) => <input {...a} className="input" value={draft.description} onChange={set("description")} placeholder="what it is for" />}
          </Field>
          <Field id="namespace" label="Namespace" problems={shown("namespace")}>
            {(a) => <input {...a} className="input mono" value={draft.namespace} onChange={set("namespace")} placeholder="shop" spellCheck={false} />}
          </Field>
          <Field id="workload" label="Workload" problems={shown("workload")} hint="deploy/NAME[/CONTAINER], statefulset/NAME or pod/NAME">
            {(a) => <input {...a} className="input mono" value={draft.workload} onChange={set("workload")} placeholder="deploy/api/app" spellCheck={false} />}
          </Field>
          <Field id="ports" label="Ports" problems={shown("ports")} hint="REMOTE:LOCAL per line: the workload's port, then your container's">
            {(a) => <textarea {...a} className="input mono" rows={2} value={draft.ports} onChange={set("ports")} placeholder="8080:8080" spellCheck={false} />}
          </Field>
        </div>
        <div className="field">
          <span>Rules (none: all traffic on the ports)</span>
          <ul className="rules" aria-label="Profile rules">
            {draft.rules.map((r, i) => (
              <li key={i} className="rule" aria-label={`Profile rule ${i + 1}`}>
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
                <input className="input mono field-grow" aria-label="Value" value={r.value} spellCheck={false} onChange={(e) => setRules((rs) => rs.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)))} />
                <button type="button" className="button button-small" aria-label={`Remove profile rule ${i + 1}`} onClick={() => setRules((rs) => rs.filter((_, j) => j !== i))}>
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
          {shown("rules")?.length ? (
            <p className="error small" role="alert" aria-label="Problem with Rules">
              {shown("rules")?.join("; ")}
            </p>
          ) : null}
        </div>
      </fieldset>
      <fieldset className="step" disabled={saving}>
        <legend>Local container (shared)</legend>
        <div className="grid-2">
          <Field id="image" label="Image" problems={shown("image")}>
            {(a) => <input {...a} className="input mono" value={draft.image} onChange={set("image")} placeholder="registry/api:dev" spellCheck={false} />}
          </Field>
          <Field id="envFrom" label="Env from workload" problems={shown("envFrom")}>
            {(a) => <input {...a} className="input mono" value={draft.envFrom} onChange={set("envFrom")} placeholder="deploy/api" spellCheck={false} />}
          </Field>
          <Field id="env" label="Environment" problems={shown("env")} hint="KEY=VALUE per line; wins over env-from">
            {(a) => <textarea {...a} className="input mono" rows={2} value={draft.env} onChange={set("env")} spellCheck={false} />}
          </Field>
          <Field id="published" label="Published ports" problems={shown("published")} hint="HOST:CONTAINER per line (binds 127.0.0.1)">
            {(a) => <textarea {...a} className="input mono" rows={2} value={draft.published} onChange={set("published")} spellCheck={false} />}
          </Field>
        </div>
      </fieldset>
      <fieldset className="step" disabled={saving}>
        <legend>This machine only (personal, never shared)</legend>
        <div className="grid-2">
          <Field id="build" label="Build context" problems={shown("build")} hint="a folder with a Dockerfile; built instead of pulling the image">
            {(a) => <input {...a} className="input mono" value={draft.build} onChange={set("build")} placeholder="/home/me/src/api" spellCheck={false} />}
          </Field>
          <Field id="volumes" label="Volumes" problems={shown("volumes")} hint="HOST_PATH:CONTAINER_PATH[:ro] per line">
            {(a) => <textarea {...a} className="input mono" rows={2} value={draft.volumes} onChange={set("volumes")} spellCheck={false} />}
          </Field>
        </div>
      </fieldset>
      {shown("form")?.length ? (
        <p className="error small" role="alert">
          {shown("form")?.join("; ")}
        </p>
      ) : null}
      <div className="buttons">
        <button type="submit" className="button button-primary" disabled={saving}>
          Save
        </button>
        <button type="button" className="button" disabled={saving} onClick={() => void save(true)}>
          Save and publish
        </button>
        <button type="button" className="button" disabled={saving} onClick={onCancel}>
          Cancel
        </button>
      </div>
      {error ? (
        <p className="error" role="alert" aria-label="Profile editor problem">
          {error}
        </p>
      ) : null}
    </form>
  );
}

function FromBridgeForm({ context, onDone, onCancel }: { context: string; onDone: (message: string) => void; onCancel: () => void }) {
  const client = useTRPCClient();
  const { bridges, loaded } = useBridges();
  const [bridge, setBridge] = useState("");
  const [name, setName] = useState("");
  const [replace, setReplace] = useState(false);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const active = bridges.filter((b) => b.state !== "Removing");
  useEffect(() => {
    if (!bridge && active.length === 1) setBridge(active[0]?.name ?? "");
  }, [bridge, active]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!bridge) return setError("Pick the running bridge to save.");
    setSaving(true);
    setError(null);
    try {
      const r = await client.profiles.fromBridge.mutate({ context, bridge, name: name.trim() || bridge, replace });
      onDone(`Saved ${r.profile.metadata.name} from bridge ${bridge}${r.notes.length ? ` (${r.notes.join("; ")})` : ""}.`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setSaving(false);
    }
  }

  return (
    <form className="run-form" aria-label="Profile from a running bridge" onSubmit={(e) => void submit(e)}>
      <h3>New profile from a running bridge</h3>
      <p className="muted small">Target, ports and rules come from the bridge; image, env-from, variables and published ports from its local container. Volume paths stay on this machine.</p>
      <div className="grid-2">
        <label className="field">
          <span>Bridge</span>
          <select className="input mono" value={bridge} onChange={(e) => setBridge(e.target.value)} aria-label="Bridge to save">
            <option value="">{loaded ? (active.length ? "– pick one –" : "no bridges in this context") : "loading…"}</option>
            {active.map((b) => (
              <option key={b.name} value={b.name}>
                {`${b.name} · ${b.target.kind}/${b.target.name} (${b.namespace}) → ${b.local}`}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Profile name</span>
          <input className="input mono" value={name} placeholder={bridge || "api-alice"} onChange={(e) => setName(e.target.value)} spellCheck={false} />
        </label>
        <label className="radio">
          <input type="checkbox" checked={replace} onChange={(e) => setReplace(e.target.checked)} /> Replace a profile of that name
        </label>
      </div>
      <div className="buttons">
        <button type="submit" className="button button-primary" disabled={saving}>
          Save profile
        </button>
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      {error ? (
        <p className="error" role="alert" aria-label="From bridge problem">
          {error}
        </p>
      ) : null}
    </form>
  );
}
