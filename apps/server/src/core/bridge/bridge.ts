/**
 * `gefyra bridge` / `unbridge` / the bridges in `gefyra list` (docs/bridge.md, decision 0017).
 *
 * The local side checks everything it can before the cluster is touched (target, container,
 * ports, rollout, rules, overlaps, the local container), opens a port on Cargo that forwards to
 * the local container, and creates a Bridge object; the operator does the rest (Stowaway route,
 * shadow copy, Carrier in every replica) and reports through the Bridge's status, which is
 * streamed here as progress. Anything that fails is undone before the error is returned.
 */
import type Docker from "dockerode";
import * as k8s from "@kubernetes/client-node";
import {
  API_VERSION,
  BRIDGE_FINALIZER,
  BRIDGE_GROUP_LABEL,
  BRIDGE_KIND,
  BRIDGE_PLURAL,
  CARGO_BRIDGE_PORTS,
  CONNECTION_KIND,
  CONNECTION_LABEL,
  CRD_GROUP,
  CRD_VERSION,
  NAMESPACE,
  bridgeGroupId,
  bridgeNameSchema,
  cargoContainerName,
  dockerNetworkName,
  type Bridge,
  type BridgeTarget,
} from "@gefyra/shared";
import { compileRouteTable, type Match } from "@gefyra/shared/rules";
import { GefyraError, describeCause } from "../errors";
import { apiError, connectCluster, isNotFound, poll, type Cluster, type ClusterOptions } from "../connection/cluster";
import { connectDocker, dockerExec } from "../connection/docker";
import { defaultConnectionName, readConnection } from "../connection/connection";
import { parseWorkloadRef, resolveWorkload } from "../run/workload";
import type { BridgeInfo, BridgePort, BridgeProgress, BridgeRequest, BridgeStep, UnbridgeProgress, UnbridgeRequest } from "./types";

const group = { group: CRD_GROUP, version: CRD_VERSION, namespace: NAMESPACE, plural: BRIDGE_PLURAL };
const holderName = (local: string) => `${local}-gefyra-netns`;

export async function bridge(request: BridgeRequest & { docker?: Docker; timeoutMs?: number }, onProgress: (p: BridgeProgress) => void = () => undefined): Promise<BridgeInfo> {
  const started = Date.now();
  const emit = (step: BridgeStep, message: string) => onProgress({ kind: "bridge", step, message, elapsedMs: Date.now() - started });
  const signal = request.signal;
  emit("check", "checking the target, the rules and the local container");
  const [cluster, docker] = await Promise.all([connectCluster(request), connectDocker(request.docker)]);
  const connection = request.connection ?? defaultConnectionName();
  const namespace = request.namespace ?? cluster.kc.getContextObject(cluster.context)?.namespace ?? "default";

  // the target
  const ref = parseWorkloadRef(request.target);
  const resolved = await resolveWorkload(cluster.kc, namespace, ref);
  const container = resolved.container;
  const target: BridgeTarget = { namespace, kind: ref.kind, name: ref.name, container: container.name };
  const shown = `${ref.kind === "deployment" ? "deploy" : ref.kind}/${ref.name}`;
  if (request.ports.length === 0) throw new GefyraError("BRIDGE_NO_PORTS", `name at least one port to bridge, e.g. --port ${container.ports?.[0]?.containerPort ?? 8080}:8080`);
  const declared = (container.ports ?? []).filter((p) => (p.protocol ?? "TCP") === "TCP").map((p) => p.containerPort);
  for (const p of request.ports) {
    if (!declared.includes(p.remote)) {
      throw new GefyraError(
        "PORT_NOT_DECLARED",
        `container ${container.name} of ${shown} does not declare port ${p.remote}: ${declared.length ? `its ports are ${declared.join(", ")}` : "it declares no TCP ports; add them to the container spec"}`,
      );
    }
  }
  if (ref.kind !== "pod") await refuseRollout(cluster, namespace, ref.kind, ref.name, shown);

  // the rules, alone and together with the other bridges of this container
  const match: Match[] = request.match ?? [];
  const name = request.name ?? defaultBridgeName(request.local, ref.name);
  const nameCheck = bridgeNameSchema.safeParse(name);
  if (!nameCheck.success) throw new GefyraError("BRIDGE_NAME_INVALID", `bridge name "${name}" is invalid: ${nameCheck.error.issues[0]?.message ?? ""}; pick another with --name`);
  const others = (await listBridgeObjects(cluster)).filter((b) => !b.metadata.deletionTimestamp);
  if (others.some((b) => b.metadata.name === name)) {
    throw new GefyraError("BRIDGE_EXISTS", `a bridge named ${name} exists already: pick another name with --name, or remove it with gefyra unbridge ${name}`);
  }
  const groupId = bridgeGroupId(target);
  const siblings = others.filter((b) => bridgeGroupId(b.spec.target) === groupId && b.status?.phase !== "Failed");
  const table = {
    ports: request.ports.map((p) => ({
      port: p.remote,
      bridges: [
        ...siblings.filter((b) => b.spec.ports.some((x) => x.remote === p.remote)).map((b) => ({ name: b.metadata.name!, local: { host: "0.0.0.0", port: 1 }, match: b.spec.match })),
        { name, local: { host: "0.0.0.0", port: 1 }, match },
      ],
    })),
  };
  const compiled = compileRouteTable(table);
  if (!compiled.ok) {
    const code = compiled.error.code === "ROUTES_OVERLAP" ? "BRIDGE_OVERLAP" : compiled.error.code === "ROUTES_UNSAFE_REGEX" ? "RULE_UNSAFE" : "RULE_INVALID";
    throw new GefyraError(code, compiled.error.message);
  }

  // the connection and the local container
  const conn = await readConnection(cluster, connection).catch(() => undefined);
  if (!conn || conn.status?.phase !== "Ready" || !conn.status.clientAddress) {
    throw new GefyraError("NO_CONNECTION", `connection ${connection} is not up in context ${cluster.context}: run gefyra up first`);
  }
  const cargo = cargoContainerName(connection);
  const local = await docker
    .getContainer(request.local)
    .inspect()
    .catch(() => undefined);
  if (!local) throw new GefyraError("LOCAL_NOT_FOUND", `no local container named ${request.local}: start it with gefyra run --name ${request.local} … (see gefyra list)`);
  if (!local.State.Running) throw new GefyraError("LOCAL_NOT_RUNNING", `local container ${request.local} is ${local.State.Status}: start it again (docker start ${request.local}) or run a new one`);
  const holder = await docker
    .getContainer(holderName(request.local))
    .inspect()
    .catch(() => undefined);
  const localIp = holder?.NetworkSettings.Networks[dockerNetworkName(connection)]?.IPAddress;
  if (!holder?.State.Running || !localIp || local.Config.Labels?.[CONNECTION_LABEL] !== connection) {
    throw new GefyraError(
      "LOCAL_NOT_ON_CONNECTION",
      `local container ${request.local} is not on connection ${connection}'s network: start it with gefyra run (it joins ${dockerNetworkName(connection)})`,
    );
  }

  // Cargo: tunnel port -> local container
  emit("local", `opening tunnel ports on Cargo to ${request.local} (${localIp})`);
  const ports = await openCargoPorts(docker, cargo, name, localIp, request.ports);
  const undoCargo = () => closeCargoPorts(docker, cargo, name).catch(() => undefined);

  // the Bridge object: the operator takes it from here
  emit("create", `creating bridge ${name} on ${shown}/${container.name} port(s) ${request.ports.map((p) => `${p.remote}->${p.local}`).join(", ")}`);
  const body: Bridge = {
    apiVersion: API_VERSION,
    kind: BRIDGE_KIND,
    metadata: {
      name,
      namespace: NAMESPACE,
      labels: { [CONNECTION_LABEL]: connection, [BRIDGE_GROUP_LABEL]: groupId },
      finalizers: [BRIDGE_FINALIZER],
      ownerReferences: [{ apiVersion: API_VERSION, kind: CONNECTION_KIND, name: connection, uid: conn.metadata.uid!, blockOwnerDeletion: false }],
    },
    spec: { connection, local: request.local, target, ports, match },
  };
  try {
    await cluster.custom.createNamespacedCustomObject({ ...group, body });
  } catch (error) {
    await undoCargo();
    if (httpStatusOf(error) === 404) throw new GefyraError("NOT_INSTALLED", `bridges are not installed in context ${cluster.context}: run gefyra up (or gefyra install) with this version`);
    throw apiError(error, `create bridge ${name}`, cluster);
  }

  let lastMessage = "";
  const timeoutMs = request.timeoutMs ?? 120_000;
  try {
    const done = await poll(
      async () => {
        const b = await readBridge(cluster, name);
        if (!b) throw new GefyraError("BRIDGE_GONE", `bridge ${name} was deleted while it was being set up`);
        const msg = b.status?.message ?? "";
        if (msg && msg !== lastMessage) {
          lastMessage = msg;
          emit(b.status?.phase === "Active" ? "ready" : msg.startsWith("starting the shadow") ? "shadow" : msg.startsWith("swapping") ? "pods" : "routes", msg);
        }
        if (b.status?.phase === "Failed") throw new GefyraError("BRIDGE_REFUSED", `bridge ${name} was refused: ${msg}`);
        return b.status?.phase === "Active" ? b : undefined;
      },
      timeoutMs,
      () => new GefyraError("BRIDGE_TIMEOUT", `bridge ${name} was not active within ${Math.round(timeoutMs / 1000)} s (last: ${lastMessage || "no word from the operator"}): see kubectl -n ${NAMESPACE} describe bridge ${name}`),
      signal,
      200,
    );
    return toInfo(done);
  } catch (error) {
    emit("rollback", `undoing bridge ${name}: ${describeCause(error)}`);
    await removeBridgeObject(cluster, name, 60_000).catch(() => undefined);
    await undoCargo();
    throw error;
  }
}

export async function unbridge(request: UnbridgeRequest & { docker?: Docker; timeoutMs?: number }, onProgress: (p: UnbridgeProgress) => void = () => undefined): Promise<{ removed: string[] }> {
  const started = Date.now();
  const cluster = await connectCluster(request);
  const docker = await connectDocker(request.docker).catch(() => undefined);
  const all = await listBridgeObjects(cluster);
  let chosen: Bridge[];
  if (request.all) {
    chosen = request.connection ? all.filter((b) => b.spec.connection === request.connection) : all;
  } else {
    if (!request.name) throw new GefyraError("BRIDGE_NAME_MISSING", "name the bridge to remove (see gefyra list), or pass --all");
    const found = all.find((b) => b.metadata.name === request.name);
    if (!found) throw new GefyraError("BRIDGE_NOT_FOUND", `no bridge named ${request.name} in context ${cluster.context}: see gefyra list`);
    chosen = [found];
  }
  const removed: string[] = [];
  for (const b of chosen) {
    const name = b.metadata.name!;
    const emit = (step: UnbridgeProgress["step"], message: string) => onProgress({ kind: "unbridge", bridge: name, step, message, elapsedMs: Date.now() - started });
    emit("remove", `removing bridge ${name}`);
    emit("restore", `restoring ${b.spec.target.kind}/${b.spec.target.name} in ${b.spec.target.namespace}`);
    await removeBridgeObject(cluster, name, request.timeoutMs ?? 120_000, request.signal);
    if (docker) await closeCargoPorts(docker, cargoContainerName(b.spec.connection), name).catch(() => undefined);
    emit("done", `bridge ${name} removed; ${b.spec.target.kind}/${b.spec.target.name} is restored`);
    removed.push(name);
  }
  return { removed };
}

export async function listBridges(options: ClusterOptions & { connection?: string }): Promise<BridgeInfo[]> {
  const cluster = await connectCluster(options);
  const items = await listBridgeObjects(cluster);
  return items.filter((b) => !options.connection || b.spec.connection === options.connection).map(toInfo);
}

/** List, then watch: `onChange` gets the whole list on every change. Returns a stop function. */
export function watchBridges(options: ClusterOptions & { connection?: string }, onChange: (bridges: BridgeInfo[]) => void, onError: (e: GefyraError) => void = () => undefined): () => void {
  let stopped = false;
  let informer: k8s.Informer<Bridge> | undefined;
  void (async () => {
    try {
      const cluster = await connectCluster(options);
      const path = `/apis/${CRD_GROUP}/${CRD_VERSION}/namespaces/${NAMESPACE}/${BRIDGE_PLURAL}`;
      const inf = k8s.makeInformer<Bridge>(
        cluster.kc,
        path,
        () => cluster.custom.listNamespacedCustomObject(group) as Promise<k8s.KubernetesListObject<Bridge>>,
      ) as k8s.Informer<Bridge> & k8s.ObjectCache<Bridge>;
      const publish = () => {
        if (!stopped) onChange(inf.list(NAMESPACE).filter((b) => !options.connection || b.spec.connection === options.connection).map(toInfo).sort((a, b) => a.name.localeCompare(b.name)));
      };
      inf.on("add", publish);
      inf.on("update", publish);
      inf.on("delete", publish);
      inf.on("error", () => {
        if (!stopped) setTimeout(() => void inf.start().catch(() => undefined), 2000);
      });
      informer = inf;
      if (stopped) return;
      await inf.start();
      publish();
    } catch (e) {
      onError(e instanceof GefyraError ? e : new GefyraError("WATCH_FAILED", `cannot watch bridges: ${describeCause(e)}`));
    }
  })();
  return () => {
    stopped = true;
    void informer?.stop();
  };
}

/**
 * Removes bridges (of one connection, or all) and waits until their pods are restored; used by
 * `down` and `uninstall` so nothing is left pointing at a local container that is going away.
 * When no operator answers within the budget, the finalizers are dropped so nothing hangs.
 */
export async function removeBridgesOf(cluster: Cluster, connection: string | undefined, onProgress: (message: string) => void, timeoutMs = 90_000): Promise<number> {
  const all = (await listBridgeObjects(cluster)).filter((b) => !connection || b.spec.connection === connection);
  for (const b of all) {
    onProgress(`removing bridge ${b.metadata.name} (restoring ${b.spec.target.kind}/${b.spec.target.name})`);
    await cluster.custom.deleteNamespacedCustomObject({ ...group, name: b.metadata.name! }).catch((e: unknown) => {
      if (!isNotFound(e)) throw apiError(e, `delete bridge ${b.metadata.name}`, cluster);
    });
  }
  const deadline = Date.now() + timeoutMs;
  for (const b of all) {
    while ((await readBridge(cluster, b.metadata.name!)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (await readBridge(cluster, b.metadata.name!)) {
      onProgress(`bridge ${b.metadata.name} was not restored by the operator in time; dropping it (its pods may still run Carrier: delete them to get the original back)`);
      await cluster.custom
        .patchNamespacedCustomObject({ ...group, name: b.metadata.name!, body: [{ op: "remove", path: "/metadata/finalizers" }] }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch))
        .catch(() => undefined);
    }
  }
  return all.length;
}

// ---- helpers ---------------------------------------------------------------------------------

export function defaultBridgeName(local: string, target: string): string {
  const raw = `${local}-to-${target}`.toLowerCase().replace(/[^a-z0-9-]/g, "-");
  return raw.slice(0, 63).replace(/^-+|-+$/g, "");
}

function httpStatusOf(e: unknown): number | undefined {
  const x = e as { code?: unknown; statusCode?: unknown };
  return typeof x.code === "number" ? x.code : typeof x.statusCode === "number" ? x.statusCode : undefined;
}

async function listBridgeObjects(cluster: Cluster): Promise<Bridge[]> {
  try {
    const list = (await cluster.custom.listNamespacedCustomObject(group)) as { items: Bridge[] };
    return list.items;
  } catch (error) {
    if (isNotFound(error)) return [];
    throw apiError(error, "list bridges", cluster);
  }
}

async function readBridge(cluster: Cluster, name: string): Promise<Bridge | undefined> {
  return (cluster.custom.getNamespacedCustomObject({ ...group, name }) as Promise<Bridge>).catch((e: unknown) => {
    if (isNotFound(e)) return undefined;
    throw apiError(e, `read bridge ${name}`, cluster);
  });
}

/** Deletes the Bridge and waits until the operator has restored its pods (the finalizer is gone). */
async function removeBridgeObject(cluster: Cluster, name: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  try {
    await cluster.custom.deleteNamespacedCustomObject({ ...group, name });
  } catch (error) {
    if (isNotFound(error)) return;
    throw apiError(error, `delete bridge ${name}`, cluster);
  }
  await poll(
    async () => ((await readBridge(cluster, name)) ? undefined : true),
    timeoutMs,
    () => new GefyraError("UNBRIDGE_TIMEOUT", `bridge ${name} was not removed within ${Math.round(timeoutMs / 1000)} s: the operator restores the pods first; see kubectl -n ${NAMESPACE} logs deploy/gefyra-ts-operator`),
    signal,
    150,
  );
}

async function refuseRollout(cluster: Cluster, namespace: string, kind: "deployment" | "statefulset", name: string, shown: string): Promise<void> {
  const w = kind === "deployment" ? await cluster.apps.readNamespacedDeployment({ namespace, name }) : await cluster.apps.readNamespacedStatefulSet({ namespace, name });
  const want = w.spec?.replicas ?? 1;
  const s = w.status;
  const updated = s?.updatedReplicas ?? 0;
  const rolling = (w.metadata?.generation ?? 0) > (s?.observedGeneration ?? 0) || updated < want || (s?.replicas ?? 0) > want;
  if (rolling) {
    throw new GefyraError("ROLLOUT_IN_PROGRESS", `${shown} in namespace ${namespace} is being rolled out (${updated}/${want} updated): wait for kubectl -n ${namespace} rollout status ${kind}/${name}, then bridge`);
  }
}

const COMMENT = "gefyra-bridge";

/** Cargo DNATs each tunnel port to the local container; rules carry the bridge's name. */
async function openCargoPorts(docker: Docker, cargo: string, bridgeName: string, localIp: string, wanted: BridgePort[]) {
  const listed = await dockerExec(docker, cargo, ["iptables", "-t", "nat", "-S", "PREROUTING"]);
  if (listed.code !== 0) throw new GefyraError("CARGO_FAILED", `cannot read Cargo's rules (${listed.stderr.trim()}): run gefyra up again`);
  const used = new Set<number>();
  for (const line of listed.stdout.split("\n")) {
    const m = /--dport (\d+)/.exec(line);
    if (m && line.includes(COMMENT)) used.add(Number(m[1]));
  }
  const out: { remote: number; local: number; tunnelPort: number }[] = [];
  let next = CARGO_BRIDGE_PORTS.min;
  for (const p of wanted) {
    while (used.has(next)) next++;
    if (next > CARGO_BRIDGE_PORTS.max) throw new GefyraError("CARGO_PORTS_EXHAUSTED", "no free tunnel port on Cargo: remove bridges you no longer use (gefyra unbridge)");
    used.add(next);
    const r = await dockerExec(docker, cargo, [
      "iptables", "-t", "nat", "-A", "PREROUTING", "-i", "wg0", "-p", "tcp", "--dport", String(next), "-j", "DNAT", "--to-destination", `${localIp}:${p.local}`,
      "-m", "comment", "--comment", `${COMMENT} ${bridgeName}`,
    ]);
    // the local container answers Cargo (not the pod address, which the host could rewrite on
    // the Docker bridge), so replies always go back through the tunnel
    const m = r.code === 0
      ? await dockerExec(docker, cargo, [
          "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "eth0", "-p", "tcp", "-d", localIp, "--dport", String(p.local), "-j", "MASQUERADE",
          "-m", "comment", "--comment", `${COMMENT} ${bridgeName}`,
        ])
      : r;
    if (r.code !== 0 || m.code !== 0) {
      await closeCargoPorts(docker, cargo, bridgeName).catch(() => undefined);
      throw new GefyraError("CARGO_FAILED", `cannot open a tunnel port on Cargo (${(r.code !== 0 ? r : m).stderr.trim()}): run gefyra up again`);
    }
    out.push({ remote: p.remote, local: p.local, tunnelPort: next });
  }
  return out;
}

async function closeCargoPorts(docker: Docker, cargo: string, bridgeName: string): Promise<void> {
  for (const chain of ["PREROUTING", "POSTROUTING"]) {
    const listed = await dockerExec(docker, cargo, ["iptables", "-t", "nat", "-S", chain]);
    if (listed.code !== 0) return;
    for (const line of listed.stdout.split("\n")) {
      if (!line.includes(`"${COMMENT} ${bridgeName}"`) && !line.endsWith(`${COMMENT} ${bridgeName}`)) continue;
      const args = splitRule(line.replace(/^-A /, "-D "));
      await dockerExec(docker, cargo, ["iptables", "-t", "nat", ...args]);
    }
  }
}

/** iptables -S output → argv (quotes around the comment). */
function splitRule(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] ?? m[2]!);
  return out;
}

function toInfo(b: Bridge): BridgeInfo {
  return {
    name: b.metadata.name!,
    connection: b.spec.connection,
    namespace: b.spec.target.namespace,
    target: { kind: b.spec.target.kind, name: b.spec.target.name, container: b.spec.target.container },
    ports: b.spec.ports.map((p) => ({ remote: p.remote, local: p.local })),
    match: b.spec.match ?? [],
    local: b.spec.local,
    state: b.metadata.deletionTimestamp ? "Removing" : (b.status?.phase ?? "Pending"),
    ...(b.status?.message ? { message: b.status.message } : {}),
    pods: (b.status?.pods ?? []).map((p) => ({ name: p.name, ready: p.ready, ...(p.message ? { message: p.message } : {}) })),
    ...(b.status?.shadow ? { shadow: b.status.shadow } : {}),
    createdAt: new Date(b.metadata.creationTimestamp ?? Date.now()).toISOString(),
  };
}

