import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

// images/carrier/carrier.cjs is committed (image builds have no npm registry; docs/carrier.md, "Image"):
// it must be what the bundler makes from the current sources.
it("the committed Carrier bundle is up to date with packages/carrier and the rules", async () => {
  const script = fileURLToPath(new URL("../../../images/carrier/bundle.mjs", import.meta.url));
  const { bundleCarrier, OUTPUT } = (await import(script)) as { bundleCarrier: () => Promise<string>; OUTPUT: string };
  const fresh = await bundleCarrier();
  const committed = readFileSync(OUTPUT, "utf8");
  expect(committed === fresh, "images/carrier/carrier.cjs is stale: run node images/carrier/bundle.mjs and commit it").toBe(true);
});
