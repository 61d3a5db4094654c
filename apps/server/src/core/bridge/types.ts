/**
 * The bridge core's public shapes, shared by the CLI, the dashboard's tRPC router and the tests.
 * A bridge sends a cluster workload's traffic on some container ports to a local container
 * (docs/bridge.md, decision 0017).
 */
import type { Match } from "@gefyra/shared/rules";
import type { ClusterOptions } from "../connection/cluster";

export type TargetKind = "deployment" | "statefulset" | "pod";

export interface BridgePort {
  /** A port the target container declares. */
  remote: number;
  /** The port the local container listens on. */
  local: number;
}

export interface BridgeRequest extends ClusterOptions {
  /** deploy/X[/container] | deployment/X | statefulset/X (sts/X) | pod/X, optionally /container */
  target: string;
  /** The target's namespace (default: the context's namespace, else "default"). */
  namespace?: string;
  /** Name of a local container started with `gefyra run` on this connection. */
  local: string;
  ports: BridgePort[];
  /** ANDed; empty = global bridge (the whole port, also raw TCP, goes local). */
  match?: Match[];
  /** Default: <local>-to-<target name>. */
  name?: string;
  connection?: string;
}

export type BridgeStep = "check" | "local" | "create" | "shadow" | "pods" | "routes" | "ready" | "rollback";
export interface BridgeProgress {
  kind: "bridge";
  step: BridgeStep;
  message: string;
  elapsedMs: number;
}

export type BridgeState = "Pending" | "Active" | "Failed" | "Removing";

export interface BridgedPod {
  name: string;
  /** Carrier runs and has its routes. */
  ready: boolean;
  message?: string;
}

export interface BridgeInfo {
  name: string;
  connection: string;
  namespace: string;
  target: { kind: TargetKind; name: string; container: string };
  ports: BridgePort[];
  match: Match[];
  /** The local container's name. */
  local: string;
  state: BridgeState;
  /** Why it is not Active, one line. */
  message?: string;
  pods: BridgedPod[];
  /** Personal bridges: the shadow workload that serves everyone else. */
  shadow?: string;
  createdAt: string;
}

export interface UnbridgeRequest extends ClusterOptions {
  /** One bridge by name, or every bridge of the connection with all: true. */
  name?: string;
  all?: boolean;
  connection?: string;
}
export interface UnbridgeProgress {
  kind: "unbridge";
  bridge: string;
  step: "remove" | "restore" | "done";
  message: string;
  elapsedMs: number;
}
