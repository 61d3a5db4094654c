/**
 * Profiles shared through the cluster as BridgeProfile objects in the product namespace (decision
 * 0019). Only the shared part of a profile (name, description, spec) goes to the cluster; the
 * personal part (local paths) stays in the local store.
 *
 * Writes are optimistic: a publish names the resourceVersion the profile was loaded at (kept per
 * context in the local store by pull and publish). When someone changed the profile since, the
 * publish fails with who did it — it never overwrites their edit. A first publish only creates:
 * it never replaces a profile someone else already shares.
 */
import { createHash } from "node:crypto";
import os from "node:os";
import * as k8s from "@kubernetes/client-node";
import {
  API_VERSION,
  BRIDGE_PROFILE_CRD_NAME,
  BRIDGE_PROFILE_KIND,
  BRIDGE_PROFILE_PLURAL,
  CRD_GROUP,
  CRD_VERSION,
  NAMESPACE,
  PROFILE_DESCRIPTION_ANNOTATION,
  PROFILE_EDITOR_ROLE,
  PROFILE_FIELD_MANAGER_PREFIX,
  PROFILE_PUBLISHED_BY_ANNOTATION,
  PROFILE_PUBLISHED_DIGEST_ANNOTATION,
  bridgeProfileCrd,
  bridgeProfileRoles,
} from "@gefyra/shared";
import type { Store } from "../../store";
import { apiMessage, connectCluster, httpStatus, poll, productVersion, sleep, type Cluster, type ClusterOptions } from "../connection/cluster";
import { GefyraError, describeCause } from "../errors";
import { PersonalSchema, ProfileFileSchema, ProfileSpecSchema, type ProfileFile } from "./profile-file";

const group = { group: CRD_GROUP, version: CRD_VERSION, namespace: NAMESPACE, plural: BRIDGE_PROFILE_PLURAL };

interface BridgeProfileObject {
  apiVersion: string;
  kind: string;
  metadata: k8s.V1ObjectMeta;
  spec?: unknown;
}

/** A profile as the cluster holds it. */
export interface SharedProfile {
  name: string;
  resourceVersion: string;
  uid: string;
  /** Who made the current version: user@host of a gefyra publish, else the field manager (kubectl-edit, ...). */
  changedBy: string | null;
  changedAt: string | null;
  /** Without personal values; null when the object is not a valid profile (then `problem` says why). */
  profile: ProfileFile | null;
  problem?: string;
}

/** Who writes: user@host, as `gefyra up` names a connection's client. */
export function defaultProfileUser(): string {
  return `${os.userInfo().username}@${os.hostname()}`;
}

function fieldManager(user: string): string {
  // field managers are at most 128 printable characters
  return `${PROFILE_FIELD_MANAGER_PREFIX}${user}`.replace(/[^\x21-\x7e]/g, "_").slice(0, 128);
}

/** Short digest of what a publish writes (description and spec), kept in an annotation. */
export function contentDigest(description: string | undefined, spec: unknown): string {
  return createHash("sha256").update(stable({ description: description ?? "", spec })).digest("hex").slice(0, 32);
}

/**
 * Who made the object's current content. managedFields times have a resolution of one second,
 * so they cannot order writes made in the same second; the content can: while the object still
 * says what the last gefyra publish wrote (its digest annotation), that publisher is the writer;
 * otherwise another tool changed it since, and the newest other field manager (kubectl-edit, ...) is.
 */
export function lastWriter(obj: { metadata: k8s.V1ObjectMeta; spec?: unknown }): { by: string | null; at: string | null } {
  const meta = obj.metadata;
  const entries = [...(meta.managedFields ?? [])].filter((f) => f.manager).sort((a, b) => new Date(b.time ?? 0).getTime() - new Date(a.time ?? 0).getTime());
  const latest = entries[0];
  const at = latest?.time ? new Date(latest.time).toISOString() : meta.creationTimestamp ? new Date(meta.creationTimestamp).toISOString() : null;
  const publisher = meta.annotations?.[PROFILE_PUBLISHED_BY_ANNOTATION] ?? null;
  const published = meta.annotations?.[PROFILE_PUBLISHED_DIGEST_ANNOTATION];
  const unchanged = published !== undefined && published === contentDigest(meta.annotations?.[PROFILE_DESCRIPTION_ANNOTATION], obj.spec);
  const other = entries.find((f) => !f.manager!.startsWith(PROFILE_FIELD_MANAGER_PREFIX));
  if (published !== undefined && !unchanged && other?.manager) return { by: other.manager, at };
  if (publisher) return { by: publisher, at };
  if (!latest?.manager) return { by: null, at };
  return { by: latest.manager.startsWith(PROFILE_FIELD_MANAGER_PREFIX) ? latest.manager.slice(PROFILE_FIELD_MANAGER_PREFIX.length) : latest.manager, at };
}

export function toSharedProfile(obj: BridgeProfileObject): SharedProfile {
  const meta = obj.metadata;
  const name = meta.name ?? "";
  const description = meta.annotations?.[PROFILE_DESCRIPTION_ANNOTATION];
  const writer = lastWriter(obj);
  const base = { name, resourceVersion: meta.resourceVersion ?? "", uid: meta.uid ?? "", changedBy: writer.by, changedAt: writer.at };
  const parsed = ProfileFileSchema.safeParse({
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name, ...(description ? { description } : {}) },
    spec: obj.spec,
  });
  if (parsed.success) return { ...base, profile: parsed.data };
  const issue = parsed.error.issues[0];
  const problem = issue ? `${issue.path.map(String).join(".") || "(object)"}: ${issue.message}` : "not a valid profile";
  return { ...base, profile: null, problem };
}

/** API failures of profile calls as one-line sentences with the fix. */
function profileError(error: unknown, doing: string, cluster: Pick<Cluster, "context">, name?: string): GefyraError {
  if (error instanceof GefyraError) return error;
  const status = httpStatus(error);
  if (status === 404 && !notFoundNamesObject(error)) {
    return new GefyraError(
      "PROFILES_NOT_INSTALLED",
      `Context "${cluster.context}" has no ${BRIDGE_PROFILE_CRD_NAME} CRD, so profiles cannot be shared there: run gefyra install (or gefyra up) with this version, or ask an admin to apply gefyra install --print.`,
      { cause: error },
    );
  }
  if (status === 403) {
    return new GefyraError(
      "RBAC_FORBIDDEN",
      `Not allowed to ${doing} in context "${cluster.context}" (${apiMessage(error)}): ask a cluster admin to bind Role ${PROFILE_EDITOR_ROLE} (or gefyra-ts-profile-viewer to read) in namespace ${NAMESPACE} to you.`,
      { cause: error, ...(name ? { details: { profile: name } } : {}) },
    );
  }
  if (status === 401) {
    return new GefyraError("CLUSTER_UNAUTHORIZED", `The API server of context "${cluster.context}" rejected the credentials while trying to ${doing}: refresh them.`, { cause: error });
  }
  return new GefyraError("CLUSTER_ERROR", `Failed to ${doing} in context "${cluster.context}" (${apiMessage(error)}): check the cluster and retry.`, { cause: error });
}

/** A 404 for a missing object names it in details; a 404 for a missing resource type does not. */
function notFoundNamesObject(error: unknown): boolean {
  const body = (error as { body?: unknown } | null)?.body;
  if (typeof body !== "string") return false;
  try {
    return Boolean((JSON.parse(body) as { details?: { name?: string } }).details?.name);
  } catch {
    return false;
  }
}

function conflict(name: string, current: BridgeProfileObject | null): GefyraError {
  const who = current ? (lastWriter(current).by ?? "someone") : "someone";
  return new GefyraError(
    "PROFILE_CONFLICT",
    `profile ${name} was changed by ${who} since you loaded it; reload and re-apply your edit (gefyra profiles pull ${name}, edit, publish)`,
    { details: { profile: name, changedBy: who } },
  );
}

async function readObject(cluster: Cluster, name: string): Promise<BridgeProfileObject | null> {
  try {
    return (await cluster.custom.getNamespacedCustomObject({ ...group, name })) as BridgeProfileObject;
  } catch (error) {
    if (httpStatus(error) === 404 && notFoundNamesObject(error)) return null;
    throw profileError(error, `read profile ${name}`, cluster, name);
  }
}

export async function getSharedProfile(cluster: Cluster, name: string): Promise<SharedProfile | null> {
  const obj = await readObject(cluster, name);
  return obj ? toSharedProfile(obj) : null;
}

export async function listSharedProfiles(cluster: Cluster): Promise<SharedProfile[]> {
  try {
    const list = (await cluster.custom.listNamespacedCustomObject(group)) as { items: BridgeProfileObject[] };
    return list.items.map(toSharedProfile).sort((a, b) => a.name.localeCompare(b.name));
  } catch (error) {
    throw profileError(error, `list the shared profiles (${BRIDGE_PROFILE_PLURAL} in namespace ${NAMESPACE})`, cluster);
  }
}

export interface PublishOptions {
  /** The version the profile was loaded at; none: create (fails when the name is taken). */
  resourceVersion?: string | null;
  /** user@host recorded as the publisher. */
  user?: string;
}

/**
 * Creates the profile, or updates it when `resourceVersion` is still current. Only name,
 * description and spec are sent; other annotations and labels on the object are kept.
 */
export async function publishSharedProfile(cluster: Cluster, profile: ProfileFile, options: PublishOptions = {}): Promise<SharedProfile> {
  const name = profile.metadata.name;
  const user = options.user ?? defaultProfileUser();
  const spec = ProfileSpecSchema.parse(profile.spec);
  const annotations = (current: Record<string, string> = {}) => {
    const next: Record<string, string> = { ...current, [PROFILE_PUBLISHED_BY_ANNOTATION]: user, [PROFILE_PUBLISHED_DIGEST_ANNOTATION]: contentDigest(profile.metadata.description, spec) };
    if (profile.metadata.description) next[PROFILE_DESCRIPTION_ANNOTATION] = profile.metadata.description;
    else delete next[PROFILE_DESCRIPTION_ANNOTATION];
    return next;
  };
  if (!options.resourceVersion) {
    const body: BridgeProfileObject = { apiVersion: API_VERSION, kind: BRIDGE_PROFILE_KIND, metadata: { name, namespace: NAMESPACE, annotations: annotations() }, spec };
    try {
      return toSharedProfile((await cluster.custom.createNamespacedCustomObject({ ...group, body, fieldManager: fieldManager(user) })) as BridgeProfileObject);
    } catch (error) {
      if (httpStatus(error) === 409) {
        const current = await readObject(cluster, name);
        const who = current ? (lastWriter(current).by ?? "someone") : "someone";
        throw new GefyraError(
          "PROFILE_EXISTS",
          `profile ${name} is already shared in context "${cluster.context}" (by ${who}); pull it first (gefyra profiles pull ${name}), re-apply your edit, then publish`,
          { details: { profile: name, changedBy: who } },
        );
      }
      throw profileError(error, `publish profile ${name}`, cluster, name);
    }
  }
  const current = await readObject(cluster, name);
  if (!current) {
    throw new GefyraError(
      "PROFILE_DELETED",
      `profile ${name} was deleted from context "${cluster.context}" since you loaded it: publish with --create to share it again, or delete it locally`,
      { details: { profile: name } },
    );
  }
  if (current.metadata.resourceVersion !== options.resourceVersion) throw conflict(name, current);
  const body: BridgeProfileObject = {
    ...current,
    metadata: { ...current.metadata, annotations: annotations(current.metadata.annotations), resourceVersion: options.resourceVersion },
    spec,
  };
  delete body.metadata.managedFields;
  try {
    return toSharedProfile((await cluster.custom.replaceNamespacedCustomObject({ ...group, name, body, fieldManager: fieldManager(user) })) as BridgeProfileObject);
  } catch (error) {
    // someone wrote between our read and our write: the API server refused the stale version
    if (httpStatus(error) === 409) throw conflict(name, await readObject(cluster, name).catch(() => null));
    if (httpStatus(error) === 404 && notFoundNamesObject(error)) {
      throw new GefyraError("PROFILE_DELETED", `profile ${name} was deleted from context "${cluster.context}" since you loaded it: publish with --create to share it again, or delete it locally`);
    }
    throw profileError(error, `publish profile ${name}`, cluster, name);
  }
}

/** Deletes the shared profile; with `resourceVersion`, only if nobody changed it since. False when it was not there. */
export async function deleteSharedProfile(cluster: Cluster, name: string, options: { resourceVersion?: string | null } = {}): Promise<boolean> {
  try {
    await cluster.custom.deleteNamespacedCustomObject({ ...group, name, ...(options.resourceVersion ? { body: { preconditions: { resourceVersion: options.resourceVersion } } } : {}) });
    return true;
  } catch (error) {
    if (httpStatus(error) === 404 && notFoundNamesObject(error)) return false;
    if (httpStatus(error) === 409) throw conflict(name, await readObject(cluster, name).catch(() => null));
    throw profileError(error, `delete profile ${name}`, cluster, name);
  }
}

/** Applies the BridgeProfile CRD and its Roles (as `gefyra install` does) when the CRD is missing. */
export async function ensureProfileCrd(cluster: Cluster, signal?: AbortSignal): Promise<{ created: boolean }> {
  try {
    await cluster.ext.readCustomResourceDefinition({ name: BRIDGE_PROFILE_CRD_NAME });
    return { created: false };
  } catch (error) {
    if (httpStatus(error) !== 404) throw profileError(error, `read the ${BRIDGE_PROFILE_CRD_NAME} CRD`, cluster);
  }
  const version = productVersion();
  for (const manifest of [bridgeProfileCrd(version), ...bridgeProfileRoles(version)]) {
    try {
      await cluster.objects.patch(manifest, undefined, undefined, "gefyra-ts", true, k8s.PatchStrategy.ServerSideApply);
    } catch (error) {
      throw profileError(error, `apply ${manifest.kind} ${manifest.metadata.name}`, cluster);
    }
  }
  await poll(
    async () => {
      const crd = await cluster.ext.readCustomResourceDefinition({ name: BRIDGE_PROFILE_CRD_NAME });
      return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") ? true : undefined;
    },
    30_000,
    () => new GefyraError("CRD_NOT_ESTABLISHED", `The CRD ${BRIDGE_PROFILE_CRD_NAME} was not established within 30 s: check the API server.`),
    signal,
  );
  return { created: true };
}

// ---------------------------------------------------------------- watch

export interface SharedProfileEvents {
  /** After every (re)list: these are now all shared profiles. */
  onSync?(profiles: SharedProfile[]): void;
  onChange?(type: "upsert" | "delete", profile: SharedProfile): void;
  /** A failure the user should see (null: healthy again). The watch keeps retrying. */
  onError?(error: GefyraError | null): void;
}

class Gone extends Error {}

/**
 * List, then watch from the list's resourceVersion; relists on 410 Gone and backs off (1 s to
 * 30 s) on errors. Returns a function that stops it.
 */
export function watchSharedProfiles(cluster: Cluster, events: SharedProfileEvents, options: { minBackoffMs?: number; maxBackoffMs?: number } = {}): () => void {
  const controller = new AbortController();
  const { signal } = controller;
  const path = `/apis/${CRD_GROUP}/${CRD_VERSION}/namespaces/${NAMESPACE}/${BRIDGE_PROFILE_PLURAL}`;
  let current: AbortController | undefined;
  const minBackoff = options.minBackoffMs ?? 1000;
  const maxBackoff = options.maxBackoffMs ?? 30_000;

  async function list(): Promise<string> {
    const page = (await cluster.custom.listNamespacedCustomObject(group)) as { items: BridgeProfileObject[]; metadata?: { resourceVersion?: string } };
    if (!signal.aborted) events.onSync?.(page.items.map(toSharedProfile).sort((a, b) => a.name.localeCompare(b.name)));
    return page.metadata?.resourceVersion ?? "";
  }

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
      new k8s.Watch(cluster.kc)
        .watch(
          path,
          { resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 240 + Math.floor(Math.random() * 60) },
          (phase: string, obj: BridgeProfileObject & { code?: number; message?: string }) => {
            if (phase === "ERROR") {
              current?.abort();
              finish(obj.code === 410 ? new Gone() : Object.assign(new Error(obj.message ?? `watch error ${obj.code ?? ""}`), { code: obj.code }));
              return;
            }
            rv = obj.metadata?.resourceVersion ?? rv;
            if (phase === "BOOKMARK" || signal.aborted) return;
            events.onChange?.(phase === "DELETED" ? "delete" : "upsert", toSharedProfile(obj));
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
        let rv = await list();
        events.onError?.(null);
        backoff = minBackoff;
        while (!signal.aborted) rv = await watchOnce(rv);
      } catch (error) {
        if (signal.aborted) break;
        const status = (error as { code?: unknown; statusCode?: unknown } | null) ?? {};
        if (error instanceof Gone || status.code === 410 || status.statusCode === 410) continue;
        events.onError?.(profileError(error, `watch the shared profiles (${BRIDGE_PROFILE_PLURAL} in namespace ${NAMESPACE})`, cluster));
        await sleep(backoff, signal).catch(() => undefined);
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  })();

  return () => {
    controller.abort();
    current?.abort();
  };
}

// ---------------------------------------------------------------- with the local store

/** What the local store keeps per profile besides spec and personal: the version last seen per context. */
export interface StoredProfile {
  profile: ProfileFile;
  shared: Record<string, SyncedVersion>;
}

/** The cluster version a local profile was last pulled or published at, and what it said then. */
export interface SyncedVersion {
  resourceVersion: string;
  uid: string;
  digest: string;
}

interface StoredJson {
  spec: unknown;
  personal?: unknown;
  shared?: Record<string, SyncedVersion>;
}

export async function readStoredProfile(store: Store, name: string): Promise<StoredProfile | null> {
  const row = await store.prisma.profile.findUnique({ where: { name } });
  if (!row) return null;
  const stored = JSON.parse(row.spec) as StoredJson;
  return {
    profile: {
      apiVersion: API_VERSION,
      kind: BRIDGE_PROFILE_KIND,
      metadata: { name: row.name, ...(row.description ? { description: row.description } : {}) },
      spec: ProfileSpecSchema.parse(stored.spec),
      ...(stored.personal ? { personal: PersonalSchema.parse(stored.personal) } : {}),
    },
    shared: stored.shared ?? {},
  };
}

async function writeStoredProfile(store: Store, stored: StoredProfile): Promise<void> {
  const { profile } = stored;
  const data = {
    description: profile.metadata.description ?? null,
    spec: JSON.stringify({ spec: profile.spec, ...(profile.personal ? { personal: profile.personal } : {}), shared: stored.shared }),
  };
  await store.prisma.profile.upsert({ where: { name: profile.metadata.name }, create: { name: profile.metadata.name, ...data }, update: data });
}

export interface SharedCallOptions extends ClusterOptions {
  /** An already connected cluster (tests, the dashboard); else one is connected from the options. */
  cluster?: Cluster;
  user?: string;
}

const clusterOf = (options: SharedCallOptions): Promise<Cluster> => (options.cluster ? Promise.resolve(options.cluster) : connectCluster(options));

/** `gefyra profiles publish NAME`: shares the local profile's shared part and remembers the new version. */
export async function publishProfile(store: Store, name: string, options: SharedCallOptions & { create?: boolean } = {}): Promise<SharedProfile> {
  const stored = await readStoredProfile(store, name);
  if (!stored) throw new GefyraError("PROFILE_NOT_FOUND", `no local profile named ${name}: see gefyra profiles list (or pull it from the cluster with gefyra profiles pull ${name})`);
  const cluster = await clusterOf(options);
  const known = options.create ? undefined : stored.shared[cluster.context]?.resourceVersion;
  const published = await publishSharedProfile(cluster, stored.profile, { resourceVersion: known ?? null, ...(options.user ? { user: options.user } : {}) });
  await writeStoredProfile(store, { ...stored, shared: { ...stored.shared, [cluster.context]: { resourceVersion: published.resourceVersion, uid: published.uid, digest: sharedDigest(stored.profile) } } });
  return published;
}

/** `gefyra profiles pull NAME`: the cluster's version replaces the local shared part; personal values stay. */
export async function pullProfile(store: Store, name: string, options: SharedCallOptions = {}): Promise<{ profile: ProfileFile; shared: SharedProfile }> {
  const cluster = await clusterOf(options);
  const shared = await getSharedProfile(cluster, name);
  if (!shared) throw new GefyraError("PROFILE_NOT_FOUND", `no shared profile named ${name} in context "${cluster.context}": see gefyra profiles list --shared`);
  if (!shared.profile) throw new GefyraError("PROFILE_INVALID", `shared profile ${name} in context "${cluster.context}" is not valid (${shared.problem ?? "unknown problem"}): fix it there (kubectl -n ${NAMESPACE} edit ${BRIDGE_PROFILE_PLURAL} ${name}) or publish a good version`);
  const local = await readStoredProfile(store, name);
  const profile: ProfileFile = { ...shared.profile, ...(local?.profile.personal ? { personal: local.profile.personal } : {}) };
  await writeStoredProfile(store, { profile, shared: { ...(local?.shared ?? {}), [cluster.context]: { resourceVersion: shared.resourceVersion, uid: shared.uid, digest: sharedDigest(profile) } } });
  return { profile, shared };
}

export type LocalState = "not pulled" | "in sync" | "local edits" | "changed in cluster" | "changed in cluster and locally" | "local only";

export interface SharedListRow extends SharedProfile {
  local: LocalState;
}

/** The shared profiles, each compared with the local copy (if any) and the version it was synced at. */
export async function listSharedWithLocal(store: Store, options: SharedCallOptions = {}): Promise<{ context: string; profiles: SharedListRow[] }> {
  const cluster = await clusterOf(options);
  const shared = await listSharedProfiles(cluster);
  const rows: SharedListRow[] = [];
  for (const s of shared) {
    const local = await readStoredProfile(store, s.name);
    rows.push({ ...s, local: localState(local, s, cluster.context) });
  }
  return { context: cluster.context, profiles: rows };
}

/** How the local copy stands against the cluster's (see `LocalState`). */
export function localState(local: StoredProfile | null, s: SharedProfile, context: string): LocalState {
  if (!local) return "not pulled";
  const mine = sharedDigest(local.profile);
  if (s.profile && sharedDigest(s.profile) === mine) return "in sync";
  const synced = local.shared[context];
  if (!synced) return "local only";
  const clusterChanged = synced.resourceVersion !== s.resourceVersion;
  const locallyEdited = synced.digest !== mine;
  if (clusterChanged) return locallyEdited ? "changed in cluster and locally" : "changed in cluster";
  return "local edits";
}

/** Key-order independent text of what is shared (description and spec), to tell edits apart. */
export function sharedDigest(profile: ProfileFile): string {
  return stable({ description: profile.metadata.description ?? "", spec: profile.spec });
}

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${JSON.stringify(k)}:${stable(v)}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/** `gefyra profiles delete NAME --shared`: removes the cluster's copy if it is the version last seen here. */
export async function deleteSharedFromStore(store: Store, name: string, options: SharedCallOptions = {}): Promise<{ context: string }> {
  const cluster = await clusterOf(options);
  const local = await readStoredProfile(store, name);
  const seen = local?.shared[cluster.context];
  if (!seen) {
    throw new GefyraError("PROFILE_NOT_LOADED", `you have not pulled or published profile ${name} in context "${cluster.context}": pull it first (gefyra profiles pull ${name}) so that nobody's newer edit is deleted unseen`);
  }
  if (!(await deleteSharedProfile(cluster, name, { resourceVersion: seen.resourceVersion }))) {
    throw new GefyraError("PROFILE_NOT_FOUND", `no shared profile named ${name} in context "${cluster.context}": see gefyra profiles list --shared`);
  }
  const rest = Object.fromEntries(Object.entries(local.shared).filter(([context]) => context !== cluster.context));
  await writeStoredProfile(store, { ...local, shared: rest });
  return { context: cluster.context };
}
