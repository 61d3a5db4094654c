/**
 * The developer's own container on this machine, living inside the cluster network.
 *
 * Each app container joins the network namespace of a small "netns holder" container of its own
 * (Cargo's image, on the connection's Docker network). The holder sets the default route via
 * Cargo and uses Cargo as DNS, publishes the ports, and keeps the namespace while the app restarts
 * or is recreated. So the route is set from outside the app container — images without a shell or
 * `ip` (distroless, scratch) work — and survives `--restart`, because the app never owns the
 * namespace. See docs/decisions/0013-netns-holder-per-app-container.md.
 */
import fs from "node:fs";
import path from "node:path";
import { PassThrough, type Writable } from "node:stream";
import type Docker from "dockerode";
import type * as k8s from "@kubernetes/client-node";
import { CONNECTION_LABEL, cargoContainerName, dockerNetworkName } from "@gefyra/shared";
import { GefyraError, describeCause } from "../errors";
import { connectDocker, imagePresent } from "../connection/docker";
import { defaultConnectionName, dnsSearch } from "../connection/connection";
import { environmentFor, type Environment } from "./environment";
import { parseWorkloadRef, resolveWorkload, type WorkloadRef } from "./workload";

export const COMPONENT_LABEL = "gefyra-ts.dev/component";
export const APP_LABEL = "gefyra-ts.dev/app";
/**
 * How the container was made, kept on it so a profile can be saved from it later: the env-from
 * workload, the names of the variables given explicitly (the rest came from the workload or the
 * image, and env-from values, Secrets among them, must never end up in a profile), the build context.
 */
export const ENV_FROM_LABEL = "gefyra-ts.dev/env-from";
export const ENV_KEYS_LABEL = "gefyra-ts.dev/env-keys";
export const BUILD_LABEL = "gefyra-ts.dev/build";
const APP = "app";
const HOLDER = "app-netns";

export interface PortMapping {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp";
}

export interface VolumeMapping {
  source: string;
  target: string;
  readOnly: boolean;
}

export interface RunOptions {
  name: string;
  /** An image present in the Docker engine (or pullable). One of image / build. */
  image?: string;
  /** A Docker build context; built and tagged `gefyra-ts-local/NAME:latest`. */
  build?: string;
  /** Namespace whose environment, DNS search domains and service links the container gets. */
  namespace?: string;
  connection?: string;
  envFrom?: string;
  env?: Environment;
  volumes?: string[];
  ports?: string[];
  command?: string[];
  entrypoint?: string[];
  workdir?: string;
  user?: string;
  /** Docker restart policy: no | on-failure[:N] | always | unless-stopped. */
  restart?: string;
  /** Copy CPU / memory limits from this workload's container (deploy/X[/container]). */
  cpuFrom?: string;
  memoryFrom?: string;
  /** Extra labels on the app container (a profile's name). */
  labels?: Record<string, string>;
  /** Needed for env-from / cpu-from / memory-from. */
  kubeConfig?: k8s.KubeConfig;
  docker?: Docker;
  signal?: AbortSignal;
}

export type RunStep = "connection" | "image" | "environment" | "network" | "container" | "ready" | "rollback";
export interface RunProgress {
  step: RunStep;
  message: string;
}

export interface LocalContainer {
  name: string;
  image: string;
  connection: string;
  namespace: string;
  state: string;
  ip: string;
  ports: PortMapping[];
  created: string;
}

// ---------------------------------------------------------------- parsing (pure)

/** `-p [IP:]HOST:CONTAINER[/udp]`, Docker's order. Default bind 127.0.0.1: a dev container is not for the LAN. */
export function parsePort(text: string): PortMapping {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(text);
  const hostPort = Number(m?.[2]);
  const containerPort = Number(m?.[3]);
  if (!m || !hostPort || !containerPort || hostPort > 65535 || containerPort > 65535) {
    throw new GefyraError("PORT_INVALID", `'${text}' is not a port mapping: write HOST:CONTAINER (Docker's order), e.g. -p 8080:80, or IP:HOST:CONTAINER[/udp]`);
  }
  return { hostIp: m[1] ?? "127.0.0.1", hostPort, containerPort, protocol: (m[4] as "tcp" | "udp" | undefined) ?? "tcp" };
}

/** `-v SRC:DST[:ro|rw]`; SRC is a host path (made absolute) that must exist. */
export function parseVolume(text: string, cwd = process.cwd()): VolumeMapping {
  const parts = text.split(":");
  const [src, dst, mode] = parts;
  if (!src || !dst || parts.length > 3 || !dst.startsWith("/") || (mode !== undefined && mode !== "ro" && mode !== "rw")) {
    throw new GefyraError("VOLUME_INVALID", `'${text}' is not a volume: write HOST_PATH:CONTAINER_PATH[:ro], e.g. -v ./src:/app/src`);
  }
  const source = path.resolve(cwd, src);
  if (!fs.existsSync(source)) {
    throw new GefyraError("VOLUME_SOURCE_MISSING", `volume source ${source} does not exist: create it or fix the path in -v ${text}`);
  }
  return { source, target: dst, readOnly: mode === "ro" };
}

/** Kubernetes CPU quantity ("500m", "2") in nano-CPUs, as Docker's NanoCpus wants. */
export function cpuQuantityToNano(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(q.trim());
  if (!m) throw new GefyraError("QUANTITY_INVALID", `CPU quantity '${q}' is not understood (expected e.g. 500m or 2)`);
  const cores = Number(m[1]) / (m[2] === "m" ? 1000 : 1);
  return Math.round(cores * 1e9);
}

/** Kubernetes memory quantity ("128Mi", "1G", "1e6") in bytes. */
export function memoryQuantityToBytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E|m)?$/.exec(q.trim());
  if (!m) throw new GefyraError("QUANTITY_INVALID", `memory quantity '${q}' is not understood (expected e.g. 128Mi or 1G)`);
  const factor: Record<string, number> = {
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
    k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, m: 1e-3,
  };
  return Math.round(Number(m[1]) * (m[2] ? (factor[m[2]] ?? 1) : 1));
}

export function parseRestart(text: string | undefined): { Name: string; MaximumRetryCount?: number } | undefined {
  if (!text) return undefined;
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(text);
  if (!m || (m[2] && m[1] !== "on-failure")) {
    throw new GefyraError("RESTART_INVALID", `--restart ${text} is not a Docker restart policy: use no, on-failure[:N], always or unless-stopped`);
  }
  return m[2] ? { Name: m[1] ?? "no", MaximumRetryCount: Number(m[2]) } : { Name: m[1] ?? "no" };
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const holderName = (name: string): string => `${name}-gefyra-netns`;

// ---------------------------------------------------------------- docker helpers

async function inspectOrUndefined(docker: Docker, name: string): Promise<Docker.ContainerInspectInfo | undefined> {
  return docker
    .getContainer(name)
    .inspect()
    .catch(() => undefined);
}

interface CargoInfo {
  connection: string;
  network: string;
  ip: string;
  image: string;
}

async function cargoOf(docker: Docker, connection: string): Promise<CargoInfo> {
  const network = dockerNetworkName(connection);
  const cargo = await inspectOrUndefined(docker, cargoContainerName(connection));
  const ip = cargo?.NetworkSettings.Networks[network]?.IPAddress;
  if (!cargo?.State.Running || !ip) {
    throw new GefyraError("NO_CONNECTION", `no connection '${connection}' is up on this machine: run 'gefyra up' first`);
  }
  return { connection, network, ip, image: cargo.Config.Image };
}

async function ensureImage(docker: Docker, options: RunOptions, onProgress: (p: RunProgress) => void): Promise<string> {
  if (options.build) {
    const context = path.resolve(options.build);
    if (!fs.existsSync(path.join(context, "Dockerfile"))) {
      throw new GefyraError("BUILD_CONTEXT_INVALID", `no Dockerfile in ${context}: pass the folder that holds your Dockerfile to --build`);
    }
    const tag = options.image ?? `gefyra-ts-local/${options.name.toLowerCase()}:latest`;
    onProgress({ step: "image", message: `building ${tag} from ${context}` });
    const stream = await docker.buildImage({ context, src: fs.readdirSync(context) }, { t: tag });
    const failure = await new Promise<string | undefined>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (err: Error | null, output: Array<{ error?: string }>) => (err ? reject(err) : resolve(output.find((o) => o.error)?.error)),
        (event: { stream?: string }) => {
          const line = event.stream?.trim();
          if (line) onProgress({ step: "image", message: line });
        },
      );
    });
    if (failure) throw new GefyraError("BUILD_FAILED", `docker build of ${context} failed: ${failure.trim()}`);
    return tag;
  }
  const image = options.image;
  if (!image) throw new GefyraError("IMAGE_MISSING", "say which image to run: --image IMAGE, or --build DIR to build one");
  if (await imagePresent(docker, image)) return image;
  onProgress({ step: "image", message: `pulling ${image}` });
  try {
    const stream = await docker.pull(image);
    await new Promise((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve(undefined))));
  } catch (cause) {
    throw new GefyraError(
      "IMAGE_NOT_FOUND",
      `image ${image} is not in the local Docker engine and could not be pulled (${describeCause(cause)}): build it (docker build -t ${image} .) or check the name`,
      { cause },
    );
  }
  return image;
}

async function limitsFrom(kc: k8s.KubeConfig | undefined, namespace: string, ref: string | undefined, what: "cpu" | "memory"): Promise<string | undefined> {
  if (!ref) return undefined;
  if (!kc) throw new GefyraError("KUBECONFIG_REQUIRED", `--${what}-from needs cluster access: pass --kubeconfig/--context`);
  const { container } = await resolveWorkload(kc, namespace, parseWorkloadRef(ref));
  return container.resources?.limits?.[what] ?? container.resources?.requests?.[what];
}

function hostPortError(error: unknown, ports: PortMapping[]): GefyraError | undefined {
  const text = describeCause(error);
  if (!/port is already allocated|address already in use|bind/i.test(text)) return undefined;
  const port = /:(\d+)/.exec(text.split("bind")[1] ?? "")?.[1] ?? ports.map((p) => p.hostPort).join(", ");
  return new GefyraError("HOST_PORT_IN_USE", `host port ${port} is already in use: stop what uses it or choose another with -p OTHER:CONTAINER`, { cause: error });
}

// ---------------------------------------------------------------- operations

/** `gefyra run`: starts the container; on any failure removes what it made (nothing half-made is left). */
export async function runLocal(options: RunOptions, onProgress: (p: RunProgress) => void = () => undefined): Promise<LocalContainer> {
  const docker = await connectDocker(options.docker);
  const namespace = options.namespace ?? "default";
  const connection = options.connection ?? defaultConnectionName();
  if (!NAME.test(options.name)) {
    throw new GefyraError("NAME_INVALID", `'${options.name}' is not a container name: use letters, digits, '.', '_' or '-' (at most 63)`);
  }
  // what can be checked without Docker or the cluster is checked first
  const ports = (options.ports ?? []).map((p) => parsePort(p));
  const volumes = (options.volumes ?? []).map((v) => parseVolume(v));
  const restart = parseRestart(options.restart);
  onProgress({ step: "connection", message: `using connection ${connection}` });
  const cargo = await cargoOf(docker, connection);
  for (const taken of [options.name, holderName(options.name)]) {
    if (await inspectOrUndefined(docker, taken)) {
      throw new GefyraError("NAME_IN_USE", `a container named ${taken} already exists: choose another --name or remove it (gefyra rm ${options.name})`);
    }
  }
  const image = await ensureImage(docker, options, onProgress);

  let envFrom: WorkloadRef | undefined;
  if (options.envFrom) {
    if (!options.kubeConfig) throw new GefyraError("KUBECONFIG_REQUIRED", "--env-from needs cluster access: pass --kubeconfig/--context");
    envFrom = parseWorkloadRef(options.envFrom);
    onProgress({ step: "environment", message: `reading the environment of ${options.envFrom} in ${namespace}` });
  }
  const env = options.kubeConfig ? await environmentFor(options.kubeConfig, namespace, envFrom, options.env ?? {}) : { ...(options.env ?? {}) };
  const cpu = await limitsFrom(options.kubeConfig, namespace, options.cpuFrom, "cpu");
  const memory = await limitsFrom(options.kubeConfig, namespace, options.memoryFrom, "memory");

  const labels = { [COMPONENT_LABEL]: APP, [APP_LABEL]: options.name, [CONNECTION_LABEL]: connection, "gefyra-ts.dev/namespace": namespace };
  const origin = {
    ...options.labels,
    ...(options.envFrom ? { [ENV_FROM_LABEL]: options.envFrom } : {}),
    [ENV_KEYS_LABEL]: JSON.stringify(Object.keys(options.env ?? {})),
    ...(options.build ? { [BUILD_LABEL]: path.resolve(options.build) } : {}),
  };
  const made: string[] = [];
  try {
    onProgress({ step: "network", message: `joining ${cargo.network} with Cargo (${cargo.ip}) as gateway and DNS` });
    const exposed: Record<string, object> = {};
    const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
    for (const p of ports) {
      const key = `${p.containerPort}/${p.protocol}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
    }
    // The holder re-applies the route on every start of its own and then just waits.
    const holder = await docker.createContainer({
      name: holderName(options.name),
      Image: cargo.image,
      Entrypoint: ["/bin/sh", "-c", 'ip route replace default via "$CARGO_IP" && trap "exit 0" TERM INT && while :; do sleep 3600 & wait $!; done'],
      Cmd: [],
      Env: [`CARGO_IP=${cargo.ip}`],
      Labels: { ...labels, [COMPONENT_LABEL]: HOLDER },
      ExposedPorts: exposed,
      HostConfig: {
        NetworkMode: cargo.network,
        CapAdd: ["NET_ADMIN"],
        Dns: [cargo.ip],
        DnsSearch: dnsSearch(namespace),
        DnsOptions: ["ndots:5"],
        PortBindings: bindings,
        RestartPolicy: { Name: "unless-stopped" },
      },
    });
    made.push(holder.id);
    try {
      await holder.start();
    } catch (error) {
      throw hostPortError(error, ports) ?? error;
    }
    const netns = await holder.inspect();
    if (!netns.State.Running) throw new GefyraError("ROUTE_FAILED", `could not route ${options.name} through Cargo: ${netns.State.Error || "the network holder exited"}`);

    onProgress({ step: "container", message: `starting ${options.name} from ${image}` });
    const app = await docker.createContainer({
      name: options.name,
      Image: image,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: { ...origin, ...labels },
      ...(options.command?.length ? { Cmd: options.command } : {}),
      ...(options.entrypoint?.length ? { Entrypoint: options.entrypoint } : {}),
      ...(options.workdir ? { WorkingDir: options.workdir } : {}),
      ...(options.user ? { User: options.user } : {}),
      HostConfig: {
        NetworkMode: `container:${holder.id}`,
        Binds: volumes.map((v) => `${v.source}:${v.target}${v.readOnly ? ":ro" : ""}`),
        ...(restart ? { RestartPolicy: restart } : {}),
        ...(cpu ? { NanoCpus: cpuQuantityToNano(cpu) } : {}),
        ...(memory ? { Memory: memoryQuantityToBytes(memory) } : {}),
      },
    });
    made.push(app.id);
    await app.start();
    onProgress({ step: "ready", message: `${options.name} runs in the cluster network of ${namespace}` });
    const info = (await listLocal({ docker })).find((c) => c.name === options.name);
    if (!info) throw new GefyraError("RUN_FAILED", `${options.name} disappeared right after it started: see gefyra logs ${options.name}`);
    return info;
  } catch (error) {
    onProgress({ step: "rollback", message: `removing what was made for ${options.name}` });
    for (const id of made.reverse()) {
      await docker
        .getContainer(id)
        .remove({ force: true, v: true })
        .catch(() => undefined);
    }
    throw error instanceof GefyraError ? error : new GefyraError("RUN_FAILED", `could not start ${options.name}: ${describeCause(error)}`, { cause: error });
  }
}

/** `gefyra list`: the app containers with their connection, cluster-network IP, ports and state. */
export async function listLocal(options: { docker?: Docker; connection?: string } = {}): Promise<LocalContainer[]> {
  const docker = await connectDocker(options.docker);
  const filters = { label: [`${COMPONENT_LABEL}=${APP}`, ...(options.connection ? [`${CONNECTION_LABEL}=${options.connection}`] : [])] };
  const apps = await docker.listContainers({ all: true, filters: JSON.stringify(filters) });
  const result: LocalContainer[] = [];
  for (const c of apps) {
    const name = (c.Names[0] ?? "").replace(/^\//, "");
    const connection = c.Labels[CONNECTION_LABEL] ?? "";
    const holder = await inspectOrUndefined(docker, holderName(name));
    const ip = holder?.NetworkSettings.Networks[dockerNetworkName(connection)]?.IPAddress ?? "";
    const ports: PortMapping[] = [];
    const bound = (holder?.HostConfig.PortBindings ?? {}) as Record<string, Array<{ HostIp: string; HostPort: string }> | null>;
    for (const [key, binds] of Object.entries(bound)) {
      const [port, proto] = key.split("/");
      for (const b of binds ?? []) ports.push({ hostIp: b.HostIp, hostPort: Number(b.HostPort), containerPort: Number(port), protocol: proto === "udp" ? "udp" : "tcp" });
    }
    result.push({
      name,
      image: c.Image,
      connection,
      namespace: c.Labels["gefyra-ts.dev/namespace"] ?? "default",
      state: c.State,
      ip,
      ports,
      created: new Date(c.Created * 1000).toISOString(),
    });
  }
  return result.sort((a, b) => a.name.localeCompare(b.name));
}

async function appContainer(docker: Docker, name: string): Promise<Docker.ContainerInspectInfo> {
  const info = await inspectOrUndefined(docker, name);
  if (!info || info.Config.Labels?.[COMPONENT_LABEL] !== APP) {
    throw new GefyraError("CONTAINER_NOT_FOUND", `no local container named ${name}: see gefyra list`);
  }
  return info;
}

/** `gefyra logs NAME [-f]`: writes the container's output; with follow, until the signal aborts or it exits. */
export async function logsLocal(name: string, out: Writable, options: { follow?: boolean; tail?: number; docker?: Docker; signal?: AbortSignal } = {}): Promise<void> {
  const docker = await connectDocker(options.docker);
  await appContainer(docker, name);
  const container = docker.getContainer(name);
  const tail = options.tail !== undefined ? { tail: options.tail } : {};
  if (!options.follow) {
    const buffer = await container.logs({ stdout: true, stderr: true, follow: false, ...tail });
    const pass = new PassThrough();
    const done = new Promise<void>((resolve) => pass.on("end", resolve));
    pass.pipe(out, { end: false });
    docker.modem.demuxStream(bufferStream(buffer), pass, pass);
    pass.end();
    await done;
    return;
  }
  const stream = await container.logs({ stdout: true, stderr: true, follow: true, ...tail });
  docker.modem.demuxStream(stream, out, out);
  await new Promise<void>((resolve) => {
    const stop = () => {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      resolve();
    };
    options.signal?.addEventListener("abort", stop, { once: true });
    stream.on("end", resolve);
    stream.on("close", resolve);
  });
}

function bufferStream(buffer: Buffer): NodeJS.ReadableStream {
  const s = new PassThrough();
  s.end(buffer);
  return s;
}

/** `gefyra stop NAME`: stops the app and its network holder (kept for `docker start`). */
export async function stopLocal(name: string, options: { docker?: Docker; timeoutSeconds?: number } = {}): Promise<void> {
  const docker = await connectDocker(options.docker);
  await appContainer(docker, name);
  for (const n of [name, holderName(name)]) {
    await docker
      .getContainer(n)
      .stop({ t: options.timeoutSeconds ?? 5 })
      .catch((e: unknown) => {
        if (!/not running|already stopped|304/i.test(describeCause(e))) throw e;
      });
  }
}

/** `gefyra rm NAME`: removes the app container and its network holder. */
export async function removeLocal(name: string, options: { docker?: Docker } = {}): Promise<void> {
  const docker = await connectDocker(options.docker);
  await appContainer(docker, name);
  for (const n of [name, holderName(name)]) {
    await docker
      .getContainer(n)
      .remove({ force: true, v: true })
      .catch((e: unknown) => {
        if (!/no such container|not found/i.test(describeCause(e))) throw e;
      });
  }
}
