import path from "node:path";
import type { NextConfig } from "next";

const config: NextConfig = {
  // served by apps/server/src/http (one port for the dashboard, tRPC and WebSocket)
  // A static export: the dashboard is one client-rendered page, so the production server serves
  // files (apps/server/src/http/static-files.ts) instead of running Next in its process, which
  // saved ~45 MB of the server's RSS (Next's modules and its native SWC binding) and the GC work
  // of tracing them (decision 0029). `next dev` still serves it for --dev.
  output: "export",
  reactStrictMode: true,
  poweredByHeader: false,
  transpilePackages: ["@gefyra/shared"],
  // the monorepo root, so Turbopack resolves hoisted node_modules and workspace packages
  turbopack: { root: path.resolve(import.meta.dirname, "..", "..") },
  outputFileTracingRoot: path.resolve(import.meta.dirname, "..", ".."),
  typescript: { tsconfigPath: "tsconfig.json" },
};

export default config;
