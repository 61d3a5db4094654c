import os from "node:os";
import path from "node:path";

export const STORE_FILE_NAME = "gefyra.db";

/** Where the store lives: an explicit dir, else GEFYRA_DATA_DIR, else $XDG_DATA_HOME/gefyra-ts. */
export function resolveDataDir(explicit?: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (explicit) return path.resolve(explicit);
  if (env.GEFYRA_DATA_DIR) return path.resolve(env.GEFYRA_DATA_DIR);
  const xdg = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(os.homedir(), ".local", "share");
  return path.join(xdg, "gefyra-ts");
}

/** prisma/migrations of this checkout (the server runs from source with tsx). */
export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, "..", "..", "..", "..", "prisma", "migrations");
