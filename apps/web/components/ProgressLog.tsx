"use client";
import type { OperationState } from "../lib/useOperation";

/** Step-by-step progress of an operation, then its outcome (the error is the one-line sentence). */
export function ProgressLog<P, R>({ state, describe, name }: { state: OperationState<P, R>; describe: (p: P) => string; name: string }) {
  if (state.phase === "idle") return null;
  const progress = state.events.filter((e) => e.type === "progress");
  return (
    <div className="progress">
      {state.missed > 0 ? <p className="muted small">{state.missed} earlier steps not shown: this tab fell behind.</p> : null}
      <ol className="progress-list" role="log" aria-label={name}>
        {progress.map((e, i) => (
          <li key={i} className={i === progress.length - 1 && state.phase === "running" ? "progress-current" : ""}>
            <span className="muted small mono">{new Date(e.at).toLocaleTimeString()}</span> {describe(e.progress)}
          </li>
        ))}
      </ol>
      {state.phase === "running" ? (
        <p className="muted small" role="status">
          {state.label}…
        </p>
      ) : state.phase === "done" ? (
        <p className="ok small" role="status">
          {state.label}: done
        </p>
      ) : (
        <p className="error" role="alert">
          {state.error}
        </p>
      )}
    </div>
  );
}
