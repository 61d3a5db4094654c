import { defineConfig } from "vitest/config";

// Two projects: `unit` (tests beside the code) and `e2e` (against the real devcluster and
// Docker engine: long timeouts, one file at a time because they share the cluster).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["**/*.test.ts"],
          exclude: ["e2e/**", "**/node_modules/**", "**/.next/**", "**/dist/**", "**/generated/**"],
          globalSetup: ["./apps/server/src/store/test-global-setup.ts"],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["e2e/**/*.test.ts"],
          exclude: ["**/node_modules/**"],
          globalSetup: ["./apps/server/src/store/test-global-setup.ts"],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
