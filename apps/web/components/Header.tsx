"use client";
import { useQuery } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useLiveState, type LiveState } from "../lib/live";
import { useTRPC } from "../lib/trpc";

const LABELS: Record<LiveState, string> = {
  connecting: "Connecting…",
  live: "Live",
  restarting: "Server restarting: reconnecting…",
  down: "Disconnected: reconnecting…",
  "signed-out": "Signed out",
};

/** App title, server version and whether the live connection (WebSocket) is up. */
export function Header() {
  const trpc = useTRPC();
  const info = useQuery(trpc.health.info.queryOptions());
  // the heartbeat keeps one subscription open, so the socket (and its state below) is always there
  const ticks = useSubscription(trpc.health.ticks.subscriptionOptions({ intervalMs: 5_000 }));
  const live = useLiveState();
  const state: LiveState = live === "live" && ticks.data === undefined ? "connecting" : live;
  const bad = state === "down" || state === "signed-out" || ticks.status === "error";
  return (
    <header className="header">
      <div className="brand">
        <span className="logo" aria-hidden="true">
          ⇄
        </span>
        <h1>gefyra-ts</h1>
        {info.data ? <span className="muted">v{info.data.version}</span> : null}
      </div>
      <p className="status" role="status" aria-label="Server connection">
        <span className={`dot ${bad ? "dot-bad" : state === "live" ? "dot-ok" : "dot-wait"}`} aria-hidden="true" />
        {LABELS[state]}
      </p>
      {state === "signed-out" ? (
        <p className="error header-alert" role="alert">
          gefyra-ts was restarted with a new access token: open the URL it printed (http://127.0.0.1:PORT/?token=…); this tab reconnects once you have.
        </p>
      ) : null}
    </header>
  );
}
