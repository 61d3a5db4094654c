/**
 * Starting a profile is `gefyra run` then `gefyra bridge` with what the profile says; stopping it
 * is `gefyra unbridge` then `gefyra rm`. Both report typed progress. A start that fails at the
 * bridge removes the container it started, so a failed start leaves nothing behind.
 *
 * The local container is named after the profile (and labelled with it), and so is the bridge,
 * so a stop finds both without any state besides Docker and the cluster.
 */
import path from "node:path";
import type Docker from "dockerode";
import { CONNECTION_LABEL } from "@gefyra/shared";
import { bridge, listBridges, unbridge, type BridgeInfo, type BridgeProgress } from "../bridge";
import type { ClusterOptions } from "../connection/cluster";
import { defaultConnectionName } from "../connection/connection";
import { connectDocker } from "../connection/docker";
import { kubeConfigFor } from "../contexts";
import { GefyraError, describeCause, toGefyraError } from "../errors";
import { COMPONENT_LABEL, listLocal, removeLocal, runLocal, type LocalContainer, type RunOptions, type RunProgress } from "../run/local-container";
import type { Store } from "../../store";
import type { ProfileFile } from "./profile-file";
import { listProfiles } from "./profiles";

/** Label on a profile's local container: the profile's name. */
export const PROFILE_LABEL = "gefyra-ts.dev/profile";

export type ProfileStartStep = "profile" | "container" | "bridge" | "ready" | "rollback";
export interface ProfileStartProgress {
  kind: "profile-start";
  profile: string;
  step: ProfileStartStep;
  /** The underlying step of `run` or `bridge` (image, environment, create, pods, ...), if any. */
  detail: string | null;
  message: string;
  elapsedMs: number;
}

export interface ProfileStartResult {
  profile: string;
  container: LocalContainer;
  bridge: BridgeInfo;
  elapsedMs: number;
}

export type ProfileStopStep = "find" | "unbridge" | "container" | "done";
export interface ProfileStopProgress {
  kind: "profile-stop";
  profile: string;
  step: ProfileStopStep;
  message: string;
  elapsedMs: number;
}

export interface ProfileStopResult {
  profile: string;
  bridges: string[];
  containers: string[];
}

export interface StartProfileOptions extends ClusterOptions {
  /** Where the profile is read from; or give `profile` itself. */
  store?: Store;
  profile?: ProfileFile;
  /** The connection the container joins (default: user-host, as gefyra up). */
  connection?: string;
  /** Default: the profile's name. */
  containerName?: string;
  /** Default: the profile's name. */
  bridgeName?: string;
  /** Relative volume and build paths are taken from here (default: the process's working directory). */
  cwd?: string;
  docker?: Docker;
  /** For the bridge to become active (default 120 s). */
  timeoutMs?: number;
}

export interface StopProfileOptions extends ClusterOptions {
  connection?: string;
  containerName?: string;
  bridgeName?: string;
  docker?: Docker;
  timeoutMs?: number;
}

async function loadProfile(name: string, options: StartProfileOptions): Promise<ProfileFile> {
  if (options.profile) return options.profile;
  if (!options.store) throw new GefyraError("PROFILE_NOT_FOUND", `no profile named ${name}: see gefyra profiles list`);
  const found = (await listProfiles(options.store)).find((p) => p.metadata.name === name);
  if (!found) throw new GefyraError("PROFILE_NOT_FOUND", `no profile named ${name}: see gefyra profiles list (or pull it: gefyra profiles pull ${name})`);
  return found;
}

/** A relative HOST_PATH of a volume, made absolute against `cwd`. */
export function resolveVolume(volume: string, cwd: string): string {
  const at = volume.indexOf(":");
  if (at <= 0) return volume;
  const source = volume.slice(0, at);
  return path.isAbsolute(source) ? volume : `${path.resolve(cwd, source)}${volume.slice(at)}`;
}

/** What `gefyra run` gets from a profile (pure; unit-tested). */
export function runOptionsFor(profile: ProfileFile, options: { containerName: string; connection: string; cwd: string }): RunOptions {
  const { spec, personal } = profile;
  if (!spec.local.image && !personal?.build) {
    throw new GefyraError(
      "PROFILE_NO_IMAGE",
      `profile ${profile.metadata.name} names no image to run: set spec.local.image (or a build context in its personal part) and start it again`,
    );
  }
  return {
    name: options.containerName,
    connection: options.connection,
    namespace: spec.target.namespace,
    ...(spec.local.image ? { image: spec.local.image } : {}),
    ...(personal?.build ? { build: path.resolve(options.cwd, personal.build) } : {}),
    ...(spec.local.envFrom ? { envFrom: spec.local.envFrom } : {}),
    env: { ...spec.local.env },
    ports: [...spec.local.ports],
    volumes: (personal?.volumes ?? []).map((v) => resolveVolume(v, options.cwd)),
    labels: { [PROFILE_LABEL]: profile.metadata.name },
  };
}

/** `gefyra profiles start NAME`: the local container, then the bridge; on a bridge failure the container goes again. */
export async function startProfile(name: string, options: StartProfileOptions, onProgress: (p: ProfileStartProgress) => void = () => undefined): Promise<ProfileStartResult> {
  const started = Date.now();
  const emit = (step: ProfileStartStep, message: string, detail: string | null = null) =>
    onProgress({ kind: "profile-start", profile: name, step, detail, message, elapsedMs: Date.now() - started });
  const cluster: ClusterOptions = {
    ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
    ...(options.context ? { context: options.context } : {}),
    ...(options.env ? { env: options.env } : {}),
  };

  emit("profile", `reading profile ${name}`);
  const profile = await loadProfile(name, options);
  const connection = options.connection ?? defaultConnectionName();
  const containerName = options.containerName ?? profile.metadata.name;
  const bridgeName = options.bridgeName ?? profile.metadata.name;
  const run = runOptionsFor(profile, { containerName, connection, cwd: options.cwd ?? process.cwd() });
  const docker = await connectDocker(options.docker);
  const existing = (await listLocal({ docker })).find((c) => c.name === containerName);
  if (existing) {
    throw new GefyraError(
      "PROFILE_RUNNING",
      `a local container named ${containerName} exists already (${existing.state}): stop the profile first (gefyra profiles stop ${name}) or remove the container (gefyra rm ${containerName})`,
    );
  }
  const { kubeConfig } = kubeConfigFor(options.context, { ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}), ...(options.env ? { env: options.env } : {}) });
  options.signal?.throwIfAborted();

  emit("container", `starting ${containerName} from ${run.image ?? run.build ?? "?"} in the cluster network of ${run.namespace}`);
  const container = await runLocal({ ...run, kubeConfig, docker, ...(options.signal ? { signal: options.signal } : {}) }, (p: RunProgress) => {
    // runLocal undoes its own work; its rollback is reported as the profile's
    emit(p.step === "rollback" ? "rollback" : "container", p.message, p.step);
  });

  try {
    options.signal?.throwIfAborted();
    emit("bridge", `bridging ${profile.spec.target.workload} in ${profile.spec.target.namespace} to ${containerName}`);
    const info = await bridge(
      {
        ...cluster,
        target: profile.spec.target.workload,
        namespace: profile.spec.target.namespace,
        local: containerName,
        ports: profile.spec.ports,
        match: profile.spec.rules,
        name: bridgeName,
        connection,
        docker,
        ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (p: BridgeProgress) => emit(p.step === "rollback" ? "rollback" : "bridge", p.message, p.step),
    );
    emit("ready", `profile ${name} runs: ${info.match.length ? "matching requests" : "all traffic"} on ${profile.spec.target.workload} port(s) ${info.ports.map((p) => `${p.remote}->${p.local}`).join(", ")} go to ${containerName}`);
    return { profile: name, container, bridge: info, elapsedMs: Date.now() - started };
  } catch (error) {
    emit("rollback", `removing ${containerName} again: the bridge failed`);
    const removed = await removeLocal(containerName, { docker }).then(
      () => true,
      () => false,
    );
    const e = toGefyraError(error, "BRIDGE_FAILED");
    throw new GefyraError(
      e.code,
      `${e.message} (profile ${name}: ${removed ? `the local container ${containerName} was removed again` : `the local container ${containerName} could not be removed: gefyra rm ${containerName}`})`,
      { cause: error, ...(e.details ? { details: { ...e.details } } : {}) },
    );
  }
}

/** `gefyra profiles stop NAME`: removes the profile's bridge (the workload is restored), then its local container. */
export async function stopProfile(name: string, options: StopProfileOptions = {}, onProgress: (p: ProfileStopProgress) => void = () => undefined): Promise<ProfileStopResult> {
  const started = Date.now();
  const emit = (step: ProfileStopStep, message: string) => onProgress({ kind: "profile-stop", profile: name, step, message, elapsedMs: Date.now() - started });
  const cluster: ClusterOptions = {
    ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
    ...(options.context ? { context: options.context } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  emit("find", `looking for profile ${name}'s container and bridge`);
  const docker = await connectDocker(options.docker);
  const labelled = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${PROFILE_LABEL}=${name}`, `${COMPONENT_LABEL}=app`] }) });
  const containers = new Set(labelled.map((c) => (c.Names[0] ?? "").replace(/^\//, "")).filter(Boolean));
  if (options.containerName) containers.add(options.containerName);
  const present = new Set((await listLocal({ docker })).map((c) => c.name));
  const locals = [...containers].filter((c) => present.has(c));
  const connectionOf = new Map(labelled.map((c) => [(c.Names[0] ?? "").replace(/^\//, ""), c.Labels[CONNECTION_LABEL]]));

  const bridgeName = options.bridgeName ?? name;
  const bridges = (await listBridges(cluster)).filter(
    (b) => b.name === bridgeName || (locals.includes(b.local) && (!connectionOf.get(b.local) || connectionOf.get(b.local) === b.connection)),
  );
  const chosen = options.connection ? bridges.filter((b) => b.connection === options.connection) : bridges;
  if (chosen.length === 0 && locals.length === 0) {
    throw new GefyraError("PROFILE_NOT_RUNNING", `profile ${name} is not running here: no local container or bridge of it (see gefyra list)`);
  }

  const removedBridges: string[] = [];
  for (const b of chosen) {
    emit("unbridge", `removing bridge ${b.name}: restoring ${b.target.kind}/${b.target.name} in ${b.namespace}`);
    try {
      await unbridge({ ...cluster, name: b.name, docker, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) });
    } catch (error) {
      // the container stays while its bridge may still point at it
      const e = toGefyraError(error);
      throw new GefyraError(e.code, `${e.message} (profile ${name}: its local container was kept; run gefyra profiles stop ${name} again)`, { cause: error });
    }
    removedBridges.push(b.name);
  }
  const removedContainers: string[] = [];
  for (const c of locals) {
    emit("container", `removing local container ${c}`);
    await removeLocal(c, { docker }).catch((error: unknown) => {
      throw new GefyraError("CONTAINER_REMOVE_FAILED", `could not remove ${c} (${describeCause(error)}): gefyra rm ${c}`, { cause: error });
    });
    removedContainers.push(c);
  }
  emit("done", `profile ${name} stopped${removedBridges.length ? `: ${removedBridges.join(", ")} removed, the workload is restored` : ""}`);
  return { profile: name, bridges: removedBridges, containers: removedContainers };
}
