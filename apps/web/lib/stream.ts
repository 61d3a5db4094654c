/**
 * Markers the server sends in place of what a slow tab did not get (apps/server/src/trpc/backpressure):
 * `resync` (a full snapshot follows: re-list) and `missed` (N events were dropped).
 */
import type { StreamMarker } from "./types";

export function isMarker(value: unknown): value is StreamMarker {
  return typeof value === "object" && value !== null && "stream" in value;
}
