/**
 * The image runs the esbuild bundle (images/carrier/bundle.mjs, run by images/build.sh's prebuild
 * hook): it must bundle, and the one file must start Carrier on its own (no node_modules beside it).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { freePort, LOOPBACK, request, TOKEN } from "./test-support";

it("bundles into one file that starts Carrier and answers on its ports without node_modules", async () => {
  const script = fileURLToPath(new URL("../../../images/carrier/bundle.mjs", import.meta.url));
  const { bundleCarrier } = (await import(script)) as { bundleCarrier: () => Promise<string> };
  const text = await bundleCarrier();
  expect(text).not.toMatch(/require\("(zod|ws|undici)"\)/);
  const dir = mkdtempSync(join(tmpdir(), "carrier-bundle-"));
  const file = join(dir, "carrier.cjs");
  writeFileSync(file, text);
  const [port, control] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [file], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      CARRIER_TOKEN: TOKEN,
      CARRIER_CONFIG_JSON: JSON.stringify({ listen: { host: LOOPBACK, ports: [port] }, control: { host: LOOPBACK, port: control }, routes: { ports: [{ port, probePaths: ["/healthz"] }] } }),
    },
    stdio: "ignore",
  });
  try {
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      ok = await request(port, { path: "/healthz" }).then((r) => r.status === 200 && r.body.toString() === "ok\n", () => false);
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ok).toBe(true);
    expect((await request(control, { path: "/routes" })).status).toBe(401);
  } finally {
    child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
});
