import type * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { PACER_SLICE_NAME, ProxySyncPacer } from "./proxy-pacer";

type Endpoint = { addresses: string[]; conditions: { ready: boolean } };

/** Test double of the EndpointSlice API: one namespace's slices in a map, calls logged. */
function fakeDiscovery(fail?: { code: number }) {
  const slices = new Map<string, { endpoints: Endpoint[] }>();
  const calls: string[] = [];
  const api = {
    createNamespacedEndpointSlice: (req: { namespace: string; body: { metadata: { name: string }; endpoints: Endpoint[] } }) => {
      calls.push(`create ${req.namespace}/${req.body.metadata.name}`);
      if (fail) return Promise.reject(Object.assign(new Error("refused"), fail));
      if (slices.has(req.body.metadata.name)) return Promise.reject(Object.assign(new Error("exists"), { code: 409 }));
      slices.set(req.body.metadata.name, { endpoints: req.body.endpoints });
      return Promise.resolve({});
    },
    patchNamespacedEndpointSlice: (req: { name: string; body: { endpoints: Endpoint[] } }) => {
      calls.push(`patch ${req.name} ready=${req.body.endpoints[0]!.conditions.ready}`);
      const s = slices.get(req.name);
      if (!s) return Promise.reject(Object.assign(new Error("gone"), { code: 404 }));
      s.endpoints = req.body.endpoints;
      return Promise.resolve({});
    },
    deleteNamespacedEndpointSlice: (req: { name: string }) => {
      calls.push(`delete ${req.name}`);
      return slices.delete(req.name) ? Promise.resolve({}) : Promise.reject(Object.assign(new Error("gone"), { code: 404 }));
    },
  };
  return { api: api as unknown as k8s.DiscoveryV1Api, slices, calls };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("ProxySyncPacer", () => {
  it("flips its own slice while held, and deletes it once the last hold has lingered", async () => {
    const d = fakeDiscovery();
    const pacer = new ProxySyncPacer(d.api, { namespace: "gefyra-ts", log: () => undefined, address: "10.0.0.7", intervalMs: 20, lingerMs: 300 });
    const first = pacer.acquire();
    const second = pacer.acquire();
    await sleep(110);
    expect(d.calls[0]).toBe(`create gefyra-ts/${PACER_SLICE_NAME}`);
    const flips = d.calls.filter((c) => c.startsWith("patch"));
    expect(flips.length).toBeGreaterThanOrEqual(3);
    // alternating, so every period kube-proxy has a change to apply
    expect(flips.slice(0, 2)).toEqual([`patch ${PACER_SLICE_NAME} ready=false`, `patch ${PACER_SLICE_NAME} ready=true`]);
    expect(d.slices.get(PACER_SLICE_NAME)!.endpoints[0]!.addresses).toEqual(["10.0.0.7"]);

    first();
    first(); // releasing twice counts once
    await sleep(120);
    expect(d.slices.has(PACER_SLICE_NAME)).toBe(true);
    second();
    await sleep(30);
    expect(d.slices.has(PACER_SLICE_NAME)).toBe(true); // still lingering
    await sleep(400);
    expect(d.slices.has(PACER_SLICE_NAME)).toBe(false);
    const after = d.calls.length;
    await sleep(60);
    expect(d.calls.length).toBe(after);
  });

  it("a hold during the linger keeps the same slice going", async () => {
    const d = fakeDiscovery();
    const pacer = new ProxySyncPacer(d.api, { namespace: "gefyra-ts", log: () => undefined, address: "10.0.0.7", intervalMs: 20, lingerMs: 300 });
    pacer.acquire()();
    await sleep(30);
    const again = pacer.acquire();
    await sleep(100);
    expect(d.calls.filter((c) => c.startsWith("delete"))).toEqual([]);
    expect(d.calls.filter((c) => c.startsWith("create"))).toHaveLength(1);
    again();
    await sleep(450);
    expect(d.slices.size).toBe(0);
  });

  it("takes over a slice an earlier operator left behind", async () => {
    const d = fakeDiscovery();
    d.slices.set(PACER_SLICE_NAME, { endpoints: [] });
    const pacer = new ProxySyncPacer(d.api, { namespace: "gefyra-ts", log: () => undefined, address: "10.0.0.7", intervalMs: 20, lingerMs: 10 });
    const release = pacer.acquire();
    await sleep(70);
    expect(d.calls.filter((c) => c.startsWith("patch")).length).toBeGreaterThanOrEqual(1);
    release();
    await sleep(60);
    expect(d.slices.size).toBe(0);
  });

  it("without the right to write slices it says so once and the hold goes on", async () => {
    const d = fakeDiscovery({ code: 403 });
    const lines: string[] = [];
    const pacer = new ProxySyncPacer(d.api, { namespace: "gefyra-ts", log: (l) => lines.push(l), address: "10.0.0.7", intervalMs: 10, lingerMs: 10 });
    const release = pacer.acquire();
    await sleep(60);
    release();
    await sleep(40);
    expect(d.calls.filter((c) => c.startsWith("create")).length).toBeGreaterThan(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/kube-proxy pacer: .*replicas leave rotation without it/);
  });
});
