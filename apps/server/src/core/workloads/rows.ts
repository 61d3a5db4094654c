/**
 * What the dashboard shows of a cluster object: a small, flat row (a few hundred bytes) instead of
 * the whole object, so thousands of them fit into one snapshot and a watch event is cheap to send.
 */
import type * as k8s from "@kubernetes/client-node";

export type WorkloadKind = "Namespace" | "Deployment" | "StatefulSet" | "Pod" | "Service";

export interface WorkloadRow {
  /** kind/namespace/name: stable across updates, the key the client patches its list by. */
  key: string;
  kind: WorkloadKind;
  namespace: string;
  name: string;
  /** "2/3" for workloads and pods, "" for services and namespaces. */
  ready: string;
  /** true when every wanted replica / container is ready (services and namespaces: true). */
  healthy: boolean;
  /** One word or short phrase: Running, CrashLoopBackOff, Scaled to 0, ClusterIP, Active... */
  status: string;
  /** "80/TCP→8080" for services, container ports for workloads and pods. */
  ports: string[];
  /** Container images (workloads, pods). */
  images: string[];
  /** Pod IP or Service cluster IP. */
  ip: string;
  created: string;
  /** Name of the bridge on this workload; bridges come with the bridge feature (always null now). */
  bridge: string | null;
}

export const rowKey = (kind: WorkloadKind, namespace: string, name: string): string => `${kind}/${namespace}/${name}`;

const iso = (d: Date | string | undefined): string => (d ? new Date(d).toISOString() : "");

function containerPorts(spec: k8s.V1PodSpec | undefined): string[] {
  return (spec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => `${p.containerPort}/${p.protocol ?? "TCP"}${p.name ? ` (${p.name})` : ""}`));
}

function base(kind: WorkloadKind, meta: k8s.V1ObjectMeta | undefined): Pick<WorkloadRow, "key" | "kind" | "namespace" | "name" | "created" | "bridge"> {
  const namespace = meta?.namespace ?? "";
  const name = meta?.name ?? "";
  return { key: rowKey(kind, namespace, name), kind, namespace, name, created: iso(meta?.creationTimestamp), bridge: null };
}

export function namespaceRow(ns: k8s.V1Namespace): WorkloadRow {
  return { ...base("Namespace", ns.metadata), ready: "", healthy: ns.status?.phase !== "Terminating", status: ns.status?.phase ?? "Active", ports: [], images: [], ip: "" };
}

export function deploymentRow(d: k8s.V1Deployment): WorkloadRow {
  const wanted = d.spec?.replicas ?? 1;
  const ready = d.status?.readyReplicas ?? 0;
  const progressing = d.status?.conditions?.find((c) => c.type === "Progressing");
  const status =
    wanted === 0 ? "Scaled to 0" : ready >= wanted ? "Available" : progressing?.status === "False" ? (progressing.reason ?? "Stalled") : "Progressing";
  return {
    ...base("Deployment", d.metadata),
    ready: `${ready}/${wanted}`,
    healthy: ready >= wanted,
    status,
    ports: containerPorts(d.spec?.template.spec),
    images: (d.spec?.template.spec?.containers ?? []).map((c) => c.image ?? ""),
    ip: "",
  };
}

export function statefulSetRow(s: k8s.V1StatefulSet): WorkloadRow {
  const wanted = s.spec?.replicas ?? 1;
  const ready = s.status?.readyReplicas ?? 0;
  return {
    ...base("StatefulSet", s.metadata),
    ready: `${ready}/${wanted}`,
    healthy: ready >= wanted,
    status: wanted === 0 ? "Scaled to 0" : ready >= wanted ? "Available" : "Progressing",
    ports: containerPorts(s.spec?.template.spec),
    images: (s.spec?.template.spec?.containers ?? []).map((c) => c.image ?? ""),
    ip: "",
  };
}

export function podRow(p: k8s.V1Pod): WorkloadRow {
  const statuses = p.status?.containerStatuses ?? [];
  const total = p.spec?.containers.length ?? statuses.length;
  const ready = statuses.filter((c) => c.ready).length;
  // the reason a container is not running says more than the phase (CrashLoopBackOff, ImagePullBackOff)
  const waiting = statuses.find((c) => c.state?.waiting?.reason)?.state?.waiting?.reason;
  const terminated = statuses.find((c) => c.state?.terminated?.reason && p.status?.phase !== "Succeeded")?.state?.terminated?.reason;
  const status = p.metadata?.deletionTimestamp ? "Terminating" : (waiting ?? terminated ?? p.status?.phase ?? "Pending");
  return {
    ...base("Pod", p.metadata),
    ready: `${ready}/${total}`,
    healthy: p.status?.phase === "Succeeded" || (total > 0 && ready === total),
    status,
    ports: containerPorts(p.spec),
    images: (p.spec?.containers ?? []).map((c) => c.image ?? ""),
    ip: p.status?.podIP ?? "",
  };
}

export function serviceRow(s: k8s.V1Service): WorkloadRow {
  return {
    ...base("Service", s.metadata),
    ready: "",
    healthy: true,
    status: s.spec?.type ?? "ClusterIP",
    ports: (s.spec?.ports ?? []).map((p) => `${p.port}/${p.protocol ?? "TCP"}${p.targetPort !== undefined && String(p.targetPort) !== String(p.port) ? `→${p.targetPort}` : ""}${p.nodePort ? ` node ${p.nodePort}` : ""}`),
    images: [],
    ip: s.spec?.clusterIP ?? "",
  };
}
