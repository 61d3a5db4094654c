import path from "node:path";
import type { NextConfig } from "next";

const config: NextConfig = {
  // served by apps/server/src/http (one port for the dashboard, tRPC and WebSocket)
  reactStrictMode: true,
  poweredByHeader: false,
  transpilePackages: ["@gefyra/shared"],
  // the monorepo root, so Turbopack resolves hoisted node_modules and workspace packages
  turbopack: { root: path.resolve(import.meta.dirname, "..", "..") },
  outputFileTracingRoot: path.resolve(import.meta.dirname, "..", ".."),
  typescript: { tsconfigPath: "tsconfig.json" },
};

export default config;
