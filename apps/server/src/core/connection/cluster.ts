/** Cluster access for the connection core: kubeconfig/context resolution, reachability, error mapping. */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { checkContext, kubeConfigFor, type KubeconfigOptions } from "../contexts";
import { GefyraError, describeCause } from "../errors";

export interface ClusterOptions {
  /** Explicit kubeconfig file (CLI --kubeconfig); otherwise KUBECONFIG, then ~/.kube/config. */
  kubeconfig?: string;
  /** Context name (CLI --context); default: the kubeconfig's current context. */
  context?: string;
  env?: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
}

export interface Cluster {
  kc: k8s.KubeConfig;
  context: string;
  server: string;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  custom: k8s.CustomObjectsApi;
  rbac: k8s.RbacAuthorizationV1Api;
  ext: k8s.ApiextensionsV1Api;
  objects: k8s.KubernetesObjectApi;
}

export async function connectCluster(options: ClusterOptions): Promise<Cluster> {
  const kcOptions: KubeconfigOptions = { ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}), ...(options.env ? { env: options.env } : {}) };
  const { kubeConfig: kc, context } = kubeConfigFor(options.context, kcOptions);
  const check = await checkContext(context, { ...kcOptions, timeoutMs: 5000, ...(options.signal ? { signal: options.signal } : {}) });
  if (!check.reachable) throw new GefyraError(check.error.code, check.error.message, { details: { context } });
  return {
    kc,
    context,
    server: kc.getCurrentCluster()?.server ?? "",
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    rbac: kc.makeApiClient(k8s.RbacAuthorizationV1Api),
    ext: kc.makeApiClient(k8s.ApiextensionsV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
  };
}

export function httpStatus(error: unknown): number | undefined {
  const e = error as { code?: unknown } | null;
  return typeof e?.code === "number" ? e.code : undefined;
}
export const isNotFound = (e: unknown): boolean => httpStatus(e) === 404;

export function apiMessage(error: unknown): string {
  const e = error as { body?: unknown } | null;
  if (e && typeof e.body === "string") {
    try {
      const parsed = JSON.parse(e.body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      /* not JSON */
    }
  }
  return describeCause(error);
}

/** Maps an API error to a one-line GefyraError: 403 becomes missing RBAC with the fix. */
export function apiError(error: unknown, doing: string, cluster: Pick<Cluster, "context">): GefyraError {
  if (error instanceof GefyraError) return error;
  const status = httpStatus(error);
  if (status === 403) {
    return new GefyraError(
      "RBAC_FORBIDDEN",
      `Not allowed to ${doing} in context "${cluster.context}" (${apiMessage(error)}): ask a cluster admin for these rights or for an install (gefyra install --print | kubectl apply -f -).`,
      { cause: error },
    );
  }
  if (status === 401) {
    return new GefyraError("CLUSTER_UNAUTHORIZED", `The API server of context "${cluster.context}" rejected the credentials while trying to ${doing}: refresh them.`, { cause: error });
  }
  return new GefyraError("CLUSTER_ERROR", `Failed to ${doing} in context "${cluster.context}" (${apiMessage(error)}): check the cluster and retry.`, { cause: error });
}

/** The product version: root package.json's version, the default image tag. */
export function productVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const file = path.join(dir, "package.json");
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "gefyra-ts" && pkg.version) return pkg.version;
    }
    dir = path.dirname(dir);
  }
  return "0.0.0";
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export function abortError(signal: AbortSignal): GefyraError {
  return new GefyraError("ABORTED", `Cancelled${signal.reason instanceof Error ? ` (${signal.reason.message})` : ""}.`);
}

/** Polls `probe` until it returns a value, the deadline passes (`onTimeout` is thrown) or `signal` aborts. */
export async function poll<T>(probe: () => Promise<T | undefined>, timeoutMs: number, onTimeout: () => Error, signal?: AbortSignal, intervalMs = 300): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) throw abortError(signal);
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw onTimeout();
    await sleep(intervalMs, signal);
  }
}
