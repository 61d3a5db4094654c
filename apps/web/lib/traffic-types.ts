/** Wire types of the traffic inspector (type-only: nothing of the server reaches the bundle). */
export type {
  BridgeFeedStatus,
  CompareResult,
  FeedAggregate,
  FeedRecord,
  HarLog,
  PodFeedStatus,
  ReplayRequest,
  ReplayResult,
  ReplayTarget,
  Series,
  SeriesPoint,
  TrafficBody,
  TrafficEvent,
  TrafficSessionDto,
  TrafficStatus,
} from "@gefyra/server/trpc";
