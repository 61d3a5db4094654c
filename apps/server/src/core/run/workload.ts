// A workload reference as users type it (`deploy/api`, `deploy/api/app`, `statefulset/db`,
// `pod/api-7d9c`) and its resolution to one running pod and one container.
import * as k8s from "@kubernetes/client-node";
import { GefyraError } from "../errors";

export type WorkloadKind = "deployment" | "statefulset" | "pod";

export interface WorkloadRef {
  kind: WorkloadKind;
  name: string;
  /** Container name; optional when the pod has exactly one. */
  container?: string;
}

const KIND_ALIASES: Record<string, WorkloadKind> = {
  deploy: "deployment",
  deployment: "deployment",
  deployments: "deployment",
  sts: "statefulset",
  statefulset: "statefulset",
  statefulsets: "statefulset",
  po: "pod",
  pod: "pod",
  pods: "pod",
};

export function parseWorkloadRef(text: string): WorkloadRef {
  const parts = text.split("/");
  const kind = KIND_ALIASES[parts[0]?.toLowerCase() ?? ""];
  const name = parts[1];
  if (!kind || !name || parts.length > 3 || parts.some((p) => p === "")) {
    throw new GefyraError(
      "WORKLOAD_REF_INVALID",
      `'${text}' is not a workload: write deploy/NAME[/CONTAINER], statefulset/NAME[/CONTAINER] or pod/NAME[/CONTAINER]`,
    );
  }
  return parts[2] ? { kind, name, container: parts[2] } : { kind, name };
}

export function formatWorkloadRef(ref: WorkloadRef): string {
  const kind = ref.kind === "deployment" ? "deploy" : ref.kind;
  return `${kind}/${ref.name}${ref.container ? `/${ref.container}` : ""}`;
}

export interface ResolvedWorkload {
  pod: k8s.V1Pod;
  container: k8s.V1Container;
  /** The pod template's spec (or the pod's spec for a bare pod): what every replica runs. */
  podSpec: k8s.V1PodSpec;
}

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: number; statusCode?: number }).code ?? (error as { statusCode?: number }).statusCode;
  return code === 404;
}

function isReady(pod: k8s.V1Pod): boolean {
  return (
    pod.metadata?.deletionTimestamp === undefined &&
    pod.status?.phase === "Running" &&
    (pod.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
  );
}

function selectorString(selector: k8s.V1LabelSelector | undefined): string {
  const labels = selector?.matchLabels ?? {};
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  for (const expr of selector?.matchExpressions ?? []) {
    const values = (expr.values ?? []).join(",");
    if (expr.operator === "In") parts.push(`${expr.key} in (${values})`);
    else if (expr.operator === "NotIn") parts.push(`${expr.key} notin (${values})`);
    else if (expr.operator === "Exists") parts.push(expr.key);
    else if (expr.operator === "DoesNotExist") parts.push(`!${expr.key}`);
  }
  return parts.join(",");
}

/** Finds a Ready pod of the workload and the container the reference names. */
export async function resolveWorkload(kc: k8s.KubeConfig, namespace: string, ref: WorkloadRef): Promise<ResolvedWorkload> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const shown = formatWorkloadRef({ ...ref, container: undefined });
  let pod: k8s.V1Pod | undefined;
  let podSpec: k8s.V1PodSpec | undefined;
  try {
    if (ref.kind === "pod") {
      pod = await core.readNamespacedPod({ name: ref.name, namespace });
      podSpec = pod.spec;
      if (!isReady(pod)) {
        throw new GefyraError("WORKLOAD_NOT_READY", `${shown} in namespace ${namespace} is not Ready: wait for it or pick another pod`);
      }
    } else {
      const workload =
        ref.kind === "deployment"
          ? await apps.readNamespacedDeployment({ name: ref.name, namespace })
          : await apps.readNamespacedStatefulSet({ name: ref.name, namespace });
      podSpec = workload.spec?.template.spec;
      const pods = await core.listNamespacedPod({ namespace, labelSelector: selectorString(workload.spec?.selector) });
      pod = pods.items.filter(isReady).sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""))[0];
      if (!pod) {
        throw new GefyraError(
          "WORKLOAD_NOT_READY",
          `${shown} in namespace ${namespace} has no Ready pod: scale it up or wait for its rollout (kubectl -n ${namespace} rollout status ${ref.kind}/${ref.name})`,
        );
      }
    }
  } catch (error) {
    if (error instanceof GefyraError) throw error;
    if (isNotFound(error)) {
      throw new GefyraError("WORKLOAD_NOT_FOUND", `${shown} not found in namespace ${namespace}: check the name with kubectl -n ${namespace} get ${ref.kind}`, {
        cause: error,
      });
    }
    throw error;
  }
  const containers = podSpec?.containers ?? [];
  const names = containers.map((c) => c.name).join(", ");
  let container: k8s.V1Container | undefined;
  if (ref.container) {
    container = containers.find((c) => c.name === ref.container);
    if (!container) {
      throw new GefyraError("CONTAINER_NOT_FOUND", `${shown} has no container '${ref.container}': its containers are ${names}`);
    }
  } else if (containers.length === 1) {
    container = containers[0];
  } else {
    throw new GefyraError("CONTAINER_AMBIGUOUS", `${shown} has ${containers.length} containers: name one, e.g. ${shown}/${containers[0]?.name ?? "NAME"} (choices: ${names})`);
  }
  if (!container || !podSpec) throw new GefyraError("WORKLOAD_INVALID", `${shown} has no containers`);
  return { pod, container, podSpec };
}
