/** Live cluster objects for the dashboard: list-then-watch per kind, shared feeds with bounded fan-out. */
export { workloadFeed, stopAllFeeds, WorkloadFeed, WORKLOAD_KINDS, type FeedMessage, type FeedStatus, type FeedError } from "./feed";
export { watchResource, type ResourceWatchHandlers, type WatchResourceOptions } from "./informer";
export { rowKey, type WorkloadKind, type WorkloadRow } from "./rows";
export { watchLocalContainers, type LocalContainersMessage } from "./local-containers";
