/**
 * The gefyra-ts operator: reconciles Connections into WireGuard peers on Stowaway.
 *
 * Per Connection `X` (all in the operator's namespace, all owned by the Connection so the garbage
 * collector removes them with it):
 *   Secret connection-X          the peer's private key, tunnel address, Stowaway's public key,
 *                                discovered CIDRs, and the heartbeat token (for the local side only)
 *   Lease connection-X           the heartbeat; renewed by the local side (Cargo)
 *   ServiceAccount/Role/RoleBinding connection-X   may only get/update/patch that one Lease
 *   Secret connection-X-token    the ServiceAccount's token
 * Shared: Secret stowaway-key (Stowaway's key pair), Secret stowaway-peers (every peer, restored
 * by Stowaway at boot). Peers are added/removed live with `wg set` through exec.
 */
import * as k8s from "@kubernetes/client-node";
import {
  API_VERSION,
  CONNECTION_KIND,
  CONNECTION_LABEL,
  CONNECTION_PLURAL,
  CONNECTION_SECRET_KEYS as K,
  CRD_GROUP,
  CRD_VERSION,
  DEFAULT_HEARTBEAT_TTL_SECONDS,
  PART_OF,
  PART_OF_LABEL,
  COMPONENT_LABEL,
  STOWAWAY_CONTAINER,
  STOWAWAY_KEY_SECRET,
  STOWAWAY_NAME,
  STOWAWAY_PEERS_SECRET,
  allocateAddress,
  connectionObjectName,
  setCondition,
  type Connection,
  type ConnectionStatus,
} from "@gefyra/shared";
import { BridgeController } from "./bridges";
import { discoverNetwork, type ClusterNetwork } from "./discovery";
import { generateKeyPair, publicKeyOf } from "./keys";
import { errorText, execIn, isConflict, isNotFound } from "./kube";
import { ReconcileQueue } from "./queue";

export interface OperatorOptions {
  namespace: string;
  tunnelSubnet: string;
  /** The image bridged containers are swapped to. */
  carrierImage: string;
  /** How often heartbeats are checked and Stowaway's peers compared with the wanted ones. */
  sweepIntervalMs?: number;
  resyncIntervalMs?: number;
  log?: (line: string) => void;
}

interface Peer {
  connection: string;
  publicKey: string;
  address: string;
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, "base64").toString("utf8") : "");

export class Operator {
  readonly core: k8s.CoreV1Api;
  readonly custom: k8s.CustomObjectsApi;
  readonly coordination: k8s.CoordinationV1Api;
  readonly rbac: k8s.RbacAuthorizationV1Api;
  private readonly queue: ReconcileQueue;
  private informer: k8s.Informer<Connection> & k8s.ObjectCache<Connection>;
  private timers: NodeJS.Timeout[] = [];
  private network: ClusterNetwork | undefined;
  private stowawayPublicKey: string | undefined;
  private stopped = false;
  private lastSynced = { pod: "", at: 0 };
  private readonly log: (line: string) => void;
  private readonly ns: string;
  readonly bridges: BridgeController;

  constructor(
    readonly kc: k8s.KubeConfig,
    readonly options: OperatorOptions,
  ) {
    this.ns = options.namespace;
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.coordination = kc.makeApiClient(k8s.CoordinationV1Api);
    this.rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    this.log = options.log ?? ((line) => console.log(`${new Date().toISOString()} ${line}`));
    this.queue = new ReconcileQueue((name) => this.reconcile(name), {
      onError: (key, error, attempt, delay) => this.log(`reconcile ${key} failed (attempt ${attempt}, retry in ${delay} ms): ${errorText(error)}`),
    });
    const path = `/apis/${CRD_GROUP}/${CRD_VERSION}/namespaces/${this.ns}/${CONNECTION_PLURAL}`;
    this.informer = k8s.makeInformer<Connection>(
      kc,
      path,
      () =>
        this.custom.listNamespacedCustomObject({ group: CRD_GROUP, version: CRD_VERSION, namespace: this.ns, plural: CONNECTION_PLURAL }) as Promise<
          k8s.KubernetesListObject<Connection>
        >,
    ) as k8s.Informer<Connection> & k8s.ObjectCache<Connection>;
    this.bridges = new BridgeController(kc, {
      namespace: this.ns,
      carrierImage: options.carrierImage,
      log: this.log,
      stowaway: () => this.stowawayAddress(),
    });
  }

  async start(): Promise<void> {
    await this.ensureStowawayKey();
    const enqueue = (c: Connection) => c.metadata.name && this.queue.add(c.metadata.name);
    this.informer.on("add", enqueue);
    this.informer.on("update", enqueue);
    this.informer.on("delete", enqueue);
    let backoff = 1000;
    this.informer.on("error", (err: unknown) => {
      if (this.stopped) return;
      this.log(`watch error: ${errorText(err)}; restarting in ${backoff} ms`);
      setTimeout(() => {
        if (!this.stopped) this.informer.start().then(() => (backoff = 1000), () => undefined);
      }, backoff);
      backoff = Math.min(backoff * 2, 30_000);
    });
    await this.informer.start();
    this.log(`watching ${CONNECTION_PLURAL}.${CRD_GROUP} in ${this.ns}; tunnel subnet ${this.options.tunnelSubnet}`);
    // resync: every object again, plus peers the cache no longer knows (deleted while we were down)
    const resync = async () => {
      for (const c of this.informer.list(this.ns)) if (c.metadata.name) this.queue.add(c.metadata.name);
      for (const p of await this.readPeers().catch(() => [])) this.queue.add(p.connection);
    };
    await resync();
    this.timers.push(setInterval(() => void resync().catch(() => undefined), this.options.resyncIntervalMs ?? 60_000));
    this.timers.push(setInterval(() => void this.sweep().catch((e: unknown) => this.log(`sweep: ${errorText(e)}`)), this.options.sweepIntervalMs ?? 3_000));
    await this.bridges.start();
    this.log(`bridging with Carrier image ${this.options.carrierImage}`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.queue.stop();
    await this.informer.stop();
    await this.bridges.stop();
  }

  // ---- Stowaway ----------------------------------------------------------------------------

  private async ensureStowawayKey(): Promise<void> {
    const existing = await this.core.readNamespacedSecret({ namespace: this.ns, name: STOWAWAY_KEY_SECRET }).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
    if (existing?.data?.privateKey) {
      this.stowawayPublicKey = unb64(existing.data.publicKey) || publicKeyOf(unb64(existing.data.privateKey));
      return;
    }
    const pair = generateKeyPair();
    try {
      await this.core.createNamespacedSecret({
        namespace: this.ns,
        body: {
          metadata: { name: STOWAWAY_KEY_SECRET, labels: { [PART_OF_LABEL]: PART_OF, [COMPONENT_LABEL]: STOWAWAY_NAME } },
          type: "Opaque",
          data: { privateKey: b64(pair.privateKey), publicKey: b64(pair.publicKey) },
        },
      });
      this.stowawayPublicKey = pair.publicKey;
      this.log("created Stowaway's key pair (Secret stowaway-key)");
    } catch (e) {
      if (!isConflict(e)) throw e;
      return this.ensureStowawayKey();
    }
  }

  private async stowawayPod(): Promise<string | undefined> {
    const pods = await this.core.listNamespacedPod({ namespace: this.ns, labelSelector: `${PART_OF_LABEL}=${PART_OF},${COMPONENT_LABEL}=${STOWAWAY_NAME}` });
    const ready = pods.items.find(
      (p) => !p.metadata?.deletionTimestamp && p.status?.phase === "Running" && p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    );
    return ready?.metadata?.name;
  }

  private async stowawayAddress(): Promise<{ name: string; ip: string } | undefined> {
    const pods = await this.core.listNamespacedPod({ namespace: this.ns, labelSelector: `${PART_OF_LABEL}=${PART_OF},${COMPONENT_LABEL}=${STOWAWAY_NAME}` });
    const ready = pods.items.find((p) => !p.metadata?.deletionTimestamp && p.status?.podIP && p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
    return ready ? { name: ready.metadata!.name!, ip: ready.status!.podIP! } : undefined;
  }

  private async wg(args: string[]): Promise<string> {
    const pod = await this.stowawayPod();
    if (!pod) throw new Error("Stowaway is not ready yet");
    return execIn(this.kc, this.ns, pod, STOWAWAY_CONTAINER, ["wg", ...args]);
  }

  private async readPeers(): Promise<Peer[]> {
    const secret = await this.core.readNamespacedSecret({ namespace: this.ns, name: STOWAWAY_PEERS_SECRET }).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
    return unb64(secret?.data?.peers)
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 3)
      .map(([publicKey, address, connection]) => ({ publicKey: publicKey!, address: address!, connection: connection! }));
  }

  /** Rewrites stowaway-peers with `change` applied (read-modify-write with optimistic locking). */
  private async updatePeers(change: (peers: Peer[]) => Peer[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const secret = await this.core.readNamespacedSecret({ namespace: this.ns, name: STOWAWAY_PEERS_SECRET }).catch((e: unknown) => {
        if (isNotFound(e)) return undefined;
        throw e;
      });
      const peers = change(await this.readPeers());
      const data = { peers: b64(peers.map((p) => `${p.publicKey} ${p.address} ${p.connection}\n`).join("")) };
      try {
        if (!secret) {
          await this.core.createNamespacedSecret({
            namespace: this.ns,
            body: { metadata: { name: STOWAWAY_PEERS_SECRET, labels: { [PART_OF_LABEL]: PART_OF, [COMPONENT_LABEL]: STOWAWAY_NAME } }, type: "Opaque", data },
          });
        } else {
          await this.core.replaceNamespacedSecret({ namespace: this.ns, name: STOWAWAY_PEERS_SECRET, body: { ...secret, data } });
        }
        return;
      } catch (e) {
        if (!isConflict(e) || attempt > 5) throw e;
      }
    }
  }

  /** Makes Stowaway's live peers equal to stowaway-peers (after a Stowaway restart or a missed exec). */
  private async syncStowaway(): Promise<void> {
    if (!(await this.stowawayPod())) return;
    const wanted = await this.readPeers();
    const live = new Map<string, string>();
    for (const line of (await this.wg(["show", "wg0", "allowed-ips"])).split("\n")) {
      const [pub, ips] = line.trim().split(/\s+/);
      if (pub) live.set(pub, ips ?? "");
    }
    for (const p of wanted) {
      if (live.get(p.publicKey) !== `${p.address}/32`) {
        await this.wg(["set", "wg0", "peer", p.publicKey, "allowed-ips", `${p.address}/32`]);
        this.log(`stowaway: restored peer of ${p.connection} (${p.address})`);
      }
      live.delete(p.publicKey);
    }
    for (const pub of live.keys()) {
      await this.wg(["set", "wg0", "peer", pub, "remove"]);
      this.log("stowaway: removed a peer no Connection wants");
    }
  }

  // ---- heartbeats --------------------------------------------------------------------------

  private async sweep(): Promise<void> {
    const leases = await this.coordination.listNamespacedLease({ namespace: this.ns, labelSelector: CONNECTION_LABEL });
    const now = Date.now();
    for (const connection of this.informer.list(this.ns)) {
      const name = connection.metadata.name;
      // any phase: a Connection whose `up` died half-way (Pending, no local side) expires as well
      if (!name || connection.metadata.deletionTimestamp) continue;
      const lease = leases.items.find((l) => l.metadata?.name === connectionObjectName(name));
      const renewed = lease?.spec?.renewTime ?? lease?.spec?.acquireTime;
      if (!renewed) continue;
      const ttl = (connection.spec.heartbeatTTLSeconds ?? DEFAULT_HEARTBEAT_TTL_SECONDS) * 1000;
      const age = now - new Date(renewed).getTime();
      if (age > ttl) {
        this.log(`connection ${name}: no heartbeat for ${Math.round(age / 1000)} s (TTL ${ttl / 1000} s); deleting it`);
        await this.event(connection, "Warning", "HeartbeatExpired", `No heartbeat for ${Math.round(age / 1000)} s (TTL ${ttl / 1000} s): removing the connection`);
        await this.custom
          .deleteNamespacedCustomObject({ group: CRD_GROUP, version: CRD_VERSION, namespace: this.ns, plural: CONNECTION_PLURAL, name })
          .catch((e: unknown) => {
            if (!isNotFound(e)) throw e;
          });
      }
    }
    // compare live peers with the record when Stowaway's pod changed, else every 30 s (each look is an exec)
    const pod = await this.stowawayPod().catch(() => undefined);
    if (pod && pod !== this.lastSynced.pod) this.bridges.stowawayChanged();
    // bridges: replicas replaced by a rollout or an eviction, Carriers that restarted
    this.bridges.resync();
    if (pod && (pod !== this.lastSynced.pod || Date.now() - this.lastSynced.at > 30_000)) {
      await this.syncStowaway()
        .then(() => (this.lastSynced = { pod, at: Date.now() }))
        .catch((e: unknown) => this.log(`stowaway sync: ${errorText(e)}`));
    }
  }

  // ---- reconcile ---------------------------------------------------------------------------

  async reconcile(name: string): Promise<void> {
    const connection = await this.custom
      .getNamespacedCustomObject({ group: CRD_GROUP, version: CRD_VERSION, namespace: this.ns, plural: CONNECTION_PLURAL, name })
      .then((o) => o as Connection)
      .catch((e: unknown) => {
        if (isNotFound(e)) return undefined;
        throw e;
      });
    if (!connection || connection.metadata.deletionTimestamp) {
      await this.removePeer(name);
      return;
    }
    await this.ensureConnection(connection);
  }

  private async removePeer(name: string): Promise<void> {
    const peer = (await this.readPeers()).find((p) => p.connection === name);
    if (!peer) return;
    // the record first, so a concurrent sync never restores the peer we are removing
    await this.updatePeers((peers) => peers.filter((p) => p.connection !== name));
    if (await this.stowawayPod()) {
      await this.wg(["set", "wg0", "peer", peer.publicKey, "remove"]);
    }
    this.log(`connection ${name}: peer ${peer.address} removed`);
  }

  private owner(c: Connection): k8s.V1OwnerReference {
    return { apiVersion: API_VERSION, kind: CONNECTION_KIND, name: c.metadata.name!, uid: c.metadata.uid!, controller: true, blockOwnerDeletion: false };
  }

  private meta(c: Connection, name: string, component: string): k8s.V1ObjectMeta {
    return {
      name,
      namespace: this.ns,
      labels: { [PART_OF_LABEL]: PART_OF, [COMPONENT_LABEL]: component, [CONNECTION_LABEL]: c.metadata.name! },
      ownerReferences: [this.owner(c)],
    };
  }

  private async createIfMissing(create: () => Promise<unknown>): Promise<void> {
    try {
      await create();
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
  }

  private async ensureConnection(c: Connection): Promise<void> {
    const name = c.metadata.name!;
    const objectName = connectionObjectName(name);
    const generation = c.metadata.generation;
    if (!this.network) this.network = await discoverNetwork(this.kc, this.ns);
    if (!this.stowawayPublicKey) await this.ensureStowawayKey();
    const net = this.network;
    const svc = await this.core.readNamespacedService({ namespace: this.ns, name: STOWAWAY_NAME }).catch(() => undefined);
    const nodePort = svc?.spec?.ports?.[0]?.nodePort;
    const lbAddress = svc?.status?.loadBalancer?.ingress?.[0]?.ip ?? svc?.status?.loadBalancer?.ingress?.[0]?.hostname;
    const endpoint = lbAddress ? `${lbAddress}:${svc?.spec?.ports?.[0]?.port}` : `${net.nodeAddress}:${nodePort ?? ""}`;

    if (!c.status?.phase) {
      await this.patchStatus(c, { phase: "Pending", conditions: setCondition(c.status?.conditions, { type: "Ready", status: "False", reason: "Provisioning", message: "creating the peer" }) });
    }

    // 1. the peer's keys and address, kept in its Secret (created once, reused on every reconcile)
    let secret = await this.core.readNamespacedSecret({ namespace: this.ns, name: objectName }).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
    if (!secret) {
      const used = (await this.core.listNamespacedSecret({ namespace: this.ns, labelSelector: `${COMPONENT_LABEL}=connection` })).items.map((s) =>
        unb64(s.data?.[K.address]),
      );
      for (const p of await this.readPeers()) used.push(p.address);
      const address = allocateAddress(this.options.tunnelSubnet, used);
      if (!address) {
        await this.patchStatus(c, {
          phase: "Failed",
          conditions: setCondition(c.status?.conditions, { type: "Ready", status: "False", reason: "SubnetExhausted", message: `no free address in ${this.options.tunnelSubnet}` }),
        });
        return;
      }
      const pair = generateKeyPair();
      secret = await this.core.createNamespacedSecret({
        namespace: this.ns,
        body: {
          metadata: this.meta(c, objectName, "connection"),
          type: "Opaque",
          data: {
            [K.privateKey]: b64(pair.privateKey),
            [K.publicKey]: b64(pair.publicKey),
            [K.address]: b64(address),
            [K.tunnelSubnet]: b64(this.options.tunnelSubnet),
          },
        },
      });
      await this.event(c, "Normal", "PeerCreated", `Allocated tunnel address ${address} and created the peer's keys`);
    }
    const publicKey = unb64(secret.data?.[K.publicKey]);
    const address = unb64(secret.data?.[K.address]);

    // 2. the heartbeat: Lease + a ServiceAccount that may renew only that Lease
    const ttl = c.spec.heartbeatTTLSeconds ?? DEFAULT_HEARTBEAT_TTL_SECONDS;
    await this.createIfMissing(() =>
      this.coordination.createNamespacedLease({
        namespace: this.ns,
        body: {
          metadata: this.meta(c, objectName, "heartbeat"),
          spec: { holderIdentity: c.spec.client, leaseDurationSeconds: ttl, acquireTime: new k8s.V1MicroTime(), renewTime: new k8s.V1MicroTime() },
        },
      }),
    );
    await this.createIfMissing(() => this.core.createNamespacedServiceAccount({ namespace: this.ns, body: { metadata: this.meta(c, objectName, "heartbeat") } }));
    await this.createIfMissing(() =>
      this.rbac.createNamespacedRole({
        namespace: this.ns,
        body: {
          metadata: this.meta(c, objectName, "heartbeat"),
          rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: [objectName], verbs: ["get", "update", "patch"] }],
        },
      }),
    );
    await this.createIfMissing(() =>
      this.rbac.createNamespacedRoleBinding({
        namespace: this.ns,
        body: {
          metadata: this.meta(c, objectName, "heartbeat"),
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: objectName },
          subjects: [{ kind: "ServiceAccount", name: objectName, namespace: this.ns }],
        },
      }),
    );
    const tokenName = `${objectName}-token`;
    await this.createIfMissing(() =>
      this.core.createNamespacedSecret({
        namespace: this.ns,
        body: {
          metadata: { ...this.meta(c, tokenName, "heartbeat"), annotations: { "kubernetes.io/service-account.name": objectName } },
          type: "kubernetes.io/service-account-token",
        },
      }),
    );
    const token = await this.core.readNamespacedSecret({ namespace: this.ns, name: tokenName });
    if (!token.data?.token) throw new Error(`the token of ServiceAccount ${objectName} is not issued yet`);

    // 3. the peer on Stowaway: recorded first (so a restarted Stowaway restores it), then live
    const peers = await this.readPeers();
    if (!peers.some((p) => p.connection === name && p.publicKey === publicKey)) {
      await this.updatePeers((list) => [...list.filter((p) => p.connection !== name), { connection: name, publicKey, address }]);
    }
    if (!(await this.stowawayPod())) {
      await this.patchStatus(c, {
        phase: "Pending",
        conditions: setCondition(c.status?.conditions, { type: "Ready", status: "False", reason: "WaitingForStowaway", message: "Stowaway is not ready" }),
      });
      throw new Error("Stowaway is not ready yet");
    }
    await this.wg(["set", "wg0", "peer", publicKey, "allowed-ips", `${address}/32`]);

    // 4. everything the local side needs, in the Secret
    // the API server as pods reach it (the `kubernetes` Service), which every pod is told in its env
    const host = process.env.KUBERNETES_SERVICE_HOST;
    const apiServer = host ? `https://${host.includes(":") ? `[${host}]` : host}:${process.env.KUBERNETES_SERVICE_PORT ?? "443"}` : "";
    const data: Record<string, string> = {
      ...secret.data,
      [K.stowawayPublicKey]: b64(this.stowawayPublicKey!),
      [K.nodePort]: b64(String(nodePort ?? "")),
      [K.nodeAddress]: b64(net.nodeAddress),
      [K.podCIDRs]: b64(net.podCIDRs.join(",")),
      [K.serviceCIDRs]: b64(net.serviceCIDRs.join(",")),
      [K.clusterDNS]: b64(net.clusterDNS),
      [K.apiServer]: b64(apiServer),
      [K.token]: token.data.token,
      [K.caCrt]: token.data["ca.crt"] ?? "",
      [K.lease]: b64(`${this.ns}/${objectName}`),
    };
    if (JSON.stringify(data) !== JSON.stringify(secret.data)) {
      await this.core.replaceNamespacedSecret({ namespace: this.ns, name: objectName, body: { ...secret, data } });
    }

    if (c.status?.phase !== "Ready" || c.status.observedGeneration !== generation || c.status.clientAddress !== address) {
      await this.patchStatus(c, {
        phase: "Ready",
        clientAddress: address,
        endpoint,
        podCIDRs: net.podCIDRs,
        serviceCIDRs: net.serviceCIDRs,
        clusterDNS: net.clusterDNS,
        observedGeneration: generation,
        conditions: setCondition(c.status?.conditions, { type: "Ready", status: "True", reason: "PeerActive", message: `peer ${address} is active on Stowaway`, observedGeneration: generation }),
      });
      await this.event(c, "Normal", "Ready", `Peer ${address} added to Stowaway; endpoint ${endpoint}`);
      this.log(`connection ${name}: ready at ${address} (client ${c.spec.client})`);
    }
  }

  private async patchStatus(c: Connection, status: ConnectionStatus): Promise<void> {
    const merged = { ...(c.status ?? {}), ...status };
    c.status = merged;
    await this.custom.patchNamespacedCustomObjectStatus(
      { group: CRD_GROUP, version: CRD_VERSION, namespace: this.ns, plural: CONNECTION_PLURAL, name: c.metadata.name!, body: [{ op: "add", path: "/status", value: merged }] },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
    );
  }

  private async event(c: Connection, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    const now = new Date();
    await this.core
      .createNamespacedEvent({
        namespace: this.ns,
        body: {
          metadata: { generateName: `${c.metadata.name}.`, namespace: this.ns },
          involvedObject: { apiVersion: API_VERSION, kind: CONNECTION_KIND, name: c.metadata.name, namespace: this.ns, uid: c.metadata.uid },
          type,
          reason,
          message,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          source: { component: "gefyra-ts-operator" },
        },
      })
      .catch((e: unknown) => this.log(`event ${reason}: ${errorText(e)}`));
  }
}
