// Prisma CLI configuration: the Wasm/JS schema engine through the better-sqlite3 adapter,
// so no native engine is downloaded (docs/decisions/0003-prisma-rust-free-client.md).
import path from "node:path";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import { defineConfig } from "prisma/config";

const here = import.meta.dirname;
// DATABASE_FILE lets `prisma.sh deploy|status` target any store; default is the repo's .data/.
const dbFile = process.env.DATABASE_FILE ?? path.join(here, "..", ".data", "gefyra.db");

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: path.join(here, "schema.prisma"),
  migrations: { path: path.join(here, "migrations") },
  adapter: () => Promise.resolve(new PrismaBetterSQLite3({ url: `file:${dbFile}` })),
});
