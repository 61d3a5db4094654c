import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Carrier } from "./carrier";
import { carrierClient, CarrierControlError, type RecordsMessage } from "./client";
import { parseConfig } from "./config";
import { freePort, LOOPBACK, request, startUpstream, TOKEN, type Upstream } from "./test-support";

let O: Upstream;
beforeAll(async () => {
  O = await startUpstream("original");
});
afterAll(() => O.close());

async function startOn(port: number, control: number): Promise<Carrier> {
  return Carrier.start({
    config: parseConfig({ listen: { host: LOOPBACK, ports: [port] }, control: { host: LOOPBACK, port: control }, routes: { ports: [{ port, original: O.dest }] } }),
    token: TOKEN,
  });
}

describe("control API client", () => {
  it("gets and puts routes, and turns refusals into CarrierControlError with the code", async () => {
    const [port, control] = [await freePort(), await freePort()];
    const carrier = await startOn(port, control);
    try {
      const client = carrierClient({ url: `http://${LOOPBACK}:${control}`, token: TOKEN });
      const { revision } = await client.getRoutes();
      const alice = { name: "alice", local: O.dest, match: [{ kind: "header" as const, name: "x-user", op: "exact" as const, value: "alice" }] };
      const put = await client.putRoutes({ ports: [{ port, original: O.dest, bridges: [alice] }] }, { ifRevision: revision });
      expect(put.revision).toBe(revision + 1);
      expect(put.routes.ports[0]!.bridges[0]!.name).toBe("alice");
      const overlap = await client.putRoutes({ ports: [{ port, bridges: [alice, { ...alice, name: "bob" }] }] }).catch((e: unknown) => e);
      expect(overlap).toBeInstanceOf(CarrierControlError);
      expect(overlap).toMatchObject({ code: "ROUTES_OVERLAP", status: 409, message: expect.stringContaining('"alice"') as string });
      const stale = await client.putRoutes({ ports: [] }, { ifRevision: revision }).catch((e: unknown) => e);
      expect(stale).toMatchObject({ code: "ROUTES_REVISION_MISMATCH", status: 412 });
      const denied = await carrierClient({ url: `http://${LOOPBACK}:${control}`, token: "wrong-token-0123456789" }).getRoutes().catch((e: unknown) => e);
      expect(denied).toMatchObject({ code: "UNAUTHORIZED", status: 401 });
    } finally {
      await carrier.close();
    }
  });

  it("streams records, resumes after Carrier restarts (new instance, seqs from 1), and ends on abort", async () => {
    const [port, control] = [await freePort(), await freePort()];
    let carrier = await startOn(port, control);
    const client = carrierClient({ url: `http://${LOOPBACK}:${control}`, token: TOKEN });
    const abort = new AbortController();
    const got: RecordsMessage[] = [];
    let arrived: () => void = () => {};
    const consuming = (async () => {
      for await (const m of client.records({ since: 0, signal: abort.signal })) {
        got.push(m);
        arrived();
      }
    })();
    const until = async (pred: () => boolean) => {
      const deadline = Date.now() + 10_000;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(got.map((m) => [m.type, "seq" in m ? m.seq : ""]))}`);
        await new Promise<void>((r) => {
          arrived = r;
          setTimeout(r, 100);
        });
      }
    };
    try {
      await request(port, { path: "/one" });
      await request(port, { path: "/two" });
      await until(() => got.filter((m) => m.type === "record").length === 2);
      const firstInstance = (got[0] as { instance: string }).instance;

      await carrier.close();
      carrier = await startOn(port, control);
      await request(port, { path: "/after-restart" });
      await until(() => got.some((m) => m.type === "record" && m.path === "/after-restart"));
      const hellos = got.filter((m) => m.type === "hello");
      expect(hellos.length).toBeGreaterThanOrEqual(2);
      expect(hellos.at(-1)!.instance).not.toBe(firstInstance);
      const last = got.filter((m) => m.type === "record").at(-1)!;
      expect(last).toMatchObject({ seq: 1, path: "/after-restart" });
    } finally {
      abort.abort();
      await consuming;
      await carrier.close();
    }
  });
});
