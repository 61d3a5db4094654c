/**
 * The dashboard server as one JavaScript file for plain `node` (what `npm start` runs).
 *
 * Under tsx every module, also the thousands of @kubernetes/client-node model files, goes through
 * tsx's loader: a second process (the tsx CLI relays signals to a child) and a loader thread that
 * keeps module sources, which together cost ~165 MB of RSS (bench/dashboard-workloads.ts: 352 MB
 * idle under tsx, ~210 MB as a bundle). Bundling only our own TypeScript (apps/server/src and the
 * workspace packages) and leaving node_modules external keeps every dependency loaded by Node as
 * usual. The output sits at the same depth below the repo as src/http, so paths derived from
 * import.meta.dirname (repo root, prisma/migrations) resolve as they do from the sources.
 *
 *   tsx apps/server/src/http/bundle.ts   # writes apps/server/dist/http/main.mjs and its node-flags
 */
import fs from "node:fs";
import path from "node:path";
import { build, type Plugin } from "esbuild";

const SERVER_DIR = path.resolve(import.meta.dirname, "..", "..");
export const BUNDLE_ENTRY = path.join(SERVER_DIR, "src", "http", "main.ts");
export const BUNDLE_FILE = path.join(SERVER_DIR, "dist", "http", "main.mjs");

/**
 * Node flags the server runs with (scripts/start.sh reads them from `<bundle>.node-flags`; the
 * benches pass them too). Without a limit V8 sizes the old generation for this machine's memory
 * (gigabytes) and lets garbage pile up: 600 s at 1000 requests/s ended at an RSS of 397 MB with
 * 225 MB of V8 heap "used", although a heap snapshot finds about 90 MB live (docs/traffic.md).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ["--max-old-space-size=256"];

/** Bare imports stay imports (Node loads them from node_modules), except our workspace packages, which are TypeScript. */
const dependenciesExternal: Plugin = {
  name: "dependencies-external",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith("@gefyra/") ? undefined : { path: args.path, external: true }));
  },
};

/** Writes the bundle (about 0.2 s) and its node flags next to it; returns its path. */
export async function bundleServer(outfile = BUNDLE_FILE): Promise<string> {
  await build({
    entryPoints: [BUNDLE_ENTRY],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    plugins: [dependenciesExternal],
    logLevel: "warning",
    legalComments: "none",
  });
  fs.writeFileSync(`${outfile}.node-flags`, `${SERVER_NODE_FLAGS.join(" ")}\n`);
  return outfile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  await bundleServer();
}
