// The environment a container really has in the cluster, computed as kubelet computes it:
// service-link variables, then envFrom sources in order, then env entries (which may refer to
// earlier variables with $(NAME)), with ConfigMap and Secret values resolved. Values are returned
// to the caller only: nothing here is logged or stored, because Secrets are among them.
import * as k8s from "@kubernetes/client-node";
import { GefyraError } from "../errors";
import { formatWorkloadRef, resolveWorkload, type WorkloadRef } from "./workload";

export type Environment = Record<string, string>;

function statusCode(error: unknown): number | undefined {
  return (error as { code?: number }).code ?? (error as { statusCode?: number }).statusCode;
}

/** Service environment variables as kubelet writes them (docker-links style). */
export function serviceLinkVariables(services: k8s.V1Service[]): Environment {
  const env: Environment = {};
  for (const svc of services) {
    const ip = svc.spec?.clusterIP;
    const name = svc.metadata?.name;
    if (!name || !ip || ip === "None") continue;
    const prefix = name.toUpperCase().replace(/-/g, "_");
    const ports = svc.spec?.ports ?? [];
    const first = ports[0];
    if (!first) continue;
    env[`${prefix}_SERVICE_HOST`] = ip;
    env[`${prefix}_SERVICE_PORT`] = String(first.port);
    for (const p of ports) {
      if (p.name) env[`${prefix}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, "_")}`] = String(p.port);
    }
    const proto = (first.protocol ?? "TCP").toLowerCase();
    env[`${prefix}_PORT`] = `${proto}://${ip}:${first.port}`;
    for (const p of ports) {
      const pr = (p.protocol ?? "TCP").toLowerCase();
      const base = `${prefix}_PORT_${p.port}_${pr.toUpperCase()}`;
      env[base] = `${pr}://${ip}:${p.port}`;
      env[`${base}_PROTO`] = pr;
      env[`${base}_PORT`] = String(p.port);
      env[`${base}_ADDR`] = ip;
    }
  }
  return env;
}

/** Kubernetes' $(VAR) expansion: known names are replaced, $$ escapes, unknown stay verbatim. */
export function expandReferences(value: string, known: Environment): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === "$$") return "$";
    return name !== undefined && name in known ? (known[name] ?? "") : match;
  });
}

function fieldValue(pod: k8s.V1Pod, path: string): string {
  const labelMatch = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (labelMatch) {
    const map = labelMatch[1] === "labels" ? pod.metadata?.labels : pod.metadata?.annotations;
    return map?.[labelMatch[2] ?? ""] ?? "";
  }
  switch (path) {
    case "metadata.name":
      return pod.metadata?.name ?? "";
    case "metadata.namespace":
      return pod.metadata?.namespace ?? "";
    case "metadata.uid":
      return pod.metadata?.uid ?? "";
    case "spec.nodeName":
      return pod.spec?.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec?.serviceAccountName ?? "";
    case "status.hostIP":
      return pod.status?.hostIP ?? "";
    case "status.podIP":
      return pod.status?.podIP ?? "";
    case "status.podIPs":
      return (pod.status?.podIPs ?? []).map((p) => p.ip).join(",");
    default:
      return "";
  }
}

function resourceValue(container: k8s.V1Container, resource: string): string {
  const [section, name] = resource.split(".") as ["limits" | "requests", string];
  const value = container.resources?.[section]?.[name];
  return value === undefined ? "" : String(value);
}

/** Reads ConfigMaps and Secrets once each, with errors that say what to do. */
class SourceReader {
  private readonly configMaps = new Map<string, Promise<Record<string, string> | undefined>>();
  private readonly secrets = new Map<string, Promise<Record<string, string> | undefined>>();
  constructor(
    private readonly core: k8s.CoreV1Api,
    private readonly namespace: string,
  ) {}

  configMap(name: string, optional: boolean): Promise<Record<string, string> | undefined> {
    let p = this.configMaps.get(name);
    if (!p) {
      p = this.core.readNamespacedConfigMap({ name, namespace: this.namespace }).then(
        (cm) => ({ ...(cm.data ?? {}), ...Object.fromEntries(Object.entries(cm.binaryData ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()])) }),
        (error: unknown) => this.fail("ConfigMap", name, optional, error),
      );
      this.configMaps.set(name, p);
    }
    return p;
  }

  secret(name: string, optional: boolean): Promise<Record<string, string> | undefined> {
    let p = this.secrets.get(name);
    if (!p) {
      p = this.core.readNamespacedSecret({ name, namespace: this.namespace }).then(
        (s) => Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()])),
        (error: unknown) => this.fail("Secret", name, optional, error),
      );
      this.secrets.set(name, p);
    }
    return p;
  }

  private fail(kind: string, name: string, optional: boolean, error: unknown): undefined {
    const code = statusCode(error);
    if (code === 404 && optional) return undefined;
    if (code === 404) {
      throw new GefyraError("ENV_SOURCE_MISSING", `${kind} ${name} in namespace ${this.namespace}, used by the workload's environment, does not exist`, { cause: error });
    }
    if (code === 403) {
      throw new GefyraError(
        "ENV_SOURCE_FORBIDDEN",
        `${kind} ${name} in namespace ${this.namespace} is not readable with your rights: ask for 'get ${kind.toLowerCase()}s' there, or pass the values with -e`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** The environment of a container of a running workload, as the container sees it. */
export async function workloadEnvironment(kc: k8s.KubeConfig, namespace: string, ref: WorkloadRef): Promise<Environment> {
  const { pod, container, podSpec } = await resolveWorkload(kc, namespace, ref);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const reader = new SourceReader(core, namespace);

  // 1. service links: the API server's own service always, the namespace's when enabled
  const env: Environment = {};
  const master = await core.readNamespacedService({ name: "kubernetes", namespace: "default" }).catch(() => undefined);
  if (master) {
    const links = serviceLinkVariables([master]);
    env.KUBERNETES_SERVICE_HOST = links.KUBERNETES_SERVICE_HOST ?? "";
    Object.assign(env, links);
  }
  if (podSpec.enableServiceLinks !== false) {
    const services = await core.listNamespacedService({ namespace });
    const own = serviceLinkVariables(services.items.filter((s) => !(namespace === "default" && s.metadata?.name === "kubernetes")));
    Object.assign(env, own);
  }

  // 2. envFrom in order, later sources winning
  for (const source of container.envFrom ?? []) {
    const prefix = source.prefix ?? "";
    const values = source.configMapRef
      ? await reader.configMap(source.configMapRef.name ?? "", source.configMapRef.optional === true)
      : source.secretRef
        ? await reader.secret(source.secretRef.name ?? "", source.secretRef.optional === true)
        : undefined;
    for (const [k, v] of Object.entries(values ?? {})) env[prefix + k] = v;
  }

  // 3. env entries in order; $(VAR) sees everything defined before it
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined) {
      env[entry.name] = expandReferences(entry.value, env);
      continue;
    }
    const from = entry.valueFrom;
    if (!from) {
      env[entry.name] = "";
    } else if (from.configMapKeyRef) {
      const cm = await reader.configMap(from.configMapKeyRef.name ?? "", from.configMapKeyRef.optional === true);
      const v = cm?.[from.configMapKeyRef.key];
      if (v !== undefined) env[entry.name] = v;
      else if (cm && from.configMapKeyRef.optional !== true) {
        throw new GefyraError("ENV_SOURCE_MISSING", `ConfigMap ${from.configMapKeyRef.name} has no key ${from.configMapKeyRef.key} (needed for ${entry.name})`);
      }
    } else if (from.secretKeyRef) {
      const s = await reader.secret(from.secretKeyRef.name ?? "", from.secretKeyRef.optional === true);
      const v = s?.[from.secretKeyRef.key];
      if (v !== undefined) env[entry.name] = v;
      else if (s && from.secretKeyRef.optional !== true) {
        throw new GefyraError("ENV_SOURCE_MISSING", `Secret ${from.secretKeyRef.name} has no key ${from.secretKeyRef.key} (needed for ${entry.name})`);
      }
    } else if (from.fieldRef) {
      env[entry.name] = fieldValue(pod, from.fieldRef.fieldPath);
    } else if (from.resourceFieldRef) {
      env[entry.name] = resourceValue(container, from.resourceFieldRef.resource);
    }
  }
  return env;
}

/** `--env-from` target, resolved, with explicit `-e` values winning. */
export async function environmentFor(
  kc: k8s.KubeConfig,
  namespace: string,
  envFrom: WorkloadRef | undefined,
  explicit: Environment,
): Promise<Environment> {
  if (!envFrom) return { ...explicit };
  try {
    return { ...(await workloadEnvironment(kc, namespace, envFrom)), ...explicit };
  } catch (error) {
    if (error instanceof GefyraError) throw error;
    throw new GefyraError("ENV_FROM_FAILED", `could not read the environment of ${formatWorkloadRef(envFrom)} in ${namespace}`, { cause: error });
  }
}
