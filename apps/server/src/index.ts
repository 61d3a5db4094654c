/**
 * Public entry of @gefyra/server for other workspaces and tests:
 *   const server = await startServer({ port: 0, web: false, dataDir });  // real HTTP + WS server
 *   ... server.url (with ?token=), server.token, server.origin ...
 *   await server.close();   // or `await using server = await startServer(...)`
 */
export { startServer, DEFAULT_PORT, TRPC_PATH, WS_CLOSE_RESTART, type StartServerOptions, type RunningServer } from "./http/server";
export { openStore, resolveDataDir, type Store, type Session, type SessionEvent, type SessionKind, type RequestRecord, type RequestRecordInput, type Profile, type ProfileInput } from "./store";
export { GefyraError, isGefyraError, toGefyraError, describeCause } from "./core/errors";
export { listContexts, checkContext, kubeConfigFor, loadKubeConfig, kubeconfigPaths, type ContextSummary, type ContextListing, type ContextCheck } from "./core/contexts";
export { appRouter, createCaller, type AppRouter } from "./trpc";
