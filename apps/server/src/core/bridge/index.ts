/**
 * The Bridge capability: a cluster workload's traffic on some ports goes to a local container
 * (all of it, or the requests that match rules), and everything is restored on unbridge.
 */
export { bridge, unbridge, listBridges, watchBridges, defaultBridgeName } from "./bridge";
export type * from "./types";
