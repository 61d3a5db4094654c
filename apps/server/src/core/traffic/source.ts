/**
 * The hub's source on a real cluster: bridges from the API (list, then watch), Carrier's token
 * from Secret gefyra-ts/carrier-<group>, and each pod's records stream through a port-forward
 * (port-forward.ts) to Carrier's control port.
 */
import type Docker from "dockerode";
import { CARRIER_CONTROL_PORT, NAMESPACE, cargoContainerName, carrierTokenSecretName } from "@gefyra/shared";
import { watchBridges } from "../bridge";
import { apiError, connectCluster, isNotFound, type Cluster, type ClusterOptions } from "../connection/cluster";
import { connectDocker } from "../connection/docker";
import { GefyraError } from "../errors";
import { podRecords } from "./carrier-stream";
import type { HubSource } from "./hub";
import { apiDialer, forwardPodPort, type PodDialer, type PortForwarder } from "./port-forward";

/**
 * Connections whose Cargo runs in this machine's Docker engine (its containers are named
 * gefyra-ts-cargo-<connection>); null when Docker cannot be asked.
 */
export async function localConnections(docker?: Docker): Promise<Set<string> | null> {
  try {
    const d = await connectDocker(docker);
    const prefix = cargoContainerName("");
    const list = await d.listContainers({ all: true, filters: { name: [prefix] } });
    return new Set(list.flatMap((c) => c.Names.map((n) => n.replace(/^\//, ""))).filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length)));
  } catch {
    return null;
  }
}

export interface ClusterSource extends HubSource {
  /** The API connection (replays use it too). */
  cluster(): Promise<Cluster>;
  dialer(): Promise<PodDialer>;
}

export function clusterSource(given: ClusterOptions & { connection?: string }): ClusterSource {
  // the source outlives any one request: a request's signal must not cut its API connection
  const { signal: _signal, ...options } = given;
  let cluster: Promise<Cluster> | undefined;
  const connect = (): Promise<Cluster> =>
    (cluster ??= connectCluster(options).catch((e: unknown) => {
      cluster = undefined;
      throw e;
    }));
  const forwarders = new Map<string, PortForwarder>();
  const key = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

  return {
    cluster: connect,
    dialer: async () => apiDialer((await connect()).kc),
    watchBridges: (onChange, onError) => watchBridges(options, onChange, onError),

    async token(group) {
      const c = await connect();
      const name = carrierTokenSecretName(group);
      try {
        const secret = await c.core.readNamespacedSecret({ namespace: NAMESPACE, name });
        const token = secret.data?.token;
        if (!token) throw new GefyraError("CARRIER_TOKEN_MISSING", `Secret ${NAMESPACE}/${name} holds no token yet: the operator writes it while it sets the bridge up`);
        return Buffer.from(token, "base64").toString("utf8");
      } catch (error) {
        if (isNotFound(error)) throw new GefyraError("CARRIER_TOKEN_MISSING", `Secret ${NAMESPACE}/${name} does not exist (yet): the operator creates it while it sets the bridge up`);
        throw apiError(error, `read Secret ${NAMESPACE}/${name} (Carrier's token)`, c);
      }
    },

    async *podEvents(pod, token, cursor, signal) {
      const c = await connect();
      const forwarder = await forwardPodPort(apiDialer(c.kc), { namespace: pod.namespace, pod: pod.name, port: CARRIER_CONTROL_PORT });
      forwarders.set(key(pod), forwarder);
      try {
        yield* podRecords({ url: forwarder.url, token, cursor, signal });
      } finally {
        if (forwarders.get(key(pod)) === forwarder) forwarders.delete(key(pod));
        await forwarder.close();
      }
    },

    dropConnections(pod) {
      forwarders.get(key(pod))?.dropConnections();
    },

    async close() {
      for (const f of forwarders.values()) await f.close();
      forwarders.clear();
    },
  };
}
