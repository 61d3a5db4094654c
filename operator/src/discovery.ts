/**
 * What the local side must route through the tunnel, discovered from the cluster (never
 * hard-coded): pod CIDRs from node.spec.podCIDRs (fallback: the /16 around pod IPs), service CIDRs
 * from networking.k8s.io/v1 ServiceCIDR objects (fallback: the range named in the API server's
 * refusal of an invalid clusterIP, as upstream Gefyra does), cluster DNS from kube-system/kube-dns.
 */
import * as k8s from "@kubernetes/client-node";
import { isIPv4Cidr, parseCidr, formatCidr, serviceCidrFromError } from "@gefyra/shared";
import { errorText } from "./kube";

export interface ClusterNetwork {
  podCIDRs: string[];
  serviceCIDRs: string[];
  clusterDNS: string;
  nodeAddress: string;
}

export async function discoverNetwork(kc: k8s.KubeConfig, namespace: string): Promise<ClusterNetwork> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const nodes = (await core.listNode()).items;
  const pod = new Set<string>();
  for (const n of nodes) for (const c of n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : [])) if (isIPv4Cidr(c)) pod.add(c);
  if (pod.size === 0) {
    // fallback: the /16 around each pod IP the operator can see (its own namespace)
    const pods = (await core.listNamespacedPod({ namespace })).items;
    for (const p of pods) {
      const ip = p.status?.podIP;
      if (ip && isIPv4Cidr(ip) && !p.spec?.hostNetwork) pod.add(formatCidr(parseCidr(`${ip}/16`)));
    }
  }

  let service: string[] = [];
  try {
    const net = kc.makeApiClient(k8s.NetworkingV1Api);
    const list = await net.listServiceCIDR();
    service = list.items.flatMap((s) => s.spec?.cidrs ?? []).filter(isIPv4Cidr);
  } catch {
    service = [];
  }
  if (service.length === 0) {
    try {
      await core.createNamespacedService({
        namespace,
        body: { metadata: { name: "gefyra-ts-cidr-probe" }, spec: { clusterIP: "1.1.1.1", ports: [{ port: 443 }] } },
      });
      // an API server that accepts 1.1.1.1 has it in range; do not leave the object behind
      await core.deleteNamespacedService({ namespace, name: "gefyra-ts-cidr-probe" }).catch(() => undefined);
    } catch (error) {
      service = serviceCidrFromError(errorText(error));
    }
  }

  const dns = await core.readNamespacedService({ namespace: "kube-system", name: "kube-dns" }).catch(() => undefined);
  const clusterDNS = dns?.spec?.clusterIP ?? "";

  const node = nodes[0];
  const nodeAddress =
    node?.status?.addresses?.find((a) => a.type === "ExternalIP")?.address ?? node?.status?.addresses?.find((a) => a.type === "InternalIP")?.address ?? "";
  return { podCIDRs: [...pod], serviceCIDRs: service, clusterDNS, nodeAddress };
}
