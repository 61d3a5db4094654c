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
 *   tsx apps/server/src/http/bundle.ts   # writes apps/server/dist/http/main.mjs
 */
import path from "node:path";
import { build, type Plugin } from "esbuild";

const SERVER_DIR = path.resolve(import.meta.dirname, "..", "..");
export const BUNDLE_ENTRY = path.join(SERVER_DIR, "src", "http", "main.ts");
export const BUNDLE_FILE = path.join(SERVER_DIR, "dist", "http", "main.mjs");

/** Bare imports stay imports (Node loads them from node_modules), except our workspace packages, which are TypeScript. */
const dependenciesExternal: Plugin = {
  name: "dependencies-external",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith("@gefyra/") ? undefined : { path: args.path, external: true }));
  },
};

/** Writes the bundle (about 0.2 s); returns its path. */
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
  return outfile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  await bundleServer();
}
