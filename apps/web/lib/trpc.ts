"use client";
/**
 * The dashboard's only way to the server: tRPC over the same origin. Queries and mutations
 * go through httpBatchLink (/api/trpc), subscriptions through one WebSocket (/api/trpc).
 * The access cookie set by the server rides along on both.
 */
import { createTRPCClient, createWSClient, httpBatchLink, splitLink, wsLink, type TRPCClient } from "@trpc/client";
import { createTRPCContext } from "@trpc/tanstack-react-query";
import type { AppRouter } from "@gefyra/server/trpc";
import { retryDelayMs, socketClosed, socketOpened } from "./live";

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

export type { AppRouter };

export function createBrowserClient(): TRPCClient<AppRouter> {
  if (typeof window === "undefined") {
    // Server-side render: nothing is fetched there (queries run in the browser only).
    return createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: "http://127.0.0.1/api/trpc" })] });
  }
  const wsClient = createWSClient({
    url: `${window.location.protocol === "https:" ? "wss" : "ws"}://${window.location.host}/api/trpc`,
    // connect on the first subscription; reconnect with back-off after server restarts (close code 1012)
    lazy: { enabled: true, closeMs: 30_000 },
    retryDelayMs,
    onOpen: socketOpened,
    onClose: (cause) => socketClosed(cause?.code),
  });
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: wsLink({ client: wsClient }),
        false: httpBatchLink({ url: "/api/trpc" }),
      }),
    ],
  });
}
