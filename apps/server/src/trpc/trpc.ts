/**
 * tRPC setup: context, error formatter, procedures. Routers live in ./routers (one per domain)
 * and are assembled in ./index.ts. Resolvers stay thin: they call the core and the store.
 */
import { initTRPC } from "@trpc/server";
import { z } from "zod";
import type { KubeconfigOptions } from "../core/contexts";
import type { ClientSocket } from "./backpressure";
import { GefyraError } from "../core/errors";
import type { Store } from "../store";

/** What the server hands every request (HTTP and WebSocket alike). */
export interface ServerDeps {
  store: Store;
  /** Version of gefyra-ts (root package.json). */
  version: string;
  /** process start, ms since epoch */
  startedAt: number;
  /** How to find kubeconfig files (tests point this at temp files). */
  kube: KubeconfigOptions;
  /** History retention of this process: asked for a run after many request records were stored. */
  retention?: { nudge(): void };
}

export interface Context extends ServerDeps {
  transport: "http" | "ws";
  /**
   * The browser's WebSocket, for subscriptions over ws: its `bufferedAmount` paces what a
   * subscription sends (./backpressure). Absent over HTTP and for in-process callers.
   */
  socket?: ClientSocket;
}

/**
 * `createContext` for the HTTP handler and the WebSocket adapter. The adapter passes the client's
 * socket as `res`; over HTTP `res` is the ServerResponse, which is not paced.
 */
export function createContextFactory(deps: ServerDeps, transport: Context["transport"]): (opts?: { res?: unknown }) => Context {
  return (opts) => {
    const res = opts?.res;
    return transport === "ws" && isClientSocket(res) ? { ...deps, transport, socket: res } : { ...deps, transport };
  };
}

function isClientSocket(value: unknown): value is ClientSocket {
  return typeof value === "object" && value !== null && typeof (value as ClientSocket).bufferedAmount === "number" && typeof (value as ClientSocket).readyState === "number";
}

const t = initTRPC.context<Context>().create({
  errorFormatter({ shape, error }) {
    const gefyra = error.cause instanceof GefyraError ? error.cause : null;
    return {
      ...shape,
      // The one-line user-facing sentence is the message the dashboard shows.
      message: gefyra ? gefyra.message : shape.message,
      data: {
        ...shape.data,
        // never leak server stack traces to the browser
        stack: undefined,
        gefyra: gefyra ? gefyra.toJSON() : null,
        zodError: error.cause instanceof z.ZodError ? z.flattenError(error.cause) : null,
      },
    };
  },
});

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;
/** Every procedure is local-only: the HTTP layer has already checked token, Host and Origin. */
export const publicProcedure = t.procedure;
