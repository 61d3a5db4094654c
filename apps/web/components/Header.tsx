"use client";
import { useQuery } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useTRPC } from "../lib/trpc";

/** App title, server version and whether the live connection (WebSocket) is up. */
export function Header() {
  const trpc = useTRPC();
  const info = useQuery(trpc.health.info.queryOptions());
  const ticks = useSubscription(trpc.health.ticks.subscriptionOptions({ intervalMs: 5_000 }));
  const live = ticks.status === "pending" && ticks.data !== undefined;
  const label = ticks.status === "error" ? "Disconnected" : live ? "Live" : "Connecting…";
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
        <span className={`dot ${ticks.status === "error" ? "dot-bad" : live ? "dot-ok" : "dot-wait"}`} aria-hidden="true" />
        {label}
      </p>
    </header>
  );
}
