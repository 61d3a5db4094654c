// Bundles the operator into one ESM file (dist/operator.mjs) for its image, and records a hash of
// the sources it was built from (dist/sources.sha256) so the image build can tell a stale bundle.
//   node operator/build.mjs        (npm run build -w operator)
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { sourcesHash } from "./build-hash.mjs";

const here = new URL(".", import.meta.url).pathname;
await build({
  entryPoints: [join(here, "src/main.ts")],
  outfile: join(here, "dist/operator.mjs"),
  bundle: true,
  platform: "node",
  target: "node18",
  format: "esm",
  legalComments: "none",
  logLevel: "warning",
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});
writeFileSync(join(here, "dist/sources.sha256"), `${sourcesHash(here)}\n`);

