/**
 * The dashboard's API. To add a domain: write routers/<domain>.ts as a plain object
 * `satisfies TRPCRouterRecord` using `publicProcedure`, and add it below.
 */
import { bridgesRouter } from "./routers/bridges";
import { connectionRouter } from "./routers/connection";
import { containersRouter } from "./routers/containers";
import { contextsRouter } from "./routers/contexts";
import { healthRouter } from "./routers/health";
import { profilesRouter } from "./routers/profiles";
import { sessionsRouter } from "./routers/sessions";
import { trafficRouter } from "./routers/traffic";
import { workloadsRouter } from "./routers/workloads";
import { createCallerFactory, createTRPCRouter } from "./trpc";

export const appRouter = createTRPCRouter({
  health: healthRouter,
  contexts: contextsRouter,
  sessions: sessionsRouter,
  connection: connectionRouter,
  workloads: workloadsRouter,
  containers: containersRouter,
  bridges: bridgesRouter,
  traffic: trafficRouter,
  profiles: profilesRouter,
});

export type AppRouter = typeof appRouter;

/** Server-side caller (tests, CLI): `createCaller(ctx).contexts.list()`. */
export const createCaller = createCallerFactory(appRouter);

export { createContextFactory, type Context, type ServerDeps } from "./trpc";
export type { SessionDto } from "./routers/sessions";
export { isStreamMarker, type StreamMarker, type PacingStats } from "./backpressure";
export type { HealthTick } from "./routers/health";
export type { ConnectionSummary } from "./routers/connection";
export type { LogBatch } from "./routers/containers";
export type { BridgesMessage, TargetContainer, TargetDetails } from "./routers/bridges";
export type { TrafficSessionDto } from "./routers/traffic";
export type { FeedRecord, FeedCounts, FeedAggregate, TrafficEvent, TrafficStatus, BridgeFeedStatus, PodFeedStatus, ReplayRequest, ReplayResult, ReplayTarget, CompareResult, Series, SeriesPoint } from "../core/traffic";
export type { HarLog, TrafficRecord, TrafficBody } from "@gefyra/shared";
export type { ProfilesMessage, ProfileRow } from "./routers/profiles";
export type { ProfileStartProgress, ProfileStartResult, ProfileStopProgress, ProfileStopResult } from "../core/profiles/run";
export type { ProfileFile, ProfileProblem } from "../core/profiles/profile-file";
export type { SharedListRow, LocalState } from "../core/profiles/shared";
export type { BridgeInfo, BridgeProgress, BridgeState, BridgePort, UnbridgeProgress, TargetKind } from "../core/bridge";
export type { Match, MatchOp } from "@gefyra/shared/rules";
export type { FeedMessage, FeedStatus, WorkloadRow, WorkloadKind, LocalContainersMessage } from "../core/workloads";
export type { OperationEvent, SessionActivity } from "../core/sessions";
export type { LocalContainer, RunProgress } from "../core/run/local-container";
export type { StatusReport, ConnectionReport, UpProgress, DownProgress, DownResult, UninstallProgress } from "../core/connection";
