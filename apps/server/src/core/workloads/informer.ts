/**
 * List-then-watch of one resource kind (client-node's ListWatch, without its caveats): list in
 * pages, watch from the list's resourceVersion (opaque; bookmarks keep it fresh), relist on
 * 410 Gone, back off 1 s to 30 s on errors. Returns a disposer that aborts the watch.
 */
import * as k8s from "@kubernetes/client-node";
import { GefyraError, describeCause } from "../errors";
import { deploymentRow, namespaceRow, podRow, serviceRow, statefulSetRow, type WorkloadKind, type WorkloadRow } from "./rows";

interface Page {
  items: unknown[];
  metadata?: { resourceVersion?: string; _continue?: string };
}

interface ResourceDef {
  plural: string;
  /** API path prefix: /api/v1 or /apis/apps/v1 */
  group: string;
  clusterScoped: boolean;
  list(kc: k8s.KubeConfig, namespace: string, page: { limit: number; _continue?: string }): Promise<Page>;
  row(obj: never): WorkloadRow;
}

export const RESOURCES: Record<WorkloadKind, ResourceDef> = {
  Namespace: {
    plural: "namespaces",
    group: "/api/v1",
    clusterScoped: true,
    list: (kc, _ns, page) => kc.makeApiClient(k8s.CoreV1Api).listNamespace(page),
    row: namespaceRow,
  },
  Deployment: {
    plural: "deployments",
    group: "/apis/apps/v1",
    clusterScoped: false,
    list: (kc, namespace, page) => {
      const api = kc.makeApiClient(k8s.AppsV1Api);
      return namespace ? api.listNamespacedDeployment({ namespace, ...page }) : api.listDeploymentForAllNamespaces(page);
    },
    row: deploymentRow,
  },
  StatefulSet: {
    plural: "statefulsets",
    group: "/apis/apps/v1",
    clusterScoped: false,
    list: (kc, namespace, page) => {
      const api = kc.makeApiClient(k8s.AppsV1Api);
      return namespace ? api.listNamespacedStatefulSet({ namespace, ...page }) : api.listStatefulSetForAllNamespaces(page);
    },
    row: statefulSetRow,
  },
  Pod: {
    plural: "pods",
    group: "/api/v1",
    clusterScoped: false,
    list: (kc, namespace, page) => {
      const api = kc.makeApiClient(k8s.CoreV1Api);
      return namespace ? api.listNamespacedPod({ namespace, ...page }) : api.listPodForAllNamespaces(page);
    },
    row: podRow,
  },
  Service: {
    plural: "services",
    group: "/api/v1",
    clusterScoped: false,
    list: (kc, namespace, page) => {
      const api = kc.makeApiClient(k8s.CoreV1Api);
      return namespace ? api.listNamespacedService({ namespace, ...page }) : api.listServiceForAllNamespaces(page);
    },
    row: serviceRow,
  },
};

export interface ResourceWatchHandlers {
  /** A complete (re)list: these are now all objects of the kind. */
  onSync(rows: WorkloadRow[]): void;
  onChange(type: "upsert" | "delete", row: WorkloadRow): void;
  /** An error the user should see (null: healthy again). The watch keeps retrying. */
  onError(error: GefyraError | null): void;
}

export interface WatchResourceOptions {
  kubeConfig: k8s.KubeConfig;
  context: string;
  kind: WorkloadKind;
  /** "" for all namespaces */
  namespace: string;
  pageSize?: number;
  /** Back-off bounds (tests shorten them). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

class Gone extends Error {}

export function watchResource(options: WatchResourceOptions, handlers: ResourceWatchHandlers): () => void {
  const def = RESOURCES[options.kind];
  const namespace = def.clusterScoped ? "" : options.namespace;
  const path = `${def.group}${namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ""}/${def.plural}`;
  const controller = new AbortController();
  const { signal } = controller;
  let current: AbortController | undefined;
  const minBackoff = options.minBackoffMs ?? 1000;
  const maxBackoff = options.maxBackoffMs ?? 30_000;

  async function listAll(): Promise<string> {
    const rows: WorkloadRow[] = [];
    let cont: string | undefined;
    let resourceVersion = "";
    do {
      const page = await def.list(options.kubeConfig, namespace, { limit: options.pageSize ?? 500, ...(cont ? { _continue: cont } : {}) });
      for (const item of page.items) rows.push(def.row(item as never));
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      cont = page.metadata?._continue || undefined;
    } while (cont && !signal.aborted);
    if (!signal.aborted) handlers.onSync(rows);
    return resourceVersion;
  }

  /** One watch request; resolves with the last resourceVersion when the server ends it, throws Gone on 410. */
  function watchOnce(resourceVersion: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      let rv = resourceVersion;
      let settled = false;
      const finish = (error?: unknown) => {
        if (settled) return;
        settled = true;
        if (error) reject(error instanceof Error ? error : Object.assign(new Error(describeCause(error)), { code: (error as { code?: unknown }).code }));
        else resolve(rv);
      };
      new k8s.Watch(options.kubeConfig)
        .watch(
          path,
          { resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 240 + Math.floor(Math.random() * 60) },
          (phase: string, obj: { metadata?: { resourceVersion?: string }; code?: number; message?: string }) => {
            if (phase === "ERROR") {
              current?.abort();
              finish(obj.code === 410 ? new Gone() : new Error(obj.message ?? `watch error ${obj.code ?? ""}`));
              return;
            }
            rv = obj.metadata?.resourceVersion ?? rv;
            if (phase === "BOOKMARK") return;
            handlers.onChange(phase === "DELETED" ? "delete" : "upsert", def.row(obj as never));
          },
          (error: unknown) => finish(error && !signal.aborted ? error : undefined),
        )
        .then(
          (c) => {
            current = c;
            if (signal.aborted || settled) c.abort();
          },
          (error: unknown) => finish(error),
        );
    });
  }

  void (async () => {
    let backoff = minBackoff;
    while (!signal.aborted) {
      try {
        let rv = await listAll();
        handlers.onError(null);
        backoff = minBackoff;
        while (!signal.aborted) rv = await watchOnce(rv);
      } catch (error) {
        if (signal.aborted) break;
        // the resourceVersion is too old (as a watch event, or as the watch request's HTTP status): relist at once
        const status = (error as { code?: unknown; statusCode?: unknown } | null) ?? {};
        if (error instanceof Gone || status.code === 410 || status.statusCode === 410) continue;
        handlers.onError(watchError(error, options, def.plural, namespace));
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  })();

  return () => {
    controller.abort();
    current?.abort();
  };
}

function watchError(error: unknown, options: WatchResourceOptions, plural: string, namespace: string): GefyraError {
  const status = (error as { code?: unknown; statusCode?: unknown } | null)?.code;
  const where = namespace ? `namespace ${namespace}` : "all namespaces";
  const details = { context: options.context, ...(namespace ? { namespace } : {}), resource: plural };
  if (status === 403) {
    return new GefyraError(
      "CLUSTER_FORBIDDEN",
      `Your user in context "${options.context}" may not list and watch ${plural} in ${where}: ask a cluster admin for get/list/watch on ${plural}${namespace ? ` in ${namespace}` : ""}, or pick a namespace you may read.`,
      { cause: error, details },
    );
  }
  if (status === 401) {
    return new GefyraError("CLUSTER_UNAUTHORIZED", `The cluster of context "${options.context}" rejected your credentials: log in again (refresh the token in your kubeconfig).`, { cause: error, details });
  }
  if (status === 404 && namespace) {
    return new GefyraError("NAMESPACE_NOT_FOUND", `Namespace ${namespace} does not exist in context "${options.context}": pick another namespace.`, { cause: error, details });
  }
  return new GefyraError(
    "CLUSTER_UNREACHABLE",
    `Watching ${plural} in ${where} of context "${options.context}" failed (${describeCause(error)}): check that the cluster is running and reachable; retrying.`,
    { cause: error, details },
  );
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
