/**
 * Keeps kube-proxy syncing at its steady pace while a replica is held out of rotation
 * (decision 0028).
 *
 * kube-proxy (iptables or nftables mode) applies endpoint changes at most once per minimum sync
 * period (1 s by default) and, after a quiet second, applies the next change at once. kubelet
 * writes Ready=True back on a replica we hold out (decision 0026); our watch answers with
 * Ready=False 20–40 ms later. An idle kube-proxy programs that short flap at once and keeps it
 * until its next sync, a second later: connections refused if the old container has just exited.
 * A kube-proxy that is already syncing once a second instead sees both writes inside one period,
 * which cancel out, unless the flap happens to straddle a sync (a few percent of flaps).
 *
 * So while any replica is held, the operator flips the ready condition of one endpoint in an
 * EndpointSlice of its own, every 250 ms. The slice belongs to no Service (kube-proxy programs
 * no rule for it, nobody can connect through it) and is deleted a moment after the last hold.
 */
import os from "node:os";
import * as k8s from "@kubernetes/client-node";
import { OPERATOR_NAME, PART_OF, PART_OF_LABEL } from "@gefyra/shared";
import { errorText, isConflict, isNotFound } from "./kube";

export const PACER_SLICE_NAME = `${OPERATOR_NAME}-proxy-pacer`;

export interface ProxyPacerOptions {
  namespace: string;
  log: (line: string) => void;
  /** The address the slice lists (the operator's own pod IP). */
  address?: string;
  intervalMs?: number;
  /** How long the pace continues after the last hold ends (a flap can trail the swap). */
  lingerMs?: number;
}

export class ProxySyncPacer {
  private holders = 0;
  private timer: NodeJS.Timeout | undefined;
  private linger: NodeJS.Timeout | undefined;
  private ready = false;
  private created = false;
  private busy = false;
  private warned = false;
  private readonly address: string | undefined;

  constructor(
    private readonly discovery: k8s.DiscoveryV1Api,
    private readonly options: ProxyPacerOptions,
  ) {
    this.address = options.address ?? ownAddress();
  }

  /** Paces until the returned function is called (each hold acquires once). */
  acquire(): () => void {
    this.holders++;
    if (this.linger) clearTimeout(this.linger);
    this.linger = undefined;
    if (!this.timer && this.address) {
      void this.tick();
      this.timer = setInterval(() => void this.tick(), this.options.intervalMs ?? 250);
      this.timer.unref();
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holders > 0) return;
      this.linger = setTimeout(() => void this.stop(), this.options.lingerMs ?? 1500);
      this.linger.unref();
    };
  }

  private async tick(): Promise<void> {
    if (this.busy || !this.address) return;
    this.busy = true;
    this.ready = !this.ready;
    const endpoints = [{ addresses: [this.address], conditions: { ready: this.ready, serving: this.ready, terminating: false } }];
    try {
      if (this.created) {
        await this.discovery.patchNamespacedEndpointSlice(
          { namespace: this.options.namespace, name: PACER_SLICE_NAME, body: { endpoints } },
          k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
        );
      } else {
        await this.discovery.createNamespacedEndpointSlice({
          namespace: this.options.namespace,
          body: {
            metadata: {
              name: PACER_SLICE_NAME,
              labels: {
                [PART_OF_LABEL]: PART_OF,
                // kube-proxy tracks slices by this label; no Service of that name exists
                "kubernetes.io/service-name": PACER_SLICE_NAME,
                "endpointslice.kubernetes.io/managed-by": OPERATOR_NAME,
              },
            },
            addressType: this.address.includes(":") ? "IPv6" : "IPv4",
            ports: [{ name: "pace", port: 9, protocol: "TCP" }],
            endpoints,
          },
        });
        this.created = true;
      }
    } catch (e) {
      if (isConflict(e)) this.created = true; // left by an earlier operator: take it over
      else if (isNotFound(e)) this.created = false;
      else if (!this.warned) {
        this.warned = true;
        this.options.log(`kube-proxy pacer: ${errorText(e)}; replicas leave rotation without it`);
      }
    } finally {
      this.busy = false;
    }
  }

  private async stop(): Promise<void> {
    if (this.holders > 0) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.linger = undefined;
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
    if (this.holders > 0) return;
    await this.discovery.deleteNamespacedEndpointSlice({ namespace: this.options.namespace, name: PACER_SLICE_NAME }).catch((e: unknown) => {
      if (!isNotFound(e)) this.options.log(`kube-proxy pacer: deleting ${PACER_SLICE_NAME}: ${errorText(e)}`);
    });
    this.created = false;
  }
}

/** The operator's pod IP: from the downward API when given, else its first non-loopback address. */
function ownAddress(): string | undefined {
  if (process.env.GEFYRA_POD_IP) return process.env.GEFYRA_POD_IP;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal && a.family === "IPv4") return a.address;
  }
  return undefined;
}
