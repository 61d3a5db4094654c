/**
 * up / down / status of one developer's connection: a Connection object in the cluster (the
 * operator turns it into a WireGuard peer on Stowaway) and, on this machine, a Docker network with
 * Cargo (WireGuard client, gateway, DNS, heartbeat) on it.
 */
import os from "node:os";
import type Docker from "dockerode";
import {
  API_VERSION,
  CONNECTION_KIND,
  CONNECTION_LABEL,
  CONNECTION_PLURAL,
  CONNECTION_SECRET_KEYS as K,
  CRD_GROUP,
  CRD_VERSION,
  DEFAULT_HEARTBEAT_TTL_SECONDS,
  DEFAULT_MTU,
  DEFAULT_TUNNEL_SUBNET,
  NAMESPACE,
  PART_OF,
  PART_OF_LABEL,
  cargoContainerName,
  connectionNameSchema,
  connectionObjectName,
  dockerNetworkName,
  isIPv4,
  type Connection,
} from "@gefyra/shared";
import { GefyraError, describeCause } from "../errors";
import { abortError, apiError, apiMessage, connectCluster, isNotFound, poll, sleep, type Cluster, type ClusterOptions } from "./cluster";
import { LOCAL_LABEL_COMPONENT, connectDocker, createNetwork, dockerExec, imagePresent, removeContainer, removeNetwork, type CargoNetwork } from "./docker";
import { applyInstall, installedWith, localImageIds, renderManifests, type InstallProgress, type InstallSettings } from "./install";
import { tar } from "./tar";

export interface UpOptions extends ClusterOptions, InstallSettings {
  /** Connection name (DNS label); default: derived from user and host. */
  name?: string;
  /** Who connects (Connection.spec.client); default user@host. */
  client?: string;
  /** WireGuard endpoint host:port as this machine reaches Stowaway; default: the kubeconfig server's host (or the node address) and the NodePort. */
  endpoint?: string;
  heartbeatTTLSeconds?: number;
  /** A dockerode client; default: from DOCKER_HOST or /var/run/docker.sock. */
  docker?: Docker;
  /** Whole budget of `up`. Default 180 s. */
  timeoutMs?: number;
  /** How long to wait for the WireGuard handshake before calling UDP unreachable. Default 20 s. */
  handshakeTimeoutMs?: number;
}

export type UpStep = "check" | "install" | "connection" | "network" | "cargo" | "handshake" | "dns" | "heartbeat" | "ready" | "rollback";
export type UpProgress = { kind: "up"; step: UpStep; message: string; elapsedMs: number } | (InstallProgress & { elapsedMs: number });

export interface ConnectionInfo {
  name: string;
  client: string;
  context: string;
  /** The Docker network app containers join, and Cargo's address on it (their gateway and DNS). */
  network: string;
  subnet: string;
  cargoContainer: string;
  cargoIp: string;
  /** This side's tunnel address, and the Stowaway endpoint used. */
  clientAddress: string;
  endpoint: string;
  podCIDRs: string[];
  serviceCIDRs: string[];
  clusterDNS: string;
  /** Search domains for app containers (namespace-specific first when run with -n NS). */
  dnsSearch: (namespace?: string) => string[];
  mtu: number;
  elapsedMs: number;
}

export function defaultConnectionName(): string {
  const raw = `${os.userInfo().username}-${os.hostname()}`.toLowerCase().replace(/[^a-z0-9-]+/g, "-");
  return raw.replace(/^-+|-+$/g, "").slice(0, 40).replace(/-+$/g, "") || "default";
}

export function dnsSearch(namespace = "default", domain = "cluster.local"): string[] {
  return [`${namespace}.svc.${domain}`, `svc.${domain}`, domain];
}

function validName(name: string | undefined): string {
  const n = name ?? defaultConnectionName();
  const parsed = connectionNameSchema.safeParse(n);
  if (!parsed.success) throw new GefyraError("INVALID_NAME", `"${n}" is not a valid connection name (${parsed.error.issues[0]?.message ?? "invalid"}): use e.g. --name alice.`);
  return n;
}

const unb64 = (s: string | undefined) => (s ? Buffer.from(s, "base64").toString("utf8") : "");

export async function up(options: UpOptions = {}, onProgress: (p: UpProgress) => void = () => undefined): Promise<ConnectionInfo> {
  const started = Date.now();
  const name = validName(options.name);
  const client = options.client ?? `${os.userInfo().username}@${os.hostname()}`;
  const signal = options.signal;
  const budget = options.timeoutMs ?? 180_000;
  const left = () => Math.max(1000, budget - (Date.now() - started));
  const emit = (step: UpStep, message: string) => onProgress({ kind: "up", step, message, elapsedMs: Date.now() - started });
  const undo: Array<{ what: string; run: () => Promise<unknown> }> = [];

  emit("check", "checking the cluster and Docker");
  const [cluster, docker] = await Promise.all([connectCluster(options), connectDocker(options.docker)]);
  const rendered = renderManifests({ ...options, imageIds: options.imageIds ?? (await localImageIds(docker, renderManifests(options).images)) });
  if (!(await imagePresent(docker, rendered.images.cargo))) {
    throw new GefyraError("IMAGE_MISSING", `The Cargo image ${rendered.images.cargo} is not in the local Docker engine: build it with npm run images (or docker pull it) and retry.`, {
      details: { image: rendered.images.cargo },
    });
  }
  const cargoName = cargoContainerName(name);
  const running = await docker
    .getContainer(cargoName)
    .inspect()
    .catch(() => undefined);
  if (running) {
    // `up` converges: a healthy connection is returned as is; a broken or orphaned local side
    // (Connection gone after a heartbeat timeout, Cargo stopped, no recent handshake) is replaced
    const existing = running.State.Running ? await readConnection(cluster, name).catch(() => undefined) : undefined;
    if (existing && existing.spec.client === client && existing.status?.phase === "Ready") {
      const secret = await cluster.core.readNamespacedSecret({ namespace: NAMESPACE, name: connectionObjectName(name) }).catch(() => undefined);
      const hs = await dockerExec(docker, cargoName, ["wg", "show", "wg0", "latest-handshakes"]).catch(() => undefined);
      const last = Number(hs?.stdout.trim().split(/\s+/)[1] ?? "0");
      const netName = dockerNetworkName(name);
      const endpoint = running.NetworkSettings.Networks[netName];
      const subnet = (await docker.getNetwork(netName).inspect().catch(() => undefined))?.IPAM?.Config?.[0]?.Subnet;
      if (secret?.data && endpoint?.IPAddress && subnet && last > 0 && Date.now() / 1000 - last < 180) {
        const get = (k: string) => unb64(secret.data?.[k]);
        emit("ready", `connection ${name} is already up`);
        return {
          name,
          client,
          context: cluster.context,
          network: netName,
          subnet,
          cargoContainer: cargoName,
          cargoIp: endpoint.IPAddress,
          clientAddress: get(K.address),
          endpoint: (await dockerExec(docker, cargoName, ["sh", "-c", ". /etc/cargo/env; echo $ENDPOINT"])).stdout.trim(),
          podCIDRs: get(K.podCIDRs).split(",").filter(Boolean),
          serviceCIDRs: get(K.serviceCIDRs).split(",").filter(Boolean),
          clusterDNS: get(K.clusterDNS),
          dnsSearch: (ns?: string) => dnsSearch(ns),
          mtu: options.mtu ?? DEFAULT_MTU,
          elapsedMs: Date.now() - started,
        };
      }
    }
    emit("check", `replacing the stale local side of ${name}`);
    await removeContainer(docker, cargoName);
  }

  try {
    if (!(await installedWith(cluster, rendered))) {
      await applyInstall(cluster, rendered, { timeoutMs: left(), ...(signal ? { signal } : {}) }, (p) => onProgress({ ...p, elapsedMs: Date.now() - started }));
    }

    // 1. the Connection, and the Secret the operator makes for it
    emit("connection", `creating Connection ${name} for ${client}`);
    const existing = await readConnection(cluster, name);
    if (existing && existing.spec.client !== client) {
      throw new GefyraError("NAME_TAKEN", `Connection "${name}" belongs to ${existing.spec.client}: pick another --name.`);
    }
    if (existing?.metadata.deletionTimestamp) await waitConnectionGone(cluster, name, 30_000, signal);
    if (!existing || existing.metadata.deletionTimestamp) {
      const body: Connection = {
        apiVersion: API_VERSION,
        kind: CONNECTION_KIND,
        metadata: { name, namespace: NAMESPACE, labels: { [PART_OF_LABEL]: PART_OF } },
        spec: { client, heartbeatTTLSeconds: options.heartbeatTTLSeconds ?? DEFAULT_HEARTBEAT_TTL_SECONDS },
      };
      try {
        await cluster.custom.createNamespacedCustomObject({ group: CRD_GROUP, version: CRD_VERSION, namespace: NAMESPACE, plural: CONNECTION_PLURAL, body });
      } catch (error) {
        throw apiError(error, `create Connection ${name} in namespace ${NAMESPACE}`, cluster);
      }
      undo.push({ what: `Connection ${name}`, run: () => deleteConnection(cluster, name) });
    }
    let statusEndpoint = "";
    const secret = await poll(
      async () => {
        const c = await readConnection(cluster, name);
        statusEndpoint = c?.status?.endpoint ?? "";
        if (c?.status?.phase === "Failed") {
          const reason = c.status.conditions?.find((x) => x.type === "Ready");
          throw new GefyraError("CONNECTION_FAILED", `The operator could not set up Connection ${name} (${reason?.reason ?? "Failed"}: ${reason?.message ?? ""}): see kubectl -n ${NAMESPACE} describe gtc ${name}.`);
        }
        if (c?.status?.phase !== "Ready") return undefined;
        const s = await cluster.core.readNamespacedSecret({ namespace: NAMESPACE, name: connectionObjectName(name) }).catch(() => undefined);
        return s?.data?.[K.token] && s.data[K.stowawayPublicKey] ? s.data : undefined;
      },
      Math.min(left(), 60_000),
      () => new GefyraError("CONNECTION_TIMEOUT", `The operator did not make Connection ${name} ready within 60 s: see kubectl -n ${NAMESPACE} logs deploy/gefyra-ts-operator.`),
      signal,
      200,
    );
    const get = (k: string) => unb64(secret[k]);
    const podCIDRs = get(K.podCIDRs).split(",").filter(Boolean);
    const serviceCIDRs = get(K.serviceCIDRs).split(",").filter(Boolean);
    const clusterDNS = get(K.clusterDNS);
    const clientAddress = get(K.address);
    const tunnelSubnet = get(K.tunnelSubnet) || DEFAULT_TUNNEL_SUBNET;
    // NodePort: the API server's host (or the node) and the port; LoadBalancer: the operator's status
    const endpoint = options.endpoint ?? (get(K.nodePort) ? defaultEndpoint(cluster, get(K.nodeAddress), get(K.nodePort)) : statusEndpoint);
    if (!/^[^:]+:\d+$/.test(endpoint)) {
      throw new GefyraError("NO_ENDPOINT", `Stowaway has no reachable address yet (${endpoint || "none"}): wait for the LoadBalancer to get an address, or pass --endpoint HOST:PORT.`);
    }
    const mtu = options.mtu ?? DEFAULT_MTU;

    // 2. the Docker network, on a subnet that collides with nothing we route
    emit("network", `creating Docker network ${dockerNetworkName(name)}`);
    const endpointHost = endpoint.replace(/:\d+$/, "");
    const avoid = [...podCIDRs, ...serviceCIDRs, tunnelSubnet, ...(isIPv4(endpointHost) ? [`${endpointHost}/32`] : [])];
    const net = await createNetwork(docker, dockerNetworkName(name), name, avoid);
    undo.push({ what: `Docker network ${net.name}`, run: () => removeNetwork(docker, net.name) });

    // 3. Cargo
    emit("cargo", `starting Cargo (${rendered.images.cargo}) at ${net.cargoIp}`);
    await removeContainer(docker, cargoName);
    const container = await docker.createContainer({
      name: cargoName,
      Image: rendered.images.cargo,
      Labels: { [PART_OF_LABEL]: PART_OF, [CONNECTION_LABEL]: name, [LOCAL_LABEL_COMPONENT]: "cargo" },
      Env: ["WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1"],
      HostConfig: {
        CapAdd: ["NET_ADMIN"],
        Devices: [{ PathOnHost: "/dev/net/tun", PathInContainer: "/dev/net/tun", CgroupPermissions: "rwm" }],
        Sysctls: { "net.ipv4.ip_forward": "1" },
        RestartPolicy: { Name: "unless-stopped" },
        NetworkMode: net.name,
      },
      NetworkingConfig: { EndpointsConfig: { [net.name]: { IPAMConfig: { IPv4Address: net.cargoIp } } } },
    });
    undo.push({ what: `container ${cargoName}`, run: () => removeContainer(docker, cargoName) });
    const envFile = [
      `ADDRESS=${clientAddress}`,
      `PEER_PUBLIC_KEY=${get(K.stowawayPublicKey)}`,
      `ENDPOINT=${endpoint}`,
      `ROUTES="${[...podCIDRs, ...serviceCIDRs, tunnelSubnet].join(" ")}"`,
      `MTU=${mtu}`,
      `CLUSTER_DNS=${clusterDNS}`,
      `CLUSTER_DOMAIN=cluster.local`,
      `API_SERVER=${get(K.apiServer)}`,
      `LEASE=${get(K.lease)}`,
      `HEARTBEAT_SECONDS=${Math.max(2, Math.floor((options.heartbeatTTLSeconds ?? DEFAULT_HEARTBEAT_TTL_SECONDS) / 4))}`,
      "",
    ].join("\n");
    await container.putArchive(
      tar([
        { path: "etc/cargo/env", content: envFile, mode: 0o600 },
        { path: "etc/cargo/privateKey", content: `${get(K.privateKey)}\n`, mode: 0o600 },
        { path: "etc/cargo/token", content: get(K.token), mode: 0o600 },
        { path: "etc/cargo/ca.crt", content: get(K.caCrt), mode: 0o644 },
      ]),
      { path: "/" },
    );
    await container.start();
    await poll(
      async () => {
        const state = (await container.inspect()).State;
        if (!state.Running) {
          const logs = (await container.logs({ stdout: true, stderr: true, tail: 5 })).toString("utf8");
          // the stream's 8-byte frame headers hold binary bytes: keep printable text only
          const last = [...(logs.trim().split("\n").pop() ?? "")].filter((c) => c >= " ").join("");
          throw new GefyraError("CARGO_FAILED", `Cargo exited (${state.ExitCode}): ${last}: check that Docker allows NET_ADMIN and /dev/net/tun.`);
        }
        return (await dockerExec(docker, cargoName, ["test", "-f", "/tmp/ready"])).code === 0 ? true : undefined;
      },
      30_000,
      () => new GefyraError("CARGO_TIMEOUT", `Cargo did not start within 30 s: see docker logs ${cargoName}.`),
      signal,
      200,
    );

    // 4. verify: WireGuard handshake, DNS through the tunnel, heartbeat
    emit("handshake", `waiting for the WireGuard handshake with ${endpoint}`);
    const handshakeTimeout = options.handshakeTimeoutMs ?? 20_000;
    await poll(
      async () => {
        const r = await dockerExec(docker, cargoName, ["wg", "show", "wg0", "latest-handshakes"]);
        const ts = Number(r.stdout.trim().split(/\s+/)[1] ?? "0");
        return ts > 0 ? ts : undefined;
      },
      handshakeTimeout,
      () =>
        new GefyraError(
          "UDP_UNREACHABLE",
          `No WireGuard handshake with Stowaway at ${endpoint} (UDP) within ${Math.round(handshakeTimeout / 1000)} s: the UDP port is probably blocked or the address is not reachable from this machine; open UDP ${endpoint.split(":").pop()} in the firewall, or pass --endpoint HOST:PORT (or install with --service-type LoadBalancer).`,
          { details: { endpoint } },
        ),
      signal,
      250,
    );
    emit("dns", "resolving kubernetes.default.svc.cluster.local through the tunnel");
    await poll(
      async () => {
        const r = await dockerExec(docker, cargoName, ["busybox", "nslookup", "kubernetes.default.svc.cluster.local", net.cargoIp]);
        return r.code === 0 && /Address:?\s+\d+\.\d+\.\d+\.\d+/.test(r.stdout.split(/Name:/)[1] ?? "") ? true : undefined;
      },
      15_000,
      () => new GefyraError("DNS_FAILED", `The tunnel is up but cluster DNS (${clusterDNS}) does not answer through it: check CoreDNS (kubectl -n kube-system get pods) and NetworkPolicies towards it.`),
      signal,
      300,
    );
    emit("heartbeat", `heartbeat renewing Lease ${get(K.lease)} every ${Math.max(2, Math.floor((options.heartbeatTTLSeconds ?? DEFAULT_HEARTBEAT_TTL_SECONDS) / 4))} s`);
    await poll(
      async () => ((await dockerExec(docker, cargoName, ["test", "-f", "/tmp/heartbeat"])).code === 0 ? true : undefined),
      15_000,
      () => new GefyraError("HEARTBEAT_FAILED", "Cargo cannot renew its Lease through the tunnel"),
      signal,
      300,
    ).catch(async (error: unknown) => {
      if (!(error instanceof GefyraError) || error.code !== "HEARTBEAT_FAILED") throw error;
      const logs = (await container.logs({ stdout: true, stderr: true, tail: 50 })).toString("utf8");
      const last = logs.split("\n").filter((l) => l.includes("heartbeat:")).pop()?.replace(/^[^c]*cargo: /, "") ?? "no answer";
      throw new GefyraError(
        "HEARTBEAT_FAILED",
        `Cargo cannot renew its Lease ${get(K.lease)} through the tunnel (${last}): check that pods reach the API server at ${get(K.apiServer)} (NetworkPolicies) and see docker logs ${cargoName}.`,
      );
    });
    const info: ConnectionInfo = {
      name,
      client,
      context: cluster.context,
      network: net.name,
      subnet: net.subnet,
      cargoContainer: cargoName,
      cargoIp: net.cargoIp,
      clientAddress,
      endpoint,
      podCIDRs,
      serviceCIDRs,
      clusterDNS,
      dnsSearch: (ns?: string) => dnsSearch(ns),
      mtu,
      elapsedMs: Date.now() - started,
    };
    emit("ready", `connection ${name} is up in ${((Date.now() - started) / 1000).toFixed(1)} s: run containers with --network ${net.name} --dns ${net.cargoIp}`);
    return info;
  } catch (error) {
    for (const step of undo.reverse()) {
      emit("rollback", `removing ${step.what}`);
      await step.run().catch(() => undefined);
    }
    if (signal?.aborted) throw abortError(signal);
    if (error instanceof GefyraError) throw error;
    throw apiError(error, `bring connection ${name} up`, cluster);
  }
}

function defaultEndpoint(cluster: Cluster, nodeAddress: string, nodePort: string): string {
  let host = "";
  try {
    host = new URL(cluster.server).hostname.replace(/^\[|\]$/g, "");
  } catch {
    host = "";
  }
  if (!host || host === "localhost" || host.startsWith("127.") || host === "::1") host = nodeAddress;
  return `${host}:${nodePort}`;
}

export async function readConnection(cluster: Cluster, name: string): Promise<Connection | undefined> {
  try {
    return (await cluster.custom.getNamespacedCustomObject({ group: CRD_GROUP, version: CRD_VERSION, namespace: NAMESPACE, plural: CONNECTION_PLURAL, name })) as Connection;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw apiError(error, `read Connection ${name}`, cluster);
  }
}

async function deleteConnection(cluster: Cluster, name: string): Promise<boolean> {
  try {
    await cluster.custom.deleteNamespacedCustomObject({ group: CRD_GROUP, version: CRD_VERSION, namespace: NAMESPACE, plural: CONNECTION_PLURAL, name });
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw apiError(error, `delete Connection ${name}`, cluster);
  }
}

async function waitConnectionGone(cluster: Cluster, name: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  await poll(
    async () => ((await readConnection(cluster, name)) ? undefined : true),
    timeoutMs,
    () => new GefyraError("DOWN_TIMEOUT", `Connection ${name} was not deleted within ${Math.round(timeoutMs / 1000)} s: see kubectl -n ${NAMESPACE} get gtc ${name} -o yaml.`),
    signal,
    200,
  );
}

export interface DownOptions extends ClusterOptions {
  name?: string;
  docker?: Docker;
  /** Also succeed when the cluster is unreachable (local side removed anyway). Default true. */
  tolerateClusterErrors?: boolean;
}

export interface DownProgress {
  kind: "down";
  message: string;
}

export interface DownResult {
  name: string;
  removed: { container: boolean; network: boolean; connection: boolean };
  /** Set when the cluster side could not be removed (e.g. API server unreachable). */
  clusterError?: { code: string; message: string };
}

export async function down(options: DownOptions = {}, onProgress: (p: DownProgress) => void = () => undefined): Promise<DownResult> {
  const name = validName(options.name);
  const docker = await connectDocker(options.docker);
  // bridges first: the workloads are restored while the local side still answers
  try {
    const cluster = await connectCluster(options);
    const { removeBridgesOf } = await import("../bridge/bridge");
    await removeBridgesOf(cluster, name, (message) => onProgress({ kind: "down", message }));
  } catch {
    // an unreachable cluster is reported below, where the Connection is deleted
  }
  const container = await removeContainer(docker, cargoContainerName(name));
  if (container) onProgress({ kind: "down", message: `removed Cargo ${cargoContainerName(name)}` });
  const network = await removeNetwork(docker, dockerNetworkName(name));
  if (network) onProgress({ kind: "down", message: `removed Docker network ${dockerNetworkName(name)}` });
  let connection = false;
  try {
    const cluster = await connectCluster(options);
    const crd = await cluster.ext.readCustomResourceDefinition({ name: `${CONNECTION_PLURAL}.${CRD_GROUP}` }).catch(() => undefined);
    if (crd) {
      connection = await deleteConnection(cluster, name);
      if (connection) {
        await waitConnectionGone(cluster, name, 30_000, options.signal);
        onProgress({ kind: "down", message: `deleted Connection ${name} (the operator removes its peer)` });
      }
    }
  } catch (error) {
    const e = error instanceof GefyraError ? error : new GefyraError("CLUSTER_ERROR", describeCause(error), { cause: error });
    if (options.tolerateClusterErrors === false || (!container && !network)) throw e;
    return { name, removed: { container, network, connection }, clusterError: e.toJSON() };
  }
  if (!container && !network && !connection) {
    throw new GefyraError("NOT_CONNECTED", `There is no connection "${name}" (no Cargo, no Docker network, no Connection): see gefyra status.`);
  }
  return { name, removed: { container, network, connection } };
}

export interface StatusOptions extends ClusterOptions {
  docker?: Docker;
}

export interface ConnectionReport {
  name: string;
  client: string;
  phase: string;
  clientAddress: string | null;
  endpoint: string | null;
  lastHeartbeat: string | null;
  /** Local side, when this machine runs it. */
  local: {
    container: string;
    running: boolean;
    network: string;
    cargoIp: string | null;
    lastHandshake: string | null;
    /** WireGuard bytes through the tunnel since Cargo started. */
    bytesReceived: number | null;
    bytesSent: number | null;
    /** Cluster DNS answered kubernetes.default.svc.cluster.local through the tunnel just now. */
    dnsHealthy: boolean | null;
  } | null;
}

export interface StatusReport {
  context: string;
  installed: boolean;
  operatorReady: boolean;
  stowawayReady: boolean;
  connections: ConnectionReport[];
  /** Local Cargo containers whose Connection no longer exists in this cluster. */
  orphans: string[];
}

export async function status(options: StatusOptions = {}): Promise<StatusReport> {
  const cluster = await connectCluster(options);
  const docker = await connectDocker(options.docker);
  const crd = await cluster.ext.readCustomResourceDefinition({ name: `${CONNECTION_PLURAL}.${CRD_GROUP}` }).catch((e: unknown) => {
    if (isNotFound(e)) return undefined;
    throw apiError(e, "read the Connection CRD", cluster);
  });
  const ready = async (name: string) =>
    cluster.apps.readNamespacedDeployment({ namespace: NAMESPACE, name }).then(
      (d) => (d.status?.readyReplicas ?? 0) > 0,
      () => false,
    );
  const [operatorReady, stowawayReady] = await Promise.all([ready("gefyra-ts-operator"), ready("stowaway")]);
  const items: Connection[] = crd
    ? ((await cluster.custom
        .listNamespacedCustomObject({ group: CRD_GROUP, version: CRD_VERSION, namespace: NAMESPACE, plural: CONNECTION_PLURAL })
        .catch((e: unknown) => {
          throw apiError(e, `list Connections in ${NAMESPACE}`, cluster);
        })) as { items: Connection[] }).items
    : [];
  const leases = crd
    ? await cluster.kc
        .makeApiClient((await import("@kubernetes/client-node")).CoordinationV1Api)
        .listNamespacedLease({ namespace: NAMESPACE, labelSelector: CONNECTION_LABEL })
        .then(
          (l) => l.items,
          () => [],
        )
    : [];
  const locals = await docker.listContainers({ all: true, filters: { label: [`${PART_OF_LABEL}=${PART_OF}`, `${LOCAL_LABEL_COMPONENT}=cargo`] } });
  const connections: ConnectionReport[] = [];
  for (const c of items) {
    const name = c.metadata.name ?? "";
    const local = locals.find((l) => l.Labels[CONNECTION_LABEL] === name);
    let lastHandshake: string | null = null;
    let bytesReceived: number | null = null;
    let bytesSent: number | null = null;
    let dnsHealthy: boolean | null = null;
    if (local?.State === "running") {
      const cargo = cargoContainerName(name);
      const r = await dockerExec(docker, cargo, ["wg", "show", "wg0", "latest-handshakes"]).catch(() => undefined);
      const ts = Number(r?.stdout.trim().split(/\s+/)[1] ?? "0");
      lastHandshake = ts > 0 ? new Date(ts * 1000).toISOString() : null;
      const t = await dockerExec(docker, cargo, ["wg", "show", "wg0", "transfer"]).catch(() => undefined);
      const [, rx, tx] = t?.stdout.trim().split(/\s+/) ?? [];
      bytesReceived = rx === undefined ? null : Number(rx);
      bytesSent = tx === undefined ? null : Number(tx);
      // the same look-up `up` verifies with, answered by cluster DNS through the tunnel
      const cargoIp = Object.values(local.NetworkSettings?.Networks ?? {})[0]?.IPAddress;
      const d = await dockerExec(docker, cargo, ["busybox", "nslookup", "kubernetes.default.svc.cluster.local", cargoIp ?? "127.0.0.1"]).catch(() => undefined);
      dnsHealthy = d !== undefined && d.code === 0 && /Address:?\s+\d+\.\d+\.\d+\.\d+/.test(d.stdout.split(/Name:/)[1] ?? "");
    }
    const lease = leases.find((l) => l.metadata?.name === connectionObjectName(name));
    const renew = lease?.spec?.renewTime;
    connections.push({
      name,
      client: c.spec.client,
      phase: c.status?.phase ?? "Pending",
      clientAddress: c.status?.clientAddress ?? null,
      endpoint: c.status?.endpoint ?? null,
      lastHeartbeat: renew ? new Date(renew).toISOString() : null,
      local: local
        ? {
            container: cargoContainerName(name),
            running: local.State === "running",
            network: dockerNetworkName(name),
            cargoIp: Object.values(local.NetworkSettings?.Networks ?? {})[0]?.IPAddress ?? null,
            lastHandshake,
            bytesReceived,
            bytesSent,
            dnsHealthy,
          }
        : null,
    });
  }
  const orphans = locals.map((l) => l.Labels[CONNECTION_LABEL] ?? "").filter((n) => n && !items.some((c) => c.metadata.name === n));
  return { context: cluster.context, installed: Boolean(crd), operatorReady, stowawayReady, connections, orphans };
}

export interface UninstallProgress {
  kind: "uninstall";
  message: string;
}

/** Removes every local connection (Cargo, networks) and the whole cluster side. */
export async function uninstall(options: ClusterOptions & { docker?: Docker; timeoutMs?: number } = {}, onProgress: (p: UninstallProgress) => void = () => undefined): Promise<void> {
  const cluster = await connectCluster(options);
  const docker = await connectDocker(options.docker);
  const emit = (message: string) => onProgress({ kind: "uninstall", message });
  const { removeBridgesOf } = await import("../bridge/bridge");
  await removeBridgesOf(cluster, undefined, emit);
  const containers = await docker.listContainers({ all: true, filters: { label: [`${PART_OF_LABEL}=${PART_OF}`, `${LOCAL_LABEL_COMPONENT}=cargo`] } });
  for (const c of containers) {
    await removeContainer(docker, c.Id);
    emit(`removed ${c.Names[0]?.replace(/^\//, "") ?? c.Id}`);
  }
  const nets = await docker.listNetworks({ filters: { label: [`${PART_OF_LABEL}=${PART_OF}`] } });
  for (const n of nets) {
    await removeNetwork(docker, n.Name);
    emit(`removed Docker network ${n.Name}`);
  }
  const { removeInstall } = await import("./install");
  await removeInstall(cluster, emit, options);
  await sleep(0);
}

export { apiMessage };
export type { CargoNetwork };
