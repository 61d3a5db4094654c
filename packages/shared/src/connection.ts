/** The Connection custom resource (gefyra-ts.dev/v1alpha1): one developer's tunnel into the cluster. */
import { z } from "zod";
import { type API_VERSION, type CONNECTION_KIND, DEFAULT_HEARTBEAT_TTL_SECONDS } from "./constants";

/** DNS-1123 label, short enough for `connection-<name>` and `gefyra-ts-cargo-<name>`. */
export const connectionNameSchema = z
  .string()
  .min(1)
  .max(40)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "lowercase letters, digits and '-', starting and ending with a letter or digit");

export const connectionSpecSchema = z.object({
  /** Who is connecting, e.g. "user@host". */
  client: z.string().min(1).max(253),
  heartbeatTTLSeconds: z.number().int().min(5).max(86_400).default(DEFAULT_HEARTBEAT_TTL_SECONDS),
});
export type ConnectionSpec = z.infer<typeof connectionSpecSchema>;

export const CONNECTION_PHASES = ["Pending", "Ready", "Failed", "Terminating"] as const;
export type ConnectionPhase = (typeof CONNECTION_PHASES)[number];

export const conditionSchema = z.object({
  type: z.string(),
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.string(),
  message: z.string(),
  lastTransitionTime: z.string(),
  observedGeneration: z.number().int().optional(),
});
export type Condition = z.infer<typeof conditionSchema>;

export const connectionStatusSchema = z.object({
  phase: z.enum(CONNECTION_PHASES).optional(),
  clientAddress: z.string().optional(),
  endpoint: z.string().optional(),
  podCIDRs: z.array(z.string()).optional(),
  serviceCIDRs: z.array(z.string()).optional(),
  clusterDNS: z.string().optional(),
  conditions: z.array(conditionSchema).optional(),
  observedGeneration: z.number().int().optional(),
});
export type ConnectionStatus = z.infer<typeof connectionStatusSchema>;

export interface Connection {
  apiVersion: typeof API_VERSION;
  kind: typeof CONNECTION_KIND;
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
  };
  spec: ConnectionSpec;
  status?: ConnectionStatus;
}

/** Keys of the per-connection Secret `connection-<name>` the operator writes for the local side. */
export const CONNECTION_SECRET_KEYS = {
  privateKey: "privateKey",
  publicKey: "publicKey",
  address: "address",
  stowawayPublicKey: "stowawayPublicKey",
  nodePort: "nodePort",
  nodeAddress: "nodeAddress",
  tunnelSubnet: "tunnelSubnet",
  podCIDRs: "podCIDRs",
  serviceCIDRs: "serviceCIDRs",
  clusterDNS: "clusterDNS",
  apiServer: "apiServer",
  token: "token",
  caCrt: "ca.crt",
  lease: "lease",
} as const;

/** Sets or replaces a condition, keeping lastTransitionTime when the status did not change. */
export function setCondition(conditions: readonly Condition[] | undefined, next: Omit<Condition, "lastTransitionTime">, now = new Date()): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === next.type);
  const previous = index >= 0 ? list[index] : undefined;
  const merged: Condition = {
    ...next,
    lastTransitionTime: previous && previous.status === next.status ? previous.lastTransitionTime : now.toISOString(),
  };
  if (index >= 0) list[index] = merged;
  else list.push(merged);
  return list;
}
