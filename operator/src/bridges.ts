/**
 * The operator's bridge controller (decision 0017, docs/bridge.md).
 *
 * Bridges on one container of one workload form a group (bridgeGroupId). A group is reconciled as
 * a whole, one group at a time:
 *   1. every Bridge gets a Stowaway port per bridged port; Stowaway DNATs it to the developer's
 *      tunnel address (Cargo forwards from there to the local container);
 *   2. when any Bridge has rules, a shadow copy of the workload serves everyone else;
 *   3. in every pod of the target the container's image is swapped to Carrier (the original is
 *      kept in an annotation) and Carrier gets the group's route table and token through exec;
 *   4. when the last Bridge of a group goes, every pod gets its image back, then the shadow goes.
 * Replicas that appear later (rollout, eviction) are picked up by the periodic resync.
 */
import { randomBytes, createHash } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import {
  API_VERSION,
  BRIDGE_FINALIZER,
  BRIDGE_GROUP_LABEL,
  BRIDGE_KIND,
  BRIDGE_PLURAL,
  CARRIER_APPLY_COMMAND,
  CARRIER_CONTROL_PORT,
  CARRIER_DRAIN_COMMAND,
  COMPONENT_LABEL,
  CONNECTION_PLURAL,
  CRD_GROUP,
  CRD_VERSION,
  PART_OF,
  PART_OF_LABEL,
  ROTATION_HOLD_ANNOTATION,
  ROTATION_HOLD_POLICY,
  SHADOW_LABEL,
  STOWAWAY_BRIDGE_PORTS,
  STOWAWAY_CONTAINER,
  bridgeGroupId,
  carrierAnnotation,
  carrierCanLaunch,
  carrierTokenSecretName,
  setCondition,
  shadowName,
  type Bridge,
  type BridgeStatus,
  type BridgeTarget,
  type CarrierAnnotation,
  type Connection,
} from "@gefyra/shared";
import type { RouteTableInput } from "@gefyra/shared/rules";
import { errorText, execIn, isConflict, isNotFound } from "./kube";
import { ProxySyncPacer } from "./proxy-pacer";
import { ReconcileQueue } from "./queue";

export interface BridgeControllerOptions {
  namespace: string;
  carrierImage: string;
  log: (line: string) => void;
  /** Stowaway's ready pod (name and IP), or undefined. */
  stowaway: () => Promise<{ name: string; ip: string } | undefined>;
  /** Pause after a pod is Ready again, for the Services' endpoints to follow. */
  settleMs?: number;
}

interface Workload {
  selector: Record<string, string> | undefined;
  template: k8s.V1PodTemplateSpec;
  /** Pods that belong to the target right now. */
  pods: k8s.V1Pod[];
}

/** A pod kept out of its Services' endpoints while its container is swapped. */
interface RotationHold {
  /** The pod carries the hold annotation the admission policy enforces (decision 0030). */
  annotated: boolean;
  /** Stops holding (the swap did not happen). */
  release(): void;
}

class BridgeRefused extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isReady = (p: k8s.V1Pod) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

export class BridgeController {
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly discovery: k8s.DiscoveryV1Api;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly admission: k8s.AdmissionregistrationV1Api;
  private readonly queue: ReconcileQueue;
  private readonly informer: k8s.Informer<Bridge> & k8s.ObjectCache<Bridge>;
  /** pod uid + container id → hash of the config Carrier was given (skips needless execs). */
  private readonly applied = new Map<string, string>();
  /** Stowaway pod name → the DNAT rules known to be on it. */
  private stowawayRules = { pod: "", rules: new Set<string>() };
  private readonly ns: string;
  private readonly log: (line: string) => void;
  /** Paces kube-proxy while a replica is held out of rotation (decision 0028). */
  private readonly pacer: ProxySyncPacer;
  /** The missing rotation-hold policy is logged once, not per hold. */
  private warnedNoPolicy = false;

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly options: BridgeControllerOptions,
  ) {
    this.ns = options.namespace;
    this.log = options.log;
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.apps = kc.makeApiClient(k8s.AppsV1Api);
    this.discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
    this.pacer = new ProxySyncPacer(this.discovery, { namespace: this.ns, log: this.log });
    this.queue = new ReconcileQueue((group) => this.reconcile(group), {
      baseDelayMs: 500,
      maxDelayMs: 10_000,
      onError: (key, error, attempt, delay) => this.log(`bridge group ${key} failed (attempt ${attempt}, retry in ${delay} ms): ${errorText(error)}`),
    });
    const path = `/apis/${CRD_GROUP}/${CRD_VERSION}/namespaces/${this.ns}/${BRIDGE_PLURAL}`;
    this.informer = k8s.makeInformer<Bridge>(
      kc,
      path,
      () =>
        this.custom.listNamespacedCustomObject({ group: CRD_GROUP, version: CRD_VERSION, namespace: this.ns, plural: BRIDGE_PLURAL }) as Promise<
          k8s.KubernetesListObject<Bridge>
        >,
    ) as k8s.Informer<Bridge> & k8s.ObjectCache<Bridge>;
  }

  async start(): Promise<void> {
    const enqueue = (b: Bridge) => this.queue.add(bridgeGroupId(b.spec.target));
    this.informer.on("add", enqueue);
    this.informer.on("update", enqueue);
    this.informer.on("delete", enqueue);
    this.informer.on("error", (err: unknown) => {
      this.log(`bridge watch error: ${errorText(err)}; restarting in 2 s`);
      setTimeout(() => void this.informer.start().catch(() => undefined), 2000);
    });
    await this.informer.start();
    await this.clearStaleHolds();
    this.resync();
  }

  /**
   * A hold annotation outlives its hold only when an operator stopped in the middle of a swap; the
   * policy would then keep that pod unready for as long as its container runs. No hold survives
   * a restart (each swap is redone by the resync), so every one found at start goes.
   */
  private async clearStaleHolds(): Promise<void> {
    const pods = await this.core.listPodForAllNamespaces().catch((e: unknown) => {
      this.log(`looking for stale rotation holds: ${errorText(e)}`);
      return { items: [] as k8s.V1Pod[] };
    });
    for (const p of pods.items) {
      if (p.metadata?.annotations?.[ROTATION_HOLD_ANNOTATION] === undefined) continue;
      this.log(`${p.metadata.namespace}/${p.metadata.name}: clearing a rotation hold left by a previous operator`);
      await this.setHold(p.metadata.namespace!, p.metadata.name!, null);
    }
  }

  async stop(): Promise<void> {
    this.queue.stop();
    await this.informer.stop();
  }

  /** Every group again: new replicas, restarted Carriers, a restarted Stowaway. */
  resync(): void {
    for (const g of new Set(this.informer.list(this.ns).map((b) => bridgeGroupId(b.spec.target)))) this.queue.add(g);
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  // ---- reconcile ---------------------------------------------------------------------------

  private async reconcile(group: string): Promise<void> {
    const members = this.informer.list(this.ns).filter((b) => bridgeGroupId(b.spec.target) === group);
    if (members.length === 0) return;
    const target = members[0]!.spec.target;
    const live = members.filter((b) => !b.metadata.deletionTimestamp && b.status?.phase !== "Failed");
    const leaving = members.filter((b) => b.metadata.deletionTimestamp);

    // new members are checked before they touch anything
    let workload: Workload | undefined;
    try {
      workload = await this.readWorkload(target);
    } catch (e) {
      if (!(e instanceof BridgeRefused)) throw e;
      for (const b of live) await this.fail(b, e.reason, e.message);
      workload = undefined;
    }
    const connections = await this.connections();
    const accepted: Bridge[] = [];
    for (const b of live) {
      if (!workload) break;
      const why = this.check(b, workload, connections);
      if (why) await this.fail(b, why.reason, why.message);
      else accepted.push(b);
    }

    const stowaway = await this.options.stowaway();
    if (accepted.length > 0 && !stowaway) {
      for (const b of accepted) await this.setStatus(b, { phase: "Pending", message: "waiting for Stowaway to be ready" });
      throw new Error("Stowaway is not ready");
    }

    if (accepted.length === 0) {
      // the group is empty: pods back to their images, then the shadow and the token go
      if (workload) await this.restorePods(target, workload, leaving.length > 0 || live.length > 0);
      else await this.restoreAnyPods(target, group);
      await this.deleteShadow(target);
      await this.core.deleteNamespacedSecret({ namespace: this.ns, name: carrierTokenSecretName(group) }).catch(() => undefined);
    } else {
      await this.ensureGroup(group, target, workload!, accepted, stowaway!, connections);
    }
    if (stowaway) await this.syncStowawayRules(stowaway.name, group, accepted, connections);
    for (const b of leaving) await this.release(b);
  }

  /** The target's pod template and current pods; refuses what cannot be bridged at all. */
  private async readWorkload(t: BridgeTarget): Promise<Workload> {
    const notFound = () => new BridgeRefused("TargetNotFound", `${t.kind} ${t.name} was not found in namespace ${t.namespace}`);
    let selector: Record<string, string> | undefined;
    let template: k8s.V1PodTemplateSpec;
    let pods: k8s.V1Pod[];
    const read = async <T>(p: Promise<T>): Promise<T> =>
      p.catch((e: unknown) => {
        throw isNotFound(e) ? notFound() : e;
      });
    if (t.kind === "pod") {
      const pod = await read(this.core.readNamespacedPod({ namespace: t.namespace, name: t.name }));
      template = { metadata: { labels: pod.metadata?.labels ?? {}, annotations: stripBridgeAnnotations(pod.metadata?.annotations) }, spec: podSpecForTemplate(pod.spec!) };
      pods = [pod];
    } else {
      const w = t.kind === "deployment" ? await read(this.apps.readNamespacedDeployment({ namespace: t.namespace, name: t.name })) : await read(this.apps.readNamespacedStatefulSet({ namespace: t.namespace, name: t.name }));
      selector = w.spec?.selector.matchLabels;
      if (!selector || Object.keys(selector).length === 0 || (w.spec?.selector.matchExpressions?.length ?? 0) > 0) {
        throw new BridgeRefused("UnsupportedSelector", `${t.kind} ${t.name} selects its pods with matchExpressions; only matchLabels selectors can be bridged`);
      }
      template = w.spec!.template;
      const labelSelector = Object.entries(selector)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
      pods = (await this.core.listNamespacedPod({ namespace: t.namespace, labelSelector })).items.filter((p) => !p.metadata?.labels?.[SHADOW_LABEL]);
    }
    const container = template.spec?.containers.find((c) => c.name === t.container);
    if (!container) {
      throw new BridgeRefused("ContainerNotFound", `${t.kind} ${t.name} has no container ${t.container} (it has ${template.spec?.containers.map((c) => c.name).join(", ")})`);
    }
    const launch = carrierCanLaunch(container.command);
    if (!launch.ok) throw new BridgeRefused("CommandNotSupported", launch.reason);
    for (const [kind, probe] of [
      ["readiness", container.readinessProbe],
      ["liveness", container.livenessProbe],
      ["startup", container.startupProbe],
    ] as const) {
      const cmd = probe?.exec?.command;
      if (cmd && !cmd.some((part) => part.includes("carrier-probe"))) {
        throw new BridgeRefused(
          "ExecProbe",
          `container ${t.container} has an exec ${kind} probe (${cmd.join(" ")}) that Carrier cannot answer; use an httpGet or tcpSocket probe, or run carrier-probe in it (docs/bridge.md)`,
        );
      }
    }
    return { selector, template, pods: pods.filter((p) => !p.metadata?.deletionTimestamp) };
  }

  /** Per-bridge checks: ports declared, connection ready. */
  private check(b: Bridge, w: Workload, connections: Map<string, Connection>): { reason: string; message: string } | undefined {
    const container = w.template.spec!.containers.find((c) => c.name === b.spec.target.container)!;
    const declared = containerPorts(container);
    for (const p of b.spec.ports) {
      if (!declared.includes(p.remote)) {
        return {
          reason: "PortNotDeclared",
          message: `container ${container.name} does not declare port ${p.remote} (it declares ${declared.length ? declared.join(", ") : "no ports"})`,
        };
      }
    }
    const c = connections.get(b.spec.connection);
    if (!c || c.metadata.deletionTimestamp) return { reason: "ConnectionNotFound", message: `connection ${b.spec.connection} does not exist (any more)` };
    return undefined;
  }

  private async connections(): Promise<Map<string, Connection>> {
    const list = (await this.custom.listNamespacedCustomObject({ group: CRD_GROUP, version: CRD_VERSION, namespace: this.ns, plural: CONNECTION_PLURAL })) as {
      items: Connection[];
    };
    return new Map(list.items.map((c) => [c.metadata.name!, c]));
  }

  private async ensureGroup(
    group: string,
    target: BridgeTarget,
    w: Workload,
    bridges: Bridge[],
    stowaway: { name: string; ip: string },
    connections: Map<string, Connection>,
  ): Promise<void> {
    // 1. Stowaway ports (kept in each Bridge's status; unique over all bridges)
    const used = new Set(this.informer.list(this.ns).flatMap((b) => (b.status?.stowawayPorts ?? []).map((p) => p.port)));
    for (const b of bridges) {
      const have = b.status?.stowawayPorts ?? [];
      if (b.spec.ports.every((p) => have.some((h) => h.remote === p.remote))) continue;
      const ports = b.spec.ports.map((p) => {
        const existing = have.find((h) => h.remote === p.remote);
        if (existing) return existing;
        let port = STOWAWAY_BRIDGE_PORTS.min;
        while (used.has(port) && port < STOWAWAY_BRIDGE_PORTS.max) port++;
        used.add(port);
        return { remote: p.remote, port };
      });
      await this.setStatus(b, { phase: "Pending", message: "routing through Stowaway", stowawayPorts: ports });
    }
    await this.syncStowawayRules(stowaway.name, group, bridges, connections);

    // 2. the shadow copy, when anyone bridges with rules
    const personal = bridges.some((b) => b.spec.match.length > 0);
    let original: string | undefined;
    if (personal) {
      for (const b of bridges) if (b.status?.phase !== "Active") await this.setStatus(b, { message: "starting the shadow copy that serves everyone else" });
      original = await this.ensureShadow(group, target, w);
    } else {
      await this.deleteShadow(target);
    }

    // 3. token, route table, pods
    const token = await this.token(group);
    const container = w.template.spec!.containers.find((c) => c.name === target.container)!;
    const ports = containerPorts(container);
    const table: RouteTableInput = {
      ports: ports.map((port) => ({
        port,
        mode: "auto" as const,
        original: original ? { host: original, port } : null,
        bridges: bridges
          .filter((b) => b.spec.ports.some((p) => p.remote === port))
          .sort((a, b) => b.spec.match.length - a.spec.match.length)
          .map((b) => ({
            name: b.metadata.name!,
            local: { host: stowaway.ip, port: b.status!.stowawayPorts!.find((p) => p.remote === port)!.port },
            match: b.spec.match,
          })),
        probePaths: probePaths(container, port),
      })),
    };
    const readiness = readinessOf(container);
    const config = { listen: { ports }, control: { port: CARRIER_CONTROL_PORT }, routes: table, ...(readiness ? { readiness } : {}) };
    const payload = JSON.stringify({ config, token });
    const hash = createHash("sha256").update(payload).digest("hex").slice(0, 16);

    const results = new Map<string, { ready: boolean; message?: string }>();
    const pods = w.pods;
    if (pods.length === 0) {
      for (const b of bridges) await this.setStatus(b, { phase: "Pending", message: `${target.kind} ${target.name} has no pods`, pods: [] });
      return;
    }
    const patchOne = async (pod: k8s.V1Pod) => {
      const name = pod.metadata!.name!;
      try {
        await this.bridgePod(group, target, pod, payload, hash, pods.length > 1 ? pods.filter((p) => p !== pod) : []);
        results.set(name, { ready: true });
      } catch (e) {
        results.set(name, { ready: false, message: errorText(e) });
      }
    };
    for (const b of bridges) if (b.status?.phase !== "Active") await this.setStatus(b, { message: `swapping ${target.container} for Carrier in ${pods.length} pod(s)` });
    if (pods.length > 1) {
      // one at a time, out of rotation while swapped, so the other replicas keep serving
      for (const pod of pods) {
        const wasBridged = Boolean(pod.metadata?.annotations?.[carrierAnnotation(target.container)]);
        await patchOne(pod);
        // the next replica goes only when this one is back in its Services' endpoints
        if (!wasBridged) await this.settle(pod, true);
      }
    } else {
      await Promise.all(pods.map(patchOne));
    }
    const podStatus = pods.map((p) => ({ name: p.metadata!.name!, ...results.get(p.metadata!.name!)! }));
    const allReady = podStatus.every((p) => p.ready);
    const shadow = personal ? shadowName(target) : undefined;
    for (const b of bridges) {
      const message = allReady ? `${pods.length} pod(s) send ${b.spec.match.length ? "matching requests" : "all traffic"} on port(s) ${b.spec.ports.map((p) => p.remote).join(", ")} to ${b.spec.local}` : podStatus.filter((p) => !p.ready).map((p) => `${p.name}: ${p.message}`).join("; ");
      await this.setStatus(b, {
        phase: allReady ? "Active" : "Pending",
        message,
        pods: podStatus.map((p) => ({ name: p.name, ready: p.ready, ...(p.message ? { message: p.message } : {}) })),
        tokenSecret: carrierTokenSecretName(group),
        ...(shadow ? { shadow } : {}),
      });
    }
    if (!allReady) throw new Error(`not every pod is bridged yet: ${podStatus.filter((p) => !p.ready).map((p) => `${p.name}: ${p.message}`).join("; ")}`);
  }

  /** Swap the container to Carrier (when not yet) and give it the config (when it lacks it). */
  private async bridgePod(group: string, t: BridgeTarget, pod: k8s.V1Pod, payload: string, hash: string, siblings: k8s.V1Pod[]): Promise<void> {
    const name = pod.metadata!.name!;
    const index = pod.spec!.containers.findIndex((c) => c.name === t.container);
    const container = pod.spec!.containers[index]!;
    const key = carrierAnnotation(t.container);
    const annotated = pod.metadata?.annotations?.[key];
    if (!annotated) {
      if (pod.status?.phase !== "Running") throw new Error(`pod ${name} is ${pod.status?.phase ?? "not running"} yet`);
      const rotating = siblings.length > 0 && isReady(pod);
      let hold: RotationHold | undefined;
      if (rotating) {
        await this.othersServe(pod, siblings);
        hold = await this.leaveRotation(pod, t.container);
      }
      const record: CarrierAnnotation = { image: container.image!, group };
      await this.core.patchNamespacedPod(
        {
          namespace: t.namespace,
          name,
          body: [
            { op: "test", path: `/spec/containers/${index}/name`, value: t.container },
            { op: "test", path: `/spec/containers/${index}/image`, value: container.image },
            ...(pod.metadata?.annotations || hold?.annotated ? [] : [{ op: "add", path: "/metadata/annotations", value: {} }]),
            { op: "add", path: `/metadata/annotations/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`, value: JSON.stringify(record) },
            { op: "replace", path: `/spec/containers/${index}/image`, value: this.options.carrierImage },
          ],
        },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
      ).catch((e: unknown) => {
        hold?.release(); // not swapped: back into rotation at once
        throw e;
      });
      this.log(`bridge group ${group}: ${t.namespace}/${name} container ${t.container}: ${container.image} -> Carrier`);
    } else if (container.image !== this.options.carrierImage) {
      throw new Error(`pod ${name} carries a bridge annotation but runs ${container.image}; not touching it`);
    }
    // Carrier starts unconfigured: give it routes and token as soon as it answers
    const deadline = Date.now() + 60_000;
    for (;;) {
      const fresh = await this.core.readNamespacedPod({ namespace: t.namespace, name });
      const cs = fresh.status?.containerStatuses?.find((c) => c.name === t.container);
      const running = cs?.state?.running && cs.containerID && fresh.spec?.containers[index]?.image === this.options.carrierImage && imageMatches(cs.image, this.options.carrierImage);
      if (running) {
        const appliedKey = `${fresh.metadata!.uid}/${cs.containerID}`;
        if (this.applied.get(appliedKey) === hash) return;
        try {
          // applying again is harmless (a live route update), so an operator restart just re-applies once
          await execIn(this.kc, t.namespace, name, t.container, [...CARRIER_APPLY_COMMAND], 15_000, `${payload}\n`);
          this.applied.set(appliedKey, hash);
          await this.waitReady(t.namespace, name, 30_000);
          return;
        } catch (e) {
          if (Date.now() > deadline) throw new Error(`Carrier in ${name} did not take its routes: ${errorText(e)}`);
        }
      } else {
        const waiting = cs?.state?.waiting;
        if (waiting?.reason && /ImagePull|ErrImage|InvalidImageName/.test(waiting.reason)) {
          throw new Error(`the node cannot get the Carrier image ${this.options.carrierImage} (${waiting.reason}); load or push it (npm run images on the devcluster)`);
        }
        if (Date.now() > deadline) throw new Error(`Carrier did not start in ${name}${waiting?.reason ? ` (${waiting.reason}: ${waiting.message ?? ""})` : ""}`);
      }
      await sleep(150);
    }
  }

  private async waitRestored(t: BridgeTarget, name: string, image: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pod = await this.core.readNamespacedPod({ namespace: t.namespace, name }).catch(() => undefined);
      if (!pod) return;
      const cs = pod.status?.containerStatuses?.find((c) => c.name === t.container);
      if (cs?.ready && imageMatches(cs.image, image) && isReady(pod)) break;
      if (Date.now() > deadline) throw new Error(`pod ${name} did not become Ready with ${image} within ${timeoutMs / 1000} s`);
      await sleep(150);
    }
    await this.settle({ metadata: { namespace: t.namespace, name } }, true);
  }

  /**
   * Waits until the EndpointSlices list the pod as ready (or not), then a moment for kube-proxy,
   * which follows them within about a second (its minimum sync period). Pods no Service selects
   * appear in no slice: then only the moment.
   */
  private async settle(pod: Pick<k8s.V1Pod, "metadata">, ready: boolean, timeoutMs = 15_000): Promise<void> {
    const namespace = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const slices = await this.discovery.listNamespacedEndpointSlice({ namespace }).catch(() => undefined);
      const mine = (slices?.items ?? []).flatMap((s) => s.endpoints).filter((e) => e.targetRef?.kind === "Pod" && e.targetRef.name === name);
      if (mine.every((e) => (e.conditions?.ready ?? true) === ready) || Date.now() > deadline) break;
      await sleep(100);
    }
    await sleep(this.options.settleMs ?? 1200);
  }

  /**
   * Takes a pod out of its Services before its container is swapped: Ready=False on its status,
   * then a pause for the endpoints and kube-proxy to follow (decision 0017), and keeps it out
   * until the container running now is gone; the new one is then gated by its own readiness.
   */
  private async leaveRotation(pod: k8s.V1Pod, container: string): Promise<RotationHold> {
    const hold = await this.holdOutOfRotation(pod, container);
    await this.settle(pod, false);
    return hold;
  }

  /**
   * Before a replica leaves rotation, another one must be serving: the workload's pods were read
   * when the reconcile began, and one that was restarting then (a failed probe on a busy node, a
   * swap not yet Ready) would otherwise leave the Service with no endpoint at all. Waits for a
   * sibling to be Ready and, when it had to wait, for the endpoints and kube-proxy to follow.
   */
  private async othersServe(pod: k8s.V1Pod, siblings: k8s.V1Pod[], timeoutMs = 30_000): Promise<void> {
    const namespace = pod.metadata!.namespace!;
    const deadline = Date.now() + timeoutMs;
    for (let waited = false; ; waited = true) {
      for (const s of siblings) {
        const fresh = await this.core.readNamespacedPod({ namespace, name: s.metadata!.name! }).catch(() => undefined);
        if (fresh && !fresh.metadata?.deletionTimestamp && isReady(fresh)) {
          if (waited) await this.settle(fresh, true);
          return;
        }
      }
      if (Date.now() > deadline) {
        this.log(`${namespace}/${pod.metadata!.name}: no other replica is Ready after ${timeoutMs / 1000} s; swapping it anyway`);
        return;
      }
      await sleep(150);
    }
  }

  /**
   * kubelet owns the Ready condition and writes it back whenever its own view of the pod changes:
   * when the spec changes (observedGeneration), and every 10 s while the API's status differs
   * from its own. Each such write is seen by kube-proxy at once, which then keeps the endpoint for
   * its minimum sync period (about a second): long enough to send connections to a container that
   * is exiting (decision 0026).
   *
   * Where the rotation-hold admission policy is installed, the pod is annotated with the old
   * container's ID first, and the API server refuses every Ready=True until that container has
   * stopped (decision 0030): no flap reaches the endpoints. Without the policy (Kubernetes < 1.30)
   * a watch on the pod answers each write with Ready=False within milliseconds, and kube-proxy is
   * kept syncing at its steady pace meanwhile (decision 0028). Either way the hold ends when the
   * container that ran at the start is gone (or 60 s, or release()).
   */
  private async holdOutOfRotation(pod: k8s.V1Pod, container: string, timeoutMs = 60_000): Promise<RotationHold> {
    const namespace = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    const oldContainer = pod.status?.containerStatuses?.find((c) => c.name === container)?.containerID;
    const deadline = Date.now() + timeoutMs;
    let done = false;
    let watching: AbortController | undefined;
    let marking = false;
    const annotated = oldContainer !== undefined && (await this.policyInstalled()) && (await this.setHold(namespace, name, oldContainer));
    const unpace = annotated ? () => undefined : this.pacer.acquire();
    const finish = () => {
      if (done) return;
      unpace();
      done = true;
      watching?.abort();
      if (annotated) void this.setHold(namespace, name, null);
    };
    const remark = async () => {
      if (marking || done) return;
      marking = true;
      try {
        await this.markNotReady(namespace, name);
      } finally {
        marking = false;
      }
    };
    const seen = (p: k8s.V1Pod | undefined): void => {
      const cs = p?.status?.containerStatuses?.find((c) => c.name === container);
      if (done) return;
      if (!p || !cs || cs.containerID !== oldContainer || !cs.state?.running || Date.now() > deadline) return finish();
      if (isReady(p)) void remark();
    };
    const watch = async (): Promise<void> => {
      while (!done && Date.now() < deadline) {
        const ended = new Promise<void>((resolve) => {
          new k8s.Watch(this.kc)
            .watch(`/api/v1/namespaces/${namespace}/pods`, { fieldSelector: `metadata.name=${name}` }, (type: string, p: k8s.V1Pod) => seen(type === "DELETED" ? undefined : p), () => resolve())
            .then((c) => {
              watching = c;
              if (done) c.abort();
            })
            .catch(() => resolve());
        });
        await ended;
        // a dropped watch: one read to catch up, then watch again
        if (!done) seen(await this.core.readNamespacedPod({ namespace, name }).catch(() => undefined));
        if (!done) await sleep(200);
      }
      finish();
    };
    await this.markNotReady(namespace, name);
    void watch();
    return { annotated, release: finish };
  }

  /** Whether the rotation-hold admission policy is in the cluster (decision 0030); read per hold, holds are rare. */
  private async policyInstalled(): Promise<boolean> {
    return this.admission.readValidatingAdmissionPolicy({ name: ROTATION_HOLD_POLICY }).then(
      () => true,
      (e: unknown) => {
        if (!this.warnedNoPolicy) this.log(`no rotation-hold admission policy (${errorText(e)}): holding replicas by watch and pacing kube-proxy instead`);
        this.warnedNoPolicy = true;
        return false;
      },
    );
  }

  /** Sets (container ID) or clears (null) a pod's hold annotation; false when the pod could not be patched. */
  private async setHold(namespace: string, name: string, containerId: string | null): Promise<boolean> {
    const body = { metadata: { annotations: { [ROTATION_HOLD_ANNOTATION]: containerId } } };
    return this.core.patchNamespacedPod({ namespace, name, body }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)).then(
      () => true,
      (e: unknown) => {
        if (!isNotFound(e)) this.log(`${containerId ? "setting" : "clearing"} the rotation hold of ${namespace}/${name}: ${errorText(e)}`);
        return false;
      },
    );
  }

  private async markNotReady(namespace: string, name: string): Promise<void> {
    const now = new Date();
    const conditions = ["Ready", "ContainersReady"].map((type) => ({ type, status: "False", reason: "GefyraBridgeSwap", message: "a container is being swapped for a bridge", lastTransitionTime: now }));
    await this.core
      .patchNamespacedPodStatus({ namespace, name, body: { status: { conditions } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch))
      .catch((e: unknown) => this.log(`taking ${namespace}/${name} out of rotation: ${errorText(e)}`));
  }

  /** Ready again (kubelet's probes answered by Carrier) and back in its Services' endpoints. */
  private async waitReady(namespace: string, name: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pod = await this.core.readNamespacedPod({ namespace, name });
      if (isReady(pod)) break;
      if (Date.now() > deadline) throw new Error(`pod ${name} did not become Ready with Carrier within ${timeoutMs / 1000} s`);
      await sleep(150);
    }
  }

  /** Every pod of the target that runs Carrier for this group gets its image back. */
  private async restorePods(t: BridgeTarget, w: Workload, drain: boolean): Promise<void> {
    // one pod at a time, out of rotation while swapped back, so the others keep serving
    const personal = drain;
    for (const pod of w.pods) {
      const record = readAnnotation(pod, t.container);
      if (!record) continue;
      const oneByOne = personal && isReady(pod) && w.pods.length > 1;
      let hold: RotationHold | undefined;
      if (oneByOne) {
        await this.othersServe(pod, w.pods.filter((p) => p !== pod));
        // Carrier fails its readiness probe from now on: kubelet then stops writing Ready=True back
        await execIn(this.kc, t.namespace, pod.metadata!.name!, t.container, [...CARRIER_DRAIN_COMMAND], 10_000).catch((e: unknown) => this.log(`draining Carrier in ${t.namespace}/${pod.metadata!.name}: ${errorText(e)}`));
        hold = await this.leaveRotation(pod, t.container);
      }
      await this.restorePod(t, pod, record).catch((e: unknown) => {
        hold?.release();
        throw e;
      });
      // one at a time: the next pod is swapped back only when this one serves again
      if (oneByOne) await this.waitRestored(t, pod.metadata!.name!, record.image, 60_000).catch((e: unknown) => this.log(errorText(e)));
    }
  }

  /** When the workload is gone or unreadable: restore pods by their annotation alone. */
  private async restoreAnyPods(t: BridgeTarget, group: string): Promise<void> {
    const pods = await this.core.listNamespacedPod({ namespace: t.namespace }).catch(() => ({ items: [] as k8s.V1Pod[] }));
    for (const pod of pods.items) {
      const record = readAnnotation(pod, t.container);
      if (record?.group === group) await this.restorePod(t, pod, record);
    }
  }

  private async restorePod(t: BridgeTarget, pod: k8s.V1Pod, record: CarrierAnnotation): Promise<void> {
    const index = pod.spec!.containers.findIndex((c) => c.name === t.container);
    const key = carrierAnnotation(t.container).replace(/~/g, "~0").replace(/\//g, "~1");
    const ops: object[] = [{ op: "remove", path: `/metadata/annotations/${key}` }];
    if (index >= 0 && pod.spec!.containers[index]!.image !== record.image) ops.push({ op: "replace", path: `/spec/containers/${index}/image`, value: record.image });
    try {
      await this.core.patchNamespacedPod({ namespace: t.namespace, name: pod.metadata!.name!, body: ops }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch));
      this.log(`restored ${t.namespace}/${pod.metadata!.name} container ${t.container} to ${record.image}`);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  // ---- shadow ------------------------------------------------------------------------------

  /** Shadow Deployment + Service; resolves with the Service's cluster IP once a shadow pod is ready. */
  private async ensureShadow(group: string, t: BridgeTarget, w: Workload): Promise<string> {
    const name = shadowName(t);
    const labels = { [SHADOW_LABEL]: group, [PART_OF_LABEL]: PART_OF, [COMPONENT_LABEL]: "shadow" };
    const selector = { [SHADOW_LABEL]: group };
    const template = structuredClone(w.template);
    template.metadata = { labels, annotations: stripBridgeAnnotations(template.metadata?.annotations) ?? {} };
    const container = template.spec!.containers.find((c) => c.name === t.container)!;
    const create = async (fn: () => Promise<unknown>) =>
      fn().catch((e: unknown) => {
        if (!isConflict(e)) throw e;
      });
    await create(() =>
      this.apps.createNamespacedDeployment({
        namespace: t.namespace,
        body: {
          metadata: { name, labels, annotations: { [`${CRD_GROUP}/shadow-of`]: `${t.kind}/${t.name}` } },
          spec: { replicas: 1, selector: { matchLabels: selector }, template },
        },
      }),
    );
    await create(() =>
      this.core.createNamespacedService({
        namespace: t.namespace,
        body: {
          metadata: { name, labels },
          spec: {
            type: "ClusterIP",
            selector,
            ports: (container.ports ?? []).filter((p) => (p.protocol ?? "TCP") === "TCP").map((p) => ({ name: `p${p.containerPort}`, port: p.containerPort, targetPort: p.containerPort })),
          },
        },
      }),
    );
    const deadline = Date.now() + 120_000;
    for (;;) {
      const d = await this.apps.readNamespacedDeployment({ namespace: t.namespace, name });
      if ((d.status?.readyReplicas ?? 0) >= 1) break;
      if (Date.now() > deadline) throw new Error(`the shadow copy ${t.namespace}/${name} was not ready within 120 s`);
      await sleep(250);
    }
    const svc = await this.core.readNamespacedService({ namespace: t.namespace, name });
    return svc.spec!.clusterIP!;
  }

  private async deleteShadow(t: BridgeTarget): Promise<void> {
    const name = shadowName(t);
    await this.apps.deleteNamespacedDeployment({ namespace: t.namespace, name }).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
    await this.core.deleteNamespacedService({ namespace: t.namespace, name }).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
  }

  // ---- Stowaway ----------------------------------------------------------------------------

  /**
   * Makes Stowaway's bridge DNAT rules equal to what the live bridges need: `members` stand for
   * the group being reconciled (the cache may still list a leaving one), the cache for the rest.
   */
  private async syncStowawayRules(pod: string, group: string, members: Bridge[], connections: Map<string, Connection>): Promise<void> {
    if (this.stowawayRules.pod !== pod) this.stowawayRules = { pod, rules: new Set(await this.readStowawayRules(pod)) };
    const others = this.informer.list(this.ns).filter((b) => bridgeGroupId(b.spec.target) !== group && !b.metadata.deletionTimestamp && b.status?.phase !== "Failed");
    const wanted = new Map<string, string[]>();
    for (const b of [...others, ...members]) {
      const address = connections.get(b.spec.connection)?.status?.clientAddress;
      if (!address) continue;
      for (const p of b.status?.stowawayPorts ?? []) {
        const tunnelPort = b.spec.ports.find((x) => x.remote === p.remote)?.tunnelPort;
        if (tunnelPort) wanted.set(`${p.port}>${address}:${tunnelPort}`, ["-i", "eth0", "-p", "tcp", "--dport", String(p.port), "-j", "DNAT", "--to-destination", `${address}:${tunnelPort}`]);
      }
    }
    for (const [rule, args] of wanted) {
      if (this.stowawayRules.rules.has(rule)) continue;
      await execIn(this.kc, this.ns, pod, STOWAWAY_CONTAINER, ["iptables", "-t", "nat", "-A", "PREROUTING", ...args, "-m", "comment", "--comment", `gefyra-bridge ${rule}`]);
      this.stowawayRules.rules.add(rule);
    }
    for (const rule of [...this.stowawayRules.rules]) {
      if (wanted.has(rule)) continue;
      const [port, dest] = rule.split(">");
      await execIn(this.kc, this.ns, pod, STOWAWAY_CONTAINER, [
        "iptables", "-t", "nat", "-D", "PREROUTING", "-i", "eth0", "-p", "tcp", "--dport", port!, "-j", "DNAT", "--to-destination", dest!, "-m", "comment", "--comment", `gefyra-bridge ${rule}`,
      ]).catch((e: unknown) => this.log(`stowaway: removing rule ${rule}: ${errorText(e)}`));
      this.stowawayRules.rules.delete(rule);
    }
  }

  private async readStowawayRules(pod: string): Promise<string[]> {
    const out = await execIn(this.kc, this.ns, pod, STOWAWAY_CONTAINER, ["iptables", "-t", "nat", "-S", "PREROUTING"]);
    return out
      .split("\n")
      .map((l) => /--comment "?gefyra-bridge ([^"\s]+)"?/.exec(l)?.[1])
      .filter((r): r is string => Boolean(r));
  }

  /** Forget what we know of Stowaway (it restarted): the next reconcile re-reads and re-adds. */
  stowawayChanged(): void {
    this.stowawayRules = { pod: "", rules: new Set() };
    this.resync();
  }

  // ---- status, token, finalizer --------------------------------------------------------------

  private async token(group: string): Promise<string> {
    const name = carrierTokenSecretName(group);
    const existing = await this.core.readNamespacedSecret({ namespace: this.ns, name }).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
    const have = existing?.data?.token;
    if (have) return Buffer.from(have, "base64").toString("utf8");
    const token = randomBytes(24).toString("base64url");
    try {
      await this.core.createNamespacedSecret({
        namespace: this.ns,
        body: {
          metadata: { name, labels: { [PART_OF_LABEL]: PART_OF, [COMPONENT_LABEL]: "carrier-token", [BRIDGE_GROUP_LABEL]: group } },
          type: "Opaque",
          data: { token: b64(token) },
        },
      });
      return token;
    } catch (e) {
      if (isConflict(e)) return this.token(group);
      throw e;
    }
  }

  private async fail(b: Bridge, reason: string, message: string): Promise<void> {
    this.log(`bridge ${b.metadata.name}: refused (${reason}): ${message}`);
    await this.setStatus(b, { phase: "Failed", message }, { type: "Ready", status: "False", reason, message });
    await this.event(b, "Warning", reason, message);
  }

  private async setStatus(b: Bridge, change: Partial<BridgeStatus>, condition?: { type: string; status: "True" | "False"; reason: string; message: string }): Promise<void> {
    const before = b.status ?? {};
    const next: BridgeStatus = { ...before, ...change, observedGeneration: b.metadata.generation };
    const phase = next.phase ?? "Pending";
    next.conditions = setCondition(
      before.conditions,
      condition ?? { type: "Ready", status: phase === "Active" ? "True" : "False", reason: phase, message: next.message ?? phase, ...(b.metadata.generation ? { observedGeneration: b.metadata.generation } : {}) },
    );
    if (JSON.stringify({ ...before, conditions: undefined }) === JSON.stringify({ ...next, conditions: undefined }) && before.conditions?.length === next.conditions.length) return;
    if (before.phase !== "Active" && next.phase === "Active") await this.event(b, "Normal", "Active", next.message ?? "bridge active");
    b.status = next;
    await this.custom
      .patchNamespacedCustomObjectStatus(
        { group: CRD_GROUP, version: CRD_VERSION, namespace: this.ns, plural: BRIDGE_PLURAL, name: b.metadata.name!, body: [{ op: "add", path: "/status", value: next }] },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
      )
      .catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
  }

  /** Drops our finalizer: the Bridge is gone once its pods and rules are. */
  private async release(b: Bridge): Promise<void> {
    const finalizers = b.metadata.finalizers ?? [];
    const i = finalizers.indexOf(BRIDGE_FINALIZER);
    if (i < 0) return;
    await this.custom
      .patchNamespacedCustomObject(
        {
          group: CRD_GROUP,
          version: CRD_VERSION,
          namespace: this.ns,
          plural: BRIDGE_PLURAL,
          name: b.metadata.name!,
          body: [
            { op: "test", path: `/metadata/finalizers/${i}`, value: BRIDGE_FINALIZER },
            { op: "remove", path: `/metadata/finalizers/${i}` },
          ],
        },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
      )
      .catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
    this.log(`bridge ${b.metadata.name}: removed`);
  }

  private async event(b: Bridge, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    const now = new Date();
    await this.core
      .createNamespacedEvent({
        namespace: this.ns,
        body: {
          metadata: { generateName: `${b.metadata.name}.`, namespace: this.ns },
          involvedObject: { apiVersion: API_VERSION, kind: BRIDGE_KIND, name: b.metadata.name, namespace: this.ns, uid: b.metadata.uid },
          type,
          reason,
          message: message.slice(0, 1000),
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          source: { component: "gefyra-ts-operator" },
        },
      })
      .catch((e: unknown) => this.log(`event ${reason}: ${errorText(e)}`));
  }
}

// ---- helpers ---------------------------------------------------------------------------------

export function containerPorts(c: k8s.V1Container): number[] {
  const ports = new Set<number>();
  for (const p of c.ports ?? []) if ((p.protocol ?? "TCP") === "TCP") ports.add(p.containerPort);
  for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
    const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
    const n = typeof port === "number" ? port : c.ports?.find((p) => p.name === port)?.containerPort;
    if (n) ports.add(n);
  }
  return [...ports].sort((a, b) => a - b);
}

/**
 * The container's httpGet readiness probe as Carrier's configuration takes it: Carrier fails it
 * while draining, so that kubelet takes the pod out of rotation by itself (decision 0027).
 */
export function readinessOf(c: k8s.V1Container): { port: number; path: string; periodSeconds: number; failureThreshold: number } | undefined {
  const probe = c.readinessProbe;
  const g = probe?.httpGet;
  if (!g) return undefined;
  const port = typeof g.port === "number" ? g.port : /^\d+$/.test(String(g.port)) ? Number(g.port) : c.ports?.find((p) => p.name === g.port)?.containerPort;
  if (!port) return undefined;
  return { port, path: (g.path ?? "/").split("?")[0] || "/", periodSeconds: probe.periodSeconds ?? 10, failureThreshold: probe.failureThreshold ?? 3 };
}

/** httpGet probe paths on a port: Carrier answers them itself (200) while bridged. */
export function probePaths(c: k8s.V1Container, port: number): string[] {
  const paths = new Set<string>();
  for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
    const g = probe?.httpGet;
    if (!g) continue;
    const n = typeof g.port === "number" ? g.port : c.ports?.find((p) => p.name === g.port)?.containerPort;
    if (n === port) paths.add((g.path ?? "/").split("?")[0] || "/");
  }
  return [...paths];
}

function readAnnotation(pod: k8s.V1Pod, container: string): CarrierAnnotation | undefined {
  const raw = pod.metadata?.annotations?.[carrierAnnotation(container)];
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as CarrierAnnotation;
    return typeof v.image === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

function stripBridgeAnnotations(a: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!a) return a;
  return Object.fromEntries(Object.entries(a).filter(([k]) => !k.startsWith(`${CRD_GROUP}/`)));
}

/** A pod's spec as a template for the shadow: without what binds it to one node or identity. */
export function podSpecForTemplate(spec: k8s.V1PodSpec): k8s.V1PodSpec {
  const copy = structuredClone(spec);
  delete copy.nodeName;
  delete copy.hostname;
  delete copy.subdomain;
  delete copy.ephemeralContainers;
  return copy;
}

/** containerStatuses[].image may be normalised (docker.io/…, :latest). */
export function imageMatches(statusImage: string | undefined, wanted: string): boolean {
  if (!statusImage) return false;
  const norm = (s: string) => s.replace(/^docker\.io\/(library\/)?/, "").replace(/@sha256:.*$/, "");
  return norm(statusImage) === norm(wanted);
}
