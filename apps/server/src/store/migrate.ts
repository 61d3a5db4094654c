/**
 * Applies prisma/migrations/<name>/migration.sql at startup, bookkeeping in `_prisma_migrations`
 * exactly as `prisma migrate deploy` does, so the Prisma CLI (`migrate status`) agrees with us.
 * Done in-process with better-sqlite3: startup needs no Prisma CLI, engine or network.
 * Never resets a database: a corrupt file or one migrated by a newer version is an error.
 */
import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { GefyraError, describeCause } from "../core/errors";

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrateResult {
  applied: string[];
  total: number;
}

export function readMigrations(dir: string): Migration[] {
  if (!fs.existsSync(dir)) {
    throw new GefyraError("STORE_MIGRATIONS_MISSING", `The store's migrations are missing at ${dir}: reinstall or re-checkout gefyra-ts.`);
  }
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(dir, e.name, "migration.sql")))
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const sql = fs.readFileSync(path.join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

const BOOKKEEPING = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "checksum" TEXT NOT NULL,
  "finished_at" DATETIME,
  "migration_name" TEXT NOT NULL,
  "logs" TEXT,
  "rolled_back_at" DATETIME,
  "started_at" DATETIME NOT NULL DEFAULT current_timestamp,
  "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: string | null;
  rolled_back_at: string | null;
}

/** Opens `file` (creating it), switches it to WAL and applies pending migrations. */
export function migrateStore(file: string, migrations: Migration[]): MigrateResult {
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: 5000 });
  } catch (cause) {
    throw new GefyraError("STORE_OPEN_FAILED", `Cannot open the store ${file} (${describeCause(cause)}): check the directory's permissions or set GEFYRA_DATA_DIR.`, { cause });
  }
  try {
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("foreign_keys = ON");
      // Reads the schema: fails on a file that is not an SQLite database.
      db.prepare("SELECT count(*) FROM sqlite_master").get();
    } catch (cause) {
      throw corrupt(file, cause);
    }
    db.exec(BOOKKEEPING);
    const rows = db
      .prepare("SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY started_at")
      .all() as AppliedRow[];
    const known = new Map(migrations.map((m) => [m.name, m]));
    const done = new Set<string>();
    for (const row of rows) {
      if (row.rolled_back_at) continue;
      const mine = known.get(row.migration_name);
      if (!mine) {
        throw new GefyraError(
          "STORE_TOO_NEW",
          `The store ${file} was migrated by a newer gefyra-ts (unknown migration ${row.migration_name}): upgrade gefyra-ts, or set GEFYRA_DATA_DIR to another directory to keep both.`,
        );
      }
      if (!row.finished_at) {
        throw new GefyraError(
          "STORE_MIGRATION_FAILED",
          `A previous migration ${row.migration_name} of the store ${file} did not finish: move the file aside (mv ${file} ${file}.broken) and restart to start an empty store.`,
        );
      }
      if (row.checksum !== mine.checksum) {
        throw new GefyraError(
          "STORE_MIGRATION_MODIFIED",
          `Migration ${row.migration_name} changed after it was applied to ${file}: restore prisma/migrations/${row.migration_name}/migration.sql and add a new migration instead.`,
        );
      }
      done.add(row.migration_name);
    }
    const applied: string[] = [];
    const insert = db.prepare(
      "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count) VALUES (?, ?, ?, ?, ?, 1)",
    );
    for (const m of migrations) {
      if (done.has(m.name)) continue;
      const startedAt = new Date().toISOString();
      try {
        db.transaction(() => {
          db.exec(m.sql);
          insert.run(randomUUID(), m.checksum, m.name, startedAt, new Date().toISOString());
        })();
      } catch (cause) {
        throw new GefyraError(
          "STORE_MIGRATION_FAILED",
          `Migration ${m.name} failed on the store ${file} (${describeCause(cause)}): the store is unchanged; report this with the file attached.`,
          { cause },
        );
      }
      applied.push(m.name);
    }
    return { applied, total: migrations.length };
  } catch (error) {
    if (error instanceof GefyraError) throw error;
    throw corrupt(file, error);
  } finally {
    db.close();
  }
}

function corrupt(file: string, cause: unknown): GefyraError {
  return new GefyraError(
    "STORE_CORRUPT",
    `The store ${file} is not a readable SQLite database (${describeCause(cause)}): move it aside (mv ${file} ${file}.broken) and restart; a new empty store is created.`,
    { cause },
  );
}
