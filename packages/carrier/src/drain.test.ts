import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Carrier } from "./carrier";
import { parseConfig } from "./config";
import { freePort, LOOPBACK, request, startUpstream, TOKEN, type Upstream } from "./test-support";

let O: Upstream;
beforeAll(async () => {
  O = await startUpstream("original");
});
afterAll(() => O.close());

async function carrierWith(readiness: { periodSeconds: number; failureThreshold: number } | null): Promise<{ carrier: Carrier; port: number }> {
  const port = await freePort();
  const config = parseConfig({
    listen: { host: LOOPBACK, ports: [port] },
    control: { host: LOOPBACK, port: 0 },
    routes: { ports: [{ port, original: O.dest, probePaths: ["/ready", "/live"] }] },
    ...(readiness ? { readiness: { port, path: "/ready", ...readiness } } : {}),
  });
  return { carrier: await Carrier.start({ config, token: TOKEN }), port };
}

describe("draining (decision 0027)", () => {
  it("fails only the readiness probe once draining, and keeps routing every request", async () => {
    const { carrier, port } = await carrierWith({ periodSeconds: 1, failureThreshold: 3 });
    try {
      expect((await request(port, { path: "/ready" })).status).toBe(200);
      expect(carrier.drain().draining).toBe(true);
      const ready = await request(port, { path: "/ready" });
      expect(ready.status).toBe(503);
      expect(ready.body.toString()).toContain("draining");
      expect((await request(port, { path: "/live" })).status).toBe(200);
      const routed = await request(port, { path: "/api" });
      expect(routed.status).toBe(200);
      expect(routed.json()).toMatchObject({ upstream: "original" });
      expect(carrier.drainState()).toMatchObject({ draining: true, failedProbes: 1, outOfRotation: false });
    } finally {
      await carrier.close();
    }
  });

  it("after SIGTERM keeps listening until kubelet has seen failureThreshold failures, then the settle time", async () => {
    const { carrier, port } = await carrierWith({ periodSeconds: 1, failureThreshold: 2 });
    try {
      const t0 = Date.now();
      const done = carrier.drainAfterSigterm({ fixedMs: 8000, maxMs: 10_000, settleMs: 300 }).then(() => Date.now() - t0);
      // kubelet's prober, one period apart
      expect((await request(port, { path: "/ready" })).status).toBe(503);
      await new Promise((r) => setTimeout(r, 950));
      expect(carrier.drainState().outOfRotation).toBe(false);
      expect((await request(port, { path: "/ready" })).status).toBe(503);
      expect(carrier.drainState().outOfRotation).toBe(true);
      const took = await done;
      expect(took).toBeGreaterThanOrEqual(950 + 290);
      expect(took).toBeLessThan(4000);
    } finally {
      await carrier.close();
    }
  });

  it("a liveness probe on the same path does not end the drain before the periods have passed", async () => {
    const { carrier, port } = await carrierWith({ periodSeconds: 1, failureThreshold: 2 });
    try {
      carrier.drain();
      for (let i = 0; i < 4; i++) await request(port, { path: "/ready" });
      expect(carrier.drainState()).toMatchObject({ failedProbes: 4, outOfRotation: false });
    } finally {
      await carrier.close();
    }
  });

  it("without a readiness probe, or with one kubelet would take too long to act on, waits the fixed time", async () => {
    for (const readiness of [null, { periodSeconds: 10, failureThreshold: 3 }]) {
      const { carrier } = await carrierWith(readiness);
      try {
        const t0 = Date.now();
        await carrier.drainAfterSigterm({ fixedMs: 250, maxMs: 10_000, settleMs: 2000 });
        const took = Date.now() - t0;
        expect(took).toBeGreaterThanOrEqual(240);
        expect(took).toBeLessThan(1500);
      } finally {
        await carrier.close();
      }
    }
  });
});
