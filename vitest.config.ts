import os from "node:os";
import path from "node:path";
import { defineConfig } from "vitest/config";

// Tests never write the developer's own history: the store of every test run lives in a temp dir.
const env = { GEFYRA_DATA_DIR: path.join(os.tmpdir(), `gefyra-test-data-${process.pid}`) };

// Two projects: `unit` (tests beside the code) and `e2e` (against the real devcluster and
// Docker engine: long timeouts, one file at a time because they share the cluster).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          env,
          include: ["**/*.test.ts"],
          exclude: ["e2e/**", "**/node_modules/**", "**/.next/**", "**/dist/**", "**/generated/**"],
          globalSetup: ["./apps/server/src/store/test-global-setup.ts"],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "e2e",
          env,
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
