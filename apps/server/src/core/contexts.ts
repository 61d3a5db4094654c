/**
 * Kubeconfig contexts as kubectl sees them: KUBECONFIG (paths joined by ":" and merged, the
 * first file to set a value wins, missing files skipped), else ~/.kube/config; plus a short
 * reachability check of a context's API server.
 */
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { KubeConfig, type Cluster, type Context, type User } from "@kubernetes/client-node";
import { GefyraError, describeCause } from "./errors";

export interface KubeconfigOptions {
  /** Explicit kubeconfig path (CLI --kubeconfig); wins over KUBECONFIG like kubectl's flag. */
  kubeconfig?: string;
  env?: Readonly<Record<string, string | undefined>>;
  /** Home directory for ~/.kube/config (tests). */
  home?: string;
}

export interface ContextSummary {
  name: string;
  cluster: string;
  server: string | null;
  user: string;
  namespace: string | null;
  current: boolean;
}

export interface ContextListing {
  /** The kubeconfig files that exist and were read, in merge order. */
  files: string[];
  /** Paths that were looked at, whether they exist or not (for the empty state). */
  searched: string[];
  currentContext: string | null;
  contexts: ContextSummary[];
}

export interface LoadedKubeConfig {
  kubeConfig: KubeConfig;
  files: string[];
  searched: string[];
}

export type ContextCheck =
  | { context: string; server: string | null; reachable: true; version: string | null; latencyMs: number }
  | { context: string; server: string | null; reachable: false; error: { code: string; message: string } };

/** The kubeconfig files kubectl would read, in precedence order. */
export function kubeconfigPaths(options: KubeconfigOptions = {}): string[] {
  const env = options.env ?? process.env;
  if (options.kubeconfig) return [path.resolve(expandHome(options.kubeconfig, options.home))];
  if (env.KUBECONFIG) {
    const seen = new Set<string>();
    return env.KUBECONFIG.split(path.delimiter)
      .filter(Boolean)
      .map((p) => path.resolve(expandHome(p, options.home)))
      .filter((p) => (seen.has(p) ? false : (seen.add(p), true)));
  }
  return [path.join(options.home ?? os.homedir(), ".kube", "config")];
}

/**
 * Reads and merges the kubeconfig files. No file at all gives an empty config (files: []);
 * an unreadable or malformed file is a KUBECONFIG_INVALID error naming the file.
 */
export function loadKubeConfig(options: KubeconfigOptions = {}): LoadedKubeConfig {
  const searched = kubeconfigPaths(options);
  const files: string[] = [];
  const clusters = new Map<string, Cluster>();
  const users = new Map<string, User>();
  const contexts = new Map<string, Context>();
  let currentContext: string | undefined;

  for (const file of searched) {
    if (!fs.existsSync(file)) {
      if (options.kubeconfig) {
        throw new GefyraError("KUBECONFIG_NOT_FOUND", `The kubeconfig ${file} does not exist: check the --kubeconfig path.`, { details: { file } });
      }
      continue;
    }
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (cause) {
      throw new GefyraError(
        "KUBECONFIG_INVALID",
        `The kubeconfig ${file} cannot be read (${describeCause(cause)}): fix the file, or point KUBECONFIG at a valid one.`,
        { cause, details: { file } },
      );
    }
    files.push(file);
    currentContext ??= one.currentContext || undefined;
    for (const c of one.clusters) if (!clusters.has(c.name)) clusters.set(c.name, c);
    for (const u of one.users) if (!users.has(u.name)) users.set(u.name, u);
    for (const c of one.contexts) if (!contexts.has(c.name)) contexts.set(c.name, c);
  }

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [...clusters.values()],
    users: [...users.values()],
    contexts: [...contexts.values()],
    currentContext: currentContext ?? "",
  });
  return { kubeConfig, files, searched };
}

/** Every context of the merged kubeconfig, the current one first-class. */
export function listContexts(options: KubeconfigOptions = {}): ContextListing {
  const { kubeConfig, files, searched } = loadKubeConfig(options);
  const current = kubeConfig.getCurrentContext() || null;
  return {
    files,
    searched,
    currentContext: current && kubeConfig.getContextObject(current) ? current : null,
    contexts: kubeConfig.getContexts().map((c) => ({
      name: c.name,
      cluster: c.cluster,
      server: kubeConfig.getCluster(c.cluster)?.server ?? null,
      user: c.user,
      namespace: c.namespace ?? null,
      current: c.name === current,
    })),
  };
}

/** A KubeConfig switched to `context` (or the current one); errors name what is missing. */
export function kubeConfigFor(context: string | undefined, options: KubeconfigOptions = {}): { kubeConfig: KubeConfig; context: string } {
  const { kubeConfig, files, searched } = loadKubeConfig(options);
  if (files.length === 0) {
    throw new GefyraError("KUBECONFIG_NOT_FOUND", `No kubeconfig found (looked at ${searched.join(", ")}): set KUBECONFIG or create ~/.kube/config.`);
  }
  const name = context ?? (kubeConfig.getCurrentContext() || undefined);
  if (!name) {
    throw new GefyraError("CONTEXT_NOT_SET", `No current context in ${files.join(", ")}: pass --context or run kubectl config use-context NAME.`);
  }
  const ctx = kubeConfig.getContextObject(name);
  if (!ctx) {
    const known = kubeConfig.getContexts().map((c) => c.name);
    throw new GefyraError(
      "CONTEXT_NOT_FOUND",
      `Context "${name}" is not in ${files.join(", ")}: use one of ${known.length ? known.join(", ") : "(none)"}.`,
      { details: { context: name } },
    );
  }
  if (!kubeConfig.getCluster(ctx.cluster)) {
    throw new GefyraError("KUBECONFIG_INVALID", `Context "${name}" refers to cluster "${ctx.cluster}", which no kubeconfig file defines: fix the context or add the cluster.`, {
      details: { context: name },
    });
  }
  kubeConfig.setCurrentContext(name);
  return { kubeConfig, context: name };
}

export interface CheckContextOptions extends KubeconfigOptions {
  /** Whole check budget, including credential plugins. Default 3000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Asks the context's API server who we are allowed to be: GET /version (reachability, version)
 * and GET /api (credentials; discovery is only open to authenticated users).
 * Never throws for cluster problems: they come back as { reachable: false, error }.
 * Kubeconfig problems (no file, unknown context) are thrown as GefyraError.
 */
export async function checkContext(context: string | undefined, options: CheckContextOptions = {}): Promise<ContextCheck> {
  const { kubeConfig, context: name } = kubeConfigFor(context, options);
  const server = kubeConfig.getCurrentCluster()?.server ?? null;
  const timeoutMs = options.timeoutMs ?? 3000;
  const signal = options.signal ? AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
  const started = performance.now();
  try {
    const [version, api] = await Promise.all([get(kubeConfig, "/version", signal), get(kubeConfig, "/api", signal)]);
    for (const res of [api, version]) {
      if (res.status === 401) {
        return unreachable(name, server, "CLUSTER_UNAUTHORIZED", `The API server of context "${name}" (${server}) rejected the credentials (401 Unauthorized): refresh them (e.g. your cloud's get-credentials command) or pick another context.`);
      }
    }
    if (api.status === 403) {
      return unreachable(name, server, "CLUSTER_FORBIDDEN", `The API server of context "${name}" (${server}) denied API discovery to user "${kubeConfig.getCurrentUser()?.name ?? "?"}" (403 Forbidden): use a user with access to this cluster.`);
    }
    if (api.status >= 400 || version.status >= 400) {
      return unreachable(name, server, "CLUSTER_UNHEALTHY", `The API server of context "${name}" (${server}) answered HTTP ${api.status >= 400 ? api.status : version.status}: check the cluster's health.`);
    }
    let gitVersion: string | null = null;
    try {
      gitVersion = (JSON.parse(version.body) as { gitVersion?: string }).gitVersion ?? null;
    } catch {
      gitVersion = null;
    }
    return { context: name, server, reachable: true, version: gitVersion, latencyMs: Math.round(performance.now() - started) };
  } catch (cause) {
    if (options.signal?.aborted) throw cause;
    if (cause instanceof GefyraError) return unreachable(name, server, cause.code, cause.message);
    const reason = signal.aborted ? `no answer within ${timeoutMs} ms` : describeCause(cause);
    if (isTlsError(cause)) {
      return unreachable(name, server, "CLUSTER_TLS", `The TLS handshake with the API server of context "${name}" (${server}) failed (${reason}): check certificate-authority-data in the kubeconfig.`);
    }
    return unreachable(name, server, "CLUSTER_UNREACHABLE", `Cannot reach the API server of context "${name}" at ${server} (${reason}): check that the cluster is running and your network or VPN, or pick another context.`);
  }
}

function unreachable(context: string, server: string | null, code: string, message: string): ContextCheck {
  return { context, server, reachable: false, error: { code, message } };
}

interface Answer {
  status: number;
  body: string;
}

async function get(kubeConfig: KubeConfig, pathname: string, signal: AbortSignal): Promise<Answer> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error("no cluster");
  const url = new URL(pathname, cluster.server.endsWith("/") ? cluster.server : `${cluster.server}/`);
  const opts: https.RequestOptions = { method: "GET", headers: { Accept: "application/json" } };
  try {
    await kubeConfig.applyToHTTPSOptions(opts);
  } catch (cause) {
    throw new GefyraError(
      "KUBECONFIG_CREDENTIALS",
      `Cannot apply the kubeconfig settings of context "${kubeConfig.getCurrentContext()}" (${describeCause(cause)}): fix the cluster's server/TLS settings or the user's credentials (certificate files, auth plugin).`,
      { cause },
    );
  }
  signal.throwIfAborted();
  const transport = url.protocol === "http:" ? http : https;
  return new Promise<Answer>((resolve, reject) => {
    const req = transport.request(url, { ...opts, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= 64 * 1024) chunks.push(c);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

function isTlsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code);
}

function expandHome(p: string, home?: string): string {
  return p === "~" || p.startsWith("~/") ? path.join(home ?? os.homedir(), p.slice(1)) : p;
}
