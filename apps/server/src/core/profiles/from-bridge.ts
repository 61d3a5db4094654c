/**
 * A profile from a running bridge (`gefyra profiles save NAME --from-bridge B`): target, ports and
 * rules come from the Bridge; image, env-from, env and published ports from the local container
 * (Docker inspect); host paths (volumes, a build context) go to the personal part, which never
 * leaves this machine.
 *
 * Variables are the delicate part: the container's environment mixes the image's own variables,
 * what `--env-from` copied from the workload (Secrets among them) and what was given explicitly.
 * Only the explicit ones belong in a profile. `gefyra run` labels the container with their names;
 * for a container without that label the image's variables and the env-from workload's current
 * values are taken out instead, and the result says so.
 */
import type Docker from "dockerode";
import type { BridgeInfo } from "../bridge/types";
import { listBridges } from "../bridge";
import { connectDocker } from "../connection/docker";
import { kubeConfigFor } from "../contexts";
import type { ClusterOptions } from "../connection/cluster";
import { GefyraError, describeCause } from "../errors";
import { workloadEnvironment, type Environment } from "../run/environment";
import { BUILD_LABEL, ENV_FROM_LABEL, ENV_KEYS_LABEL, listLocal, type PortMapping } from "../run/local-container";
import { parseWorkloadRef } from "../run/workload";
import type { Store } from "../../store";
import { PROFILE_API_VERSION, PROFILE_KIND, PersonalSchema, ProfileFileSchema, type ProfileFile } from "./profile-file";
import { listProfiles, saveProfile } from "./profiles";

/** What Docker says about a bridge's local container, reduced to what a profile can hold. */
export interface LocalContainerFacts {
  name: string;
  /** The image reference it was started from (Config.Image). */
  image: string;
  /** KEY=VALUE, as the container has them. */
  env: string[];
  /** KEY=VALUE the image itself sets (ENV in its Dockerfile). */
  imageEnv: string[];
  labels: Record<string, string>;
  /** HostConfig.Binds: SRC:DST[:ro]. */
  binds: string[];
  /** Published ports (of its network holder). */
  ports: PortMapping[];
}

export interface FromBridgeInput {
  name: string;
  description?: string;
  bridge: Pick<BridgeInfo, "name" | "namespace" | "target" | "ports" | "match" | "local">;
  container: LocalContainerFacts;
  /**
   * Only for containers without the env-keys label: the environment of the env-from workload
   * (`envFrom`), whose values are taken out of the container's.
   */
  envFrom?: { ref: string; environment: Environment };
}

const SHORT_KIND = { deployment: "deploy", statefulset: "statefulset", pod: "pod" } as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
/** The tag `gefyra run --build` gives when no image is named: it means nothing on another machine. */
const DEFAULT_BUILD_TAG = /^gefyra-ts-local\//;

function envMap(entries: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of entries) {
    const at = entry.indexOf("=");
    if (at > 0) map.set(entry.slice(0, at), entry.slice(at + 1));
  }
  return map;
}

/** Docker's published port as `gefyra run -p` takes it: loopback is the default and left out. */
export function formatPublishedPort(p: PortMapping): string {
  return `${p.hostIp && p.hostIp !== "127.0.0.1" ? `${p.hostIp}:` : ""}${p.hostPort}:${p.containerPort}${p.protocol === "udp" ? "/udp" : ""}`;
}

/** The mapping itself, without Docker or the cluster (unit-tested). */
export function profileFromBridge(input: FromBridgeInput): { profile: ProfileFile; notes: string[] } {
  const { bridge, container } = input;
  const notes: string[] = [];
  const labels = container.labels;

  // variables: the explicit ones only
  const env = envMap(container.env);
  const explicit: Record<string, string> = {};
  const keysLabel = labels[ENV_KEYS_LABEL];
  let keys: string[] | null = null;
  if (keysLabel !== undefined) {
    try {
      const parsed: unknown = JSON.parse(keysLabel);
      if (Array.isArray(parsed) && parsed.every((k) => typeof k === "string")) keys = parsed;
    } catch {
      keys = null;
    }
  }
  let envFrom = labels[ENV_FROM_LABEL];
  if (keys) {
    for (const k of keys) {
      const v = env.get(k);
      if (v !== undefined) explicit[k] = v;
    }
  } else {
    const image = envMap(container.imageEnv);
    const fromWorkload = input.envFrom?.environment ?? {};
    if (input.envFrom) envFrom ??= input.envFrom.ref;
    for (const [k, v] of env) {
      if (image.get(k) === v) continue;
      if (k in fromWorkload && fromWorkload[k] === v) continue;
      explicit[k] = v;
    }
    notes.push(
      input.envFrom
        ? `${container.name} does not record which variables were set explicitly: kept those that neither its image nor ${input.envFrom.ref} sets to the same value`
        : `${container.name} does not record which variables were set explicitly: kept those its image does not set`,
    );
  }
  for (const k of Object.keys(explicit)) {
    if (!ENV_NAME.test(k)) {
      delete explicit[k];
      notes.push(`variable ${k} left out: not a name a profile can hold`);
    }
  }

  // host paths go to the personal part
  const volumes: string[] = [];
  for (const bind of container.binds) {
    const [src, dst, mode] = bind.split(":");
    const ok = src && dst?.startsWith("/") && (mode === undefined || mode === "ro" || mode === "rw");
    if (ok && PersonalSchema.shape.volumes.safeParse([bind]).success) volumes.push(mode === "rw" ? `${src}:${dst}` : bind);
    else notes.push(`volume ${bind} left out: a profile holds HOST_PATH:CONTAINER_PATH[:ro] only`);
  }
  const build = labels[BUILD_LABEL];
  const image = build && DEFAULT_BUILD_TAG.test(container.image) ? undefined : container.image;

  const kind = SHORT_KIND[bridge.target.kind];
  const candidate = {
    apiVersion: PROFILE_API_VERSION,
    kind: PROFILE_KIND,
    metadata: { name: input.name, description: input.description ?? `saved from bridge ${bridge.name}` },
    spec: {
      target: { namespace: bridge.namespace, workload: `${kind}/${bridge.target.name}/${bridge.target.container}` },
      ports: bridge.ports.map((p) => ({ remote: p.remote, local: p.local })),
      rules: bridge.match,
      local: {
        ...(image ? { image } : {}),
        ...(envFrom ? { envFrom } : {}),
        env: explicit,
        ports: container.ports.map(formatPublishedPort),
      },
    },
    ...(build || volumes.length ? { personal: { ...(build ? { build } : {}), volumes } } : {}),
  };
  const parsed = ProfileFileSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GefyraError("PROFILE_INVALID", `bridge ${bridge.name} cannot be saved as profile ${input.name}: ${issue ? `${issue.path.map(String).join(".")}: ${issue.message}` : "not a valid profile"}`);
  }
  return { profile: parsed.data, notes };
}

export interface SaveFromBridgeOptions extends ClusterOptions {
  /** The bridge to copy. */
  bridge: string;
  name: string;
  description?: string;
  /** Overwrite a profile of the same name (its shared versions are kept). */
  replace?: boolean;
  docker?: Docker;
}

/** Docker's view of a local container started with `gefyra run`. */
export async function inspectLocalContainer(docker: Docker, name: string): Promise<LocalContainerFacts> {
  const app = await docker
    .getContainer(name)
    .inspect()
    .catch(() => undefined);
  if (!app) throw new GefyraError("LOCAL_NOT_FOUND", `the bridge's local container ${name} is not on this machine: save the profile on the machine that runs it`);
  const image = await docker
    .getImage(app.Image)
    .inspect()
    .catch(() => undefined);
  const listed = (await listLocal({ docker })).find((c) => c.name === name);
  return {
    name,
    image: app.Config.Image,
    env: app.Config.Env ?? [],
    imageEnv: image?.Config.Env ?? [],
    labels: app.Config.Labels ?? {},
    binds: app.HostConfig.Binds ?? [],
    ports: listed?.ports ?? [],
  };
}

/** `gefyra profiles save NAME --from-bridge B`: reads the Bridge and its local container, saves the profile. */
export async function saveProfileFromBridge(store: Store, options: SaveFromBridgeOptions): Promise<{ profile: ProfileFile; notes: string[] }> {
  if (!options.replace && (await listProfiles(store)).some((p) => p.metadata.name === options.name)) {
    throw new GefyraError("PROFILE_EXISTS", `profile ${options.name} already exists: pick another name, or replace it (--replace)`);
  }
  const { bridge: bridgeName, name, description, replace: _replace, docker: given, ...cluster } = options;
  const bridge = (await listBridges(cluster)).find((b) => b.name === bridgeName);
  if (!bridge) throw new GefyraError("BRIDGE_NOT_FOUND", `no bridge named ${bridgeName}: see gefyra list`);
  const docker = await connectDocker(given);
  const container = await inspectLocalContainer(docker, bridge.local);

  let envFrom: FromBridgeInput["envFrom"];
  if (container.labels[ENV_KEYS_LABEL] === undefined) {
    // an older container: its env-from source (named, or likely the bridged workload when the
    // service-link variables env-from brings are there) is read to take its values out again
    const env = envMap(container.env);
    const ref = container.labels[ENV_FROM_LABEL] ?? (env.has("KUBERNETES_SERVICE_HOST") ? `${SHORT_KIND[bridge.target.kind]}/${bridge.target.name}/${bridge.target.container}` : undefined);
    if (ref) {
      try {
        const { kubeConfig } = kubeConfigFor(cluster.context, { ...(cluster.kubeconfig ? { kubeconfig: cluster.kubeconfig } : {}), ...(cluster.env ? { env: cluster.env } : {}) });
        envFrom = { ref, environment: await workloadEnvironment(kubeConfig, bridge.namespace, parseWorkloadRef(ref)) };
      } catch (error) {
        throw new GefyraError(
          "ENV_FROM_UNKNOWN",
          `cannot tell ${bridge.local}'s own variables from those of ${ref} (${describeCause(error)}), and those may be Secrets: nothing was saved; start the container again with this version of gefyra run and retry`,
          { cause: error },
        );
      }
    }
  }
  const result = profileFromBridge({ name, ...(description ? { description } : {}), bridge, container, ...(envFrom ? { envFrom } : {}) });
  await saveProfile(store, result.profile);
  return result;
}
