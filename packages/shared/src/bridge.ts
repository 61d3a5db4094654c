/**
 * The Bridge custom resource (gefyra-ts.dev/v1alpha1): one developer's claim on some ports of a
 * cluster workload's container, sent to a local container through their connection (decision
 * 0017, docs/bridge.md). Written by the local side (CLI/dashboard), reconciled by the operator.
 *
 * Bridges on the same container of the same workload form a *group*: they share one Carrier per
 * pod (one route table), one shadow workload (when any has rules) and one control token.
 */
import { z } from "zod";
import { type API_VERSION, CRD_GROUP, CRD_VERSION } from "./constants";
import { conditionSchema } from "./connection";
import { MatchSchema } from "./rules";
import type { Manifest } from "./manifests";

export const BRIDGE_KIND = "Bridge";
export const BRIDGE_PLURAL = "bridges";
export const BRIDGE_CRD_NAME = `${BRIDGE_PLURAL}.${CRD_GROUP}`;
/** Holds a Bridge until the operator has restored its pods. */
export const BRIDGE_FINALIZER = `${CRD_GROUP}/restore`;
/** On a bridged pod: JSON {image, group} of the container it replaced (key suffix: container name). */
export const CARRIER_ANNOTATION_PREFIX = `${CRD_GROUP}/carrier.`;
/**
 * On a pod held out of its Services while a container is swapped: the ID of the container that is
 * being replaced. While it runs, the admission policy ROTATION_HOLD_POLICY refuses Ready=True
 * (decision 0030).
 */
export const ROTATION_HOLD_ANNOTATION = `${CRD_GROUP}/rotation-hold`;
export const ROTATION_HOLD_POLICY = "gefyra-ts-rotation-hold";
/** On shadow workloads, their pods and Services: the group they serve. */
export const SHADOW_LABEL = `${CRD_GROUP}/shadow`;
/** On Bridges: their group (so one list call finds a group's members). */
export const BRIDGE_GROUP_LABEL = `${CRD_GROUP}/bridge-group`;
/** The port Carrier's control API (routes, records) listens on in a bridged pod. */
export const CARRIER_CONTROL_PORT = 8999;
/** Stowaway ports handed out to bridged ports (one per bridge port), and Cargo's ports for them. */
export const STOWAWAY_BRIDGE_PORTS = { min: 20000, max: 29999 } as const;
export const CARGO_BRIDGE_PORTS = { min: 30000, max: 39999 } as const;

export const bridgeNameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "lowercase letters, digits and '-', starting and ending with a letter or digit");

export const TARGET_KINDS = ["deployment", "statefulset", "pod"] as const;
export type BridgeTargetKind = (typeof TARGET_KINDS)[number];

export const bridgeTargetSchema = z.object({
  namespace: z.string().min(1).max(63),
  kind: z.enum(TARGET_KINDS),
  name: z.string().min(1).max(253),
  container: z.string().min(1).max(63),
});
export type BridgeTarget = z.infer<typeof bridgeTargetSchema>;

export const bridgePortSchema = z.object({
  /** A port the target container declares (or a probe port). */
  remote: z.number().int().min(1).max(65535),
  /** The local container's port (shown; the tunnel port below is what carries it). */
  local: z.number().int().min(1).max(65535),
  /** Port on the connection's tunnel address where Cargo forwards to the local container. */
  tunnelPort: z.number().int().min(1).max(65535),
});
export type BridgePortSpec = z.infer<typeof bridgePortSchema>;

export const bridgeSpecSchema = z.object({
  connection: z.string().min(1).max(40),
  /** The local container's name, for people reading the object. */
  local: z.string().min(1).max(253),
  target: bridgeTargetSchema,
  ports: z.array(bridgePortSchema).min(1).max(16),
  /** ANDed; empty = the whole port (HTTP and raw TCP) goes local. */
  match: z.array(MatchSchema).max(16).default([]),
});
export type BridgeSpec = z.infer<typeof bridgeSpecSchema>;

export const BRIDGE_PHASES = ["Pending", "Active", "Failed", "Removing"] as const;
export type BridgePhase = (typeof BRIDGE_PHASES)[number];

export const bridgeStatusSchema = z.object({
  phase: z.enum(BRIDGE_PHASES).optional(),
  message: z.string().optional(),
  /** Per bridged port: the Stowaway port Carrier sends matching traffic to. */
  stowawayPorts: z.array(z.object({ remote: z.number().int(), port: z.number().int() })).optional(),
  pods: z.array(z.object({ name: z.string(), ready: z.boolean(), message: z.string().optional() })).optional(),
  shadow: z.string().optional(),
  /** Secret in the product namespace holding Carrier's control token for this group. */
  tokenSecret: z.string().optional(),
  conditions: z.array(conditionSchema).optional(),
  observedGeneration: z.number().int().optional(),
});
export type BridgeStatus = z.infer<typeof bridgeStatusSchema>;

export interface Bridge {
  apiVersion: typeof API_VERSION;
  kind: typeof BRIDGE_KIND;
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    creationTimestamp?: Date;
    deletionTimestamp?: Date;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
  };
  spec: BridgeSpec;
  status?: BridgeStatus;
}

/** A short stable id of (namespace, kind, name, container): names per-group objects. */
export function bridgeGroupId(t: BridgeTarget): string {
  // FNV-1a, 2 × 32 bit: stable, no crypto needed (this module also runs in the browser)
  const text = `${t.namespace}/${t.kind}/${t.name}/${t.container}`;
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    a = Math.imul(a ^ text.charCodeAt(i), 0x01000193) >>> 0;
    b = Math.imul(b ^ text.charCodeAt(text.length - 1 - i), 0x01000193) >>> 0;
  }
  return (a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0")).slice(0, 12);
}

/** Name of the shadow Deployment and Service of a workload (DNS-1035, ≤ 63). */
export function shadowName(t: BridgeTarget): string {
  const suffix = "-gefyra-shadow";
  return `${t.name.slice(0, 63 - suffix.length).replace(/[^a-z0-9-]/g, "-").replace(/-+$/, "")}${suffix}`;
}

export const carrierTokenSecretName = (group: string): string => `carrier-${group}`;

export function bridgeCrd(version: string): Manifest {
  const str = { type: "string" };
  const int = { type: "integer" };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: BRIDGE_CRD_NAME, labels: { "app.kubernetes.io/part-of": "gefyra-ts", "app.kubernetes.io/component": "crd", "app.kubernetes.io/version": version } },
    spec: {
      group: CRD_GROUP,
      scope: "Namespaced",
      names: { kind: BRIDGE_KIND, plural: BRIDGE_PLURAL, singular: "bridge", listKind: "BridgeList", shortNames: ["gtb"] },
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: "Connection", type: "string", jsonPath: ".spec.connection" },
            { name: "Target", type: "string", jsonPath: ".spec.target.name" },
            { name: "Phase", type: "string", jsonPath: ".status.phase" },
            { name: "Message", type: "string", jsonPath: ".status.message", priority: 1 },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: "Some ports of a workload's container, sent to a developer's local container (gefyra-ts).",
              properties: {
                spec: {
                  type: "object",
                  required: ["connection", "local", "target", "ports"],
                  properties: {
                    connection: str,
                    local: str,
                    target: {
                      type: "object",
                      required: ["namespace", "kind", "name", "container"],
                      properties: { namespace: str, kind: { type: "string", enum: [...TARGET_KINDS] }, name: str, container: str },
                    },
                    ports: {
                      type: "array",
                      minItems: 1,
                      items: { type: "object", required: ["remote", "local", "tunnelPort"], properties: { remote: int, local: int, tunnelPort: int } },
                    },
                    match: {
                      type: "array",
                      items: {
                        type: "object",
                        required: ["kind", "op", "value"],
                        properties: { kind: { type: "string", enum: ["header", "path"] }, name: str, op: { type: "string", enum: ["exact", "prefix", "regex"] }, value: str },
                      },
                    },
                  },
                },
                status: {
                  type: "object",
                  properties: {
                    phase: { type: "string", enum: [...BRIDGE_PHASES] },
                    message: str,
                    stowawayPorts: { type: "array", items: { type: "object", properties: { remote: int, port: int } } },
                    pods: { type: "array", items: { type: "object", properties: { name: str, ready: { type: "boolean" }, message: str } } },
                    shadow: str,
                    tokenSecret: str,
                    observedGeneration: { type: "integer", format: "int64" },
                    conditions: {
                      type: "array",
                      items: {
                        type: "object",
                        required: ["type", "status", "lastTransitionTime", "reason", "message"],
                        properties: {
                          type: str,
                          status: { type: "string", enum: ["True", "False", "Unknown"] },
                          reason: str,
                          message: str,
                          lastTransitionTime: { type: "string", format: "date-time" },
                          observedGeneration: { type: "integer", format: "int64" },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}

/** Where the bridge annotation lives on a pod for one container. */
export const carrierAnnotation = (container: string): string => `${CARRIER_ANNOTATION_PREFIX}${container}`;
export interface CarrierAnnotation {
  /** The container's image before Carrier replaced it; restored by unbridge. */
  image: string;
  group: string;
}
