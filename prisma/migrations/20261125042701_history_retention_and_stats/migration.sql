-- CreateTable
CREATE TABLE "SessionStats" (
    "sessionId" TEXT NOT NULL PRIMARY KEY,
    "requests" INTEGER NOT NULL DEFAULT 0,
    "errors" INTEGER NOT NULL DEFAULT 0,
    "bytesIn" BIGINT NOT NULL DEFAULT 0,
    "bytesOut" BIGINT NOT NULL DEFAULT 0,
    "p50Ms" REAL,
    "p95Ms" REAL,
    "p99Ms" REAL,
    "latencyHistogram" TEXT NOT NULL DEFAULT '{}',
    "firstAt" DATETIME,
    "lastAt" DATETIME,
    "storedRequests" INTEGER NOT NULL DEFAULT 0,
    "storedBytes" BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT "SessionStats_sessionId_fkey" FOREIGN KEY ("sessionId") REFERENCES "Session" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_RequestRecord" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "sessionId" TEXT NOT NULL,
    "bridge" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "at" DATETIME NOT NULL,
    "method" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "status" INTEGER,
    "ttfbMs" REAL,
    "durationMs" REAL,
    "bytesIn" INTEGER NOT NULL DEFAULT 0,
    "bytesOut" INTEGER NOT NULL DEFAULT 0,
    "route" TEXT NOT NULL,
    "error" TEXT,
    "requestHeaders" TEXT,
    "responseHeaders" TEXT,
    "requestBody" BLOB,
    "responseBody" BLOB,
    "bodyTruncated" BOOLEAN NOT NULL DEFAULT false,
    "kind" TEXT NOT NULL DEFAULT 'http',
    "port" INTEGER,
    "client" TEXT,
    "rule" TEXT,
    "destination" TEXT,
    "sampled" BOOLEAN NOT NULL DEFAULT false,
    "size" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "RequestRecord_sessionId_fkey" FOREIGN KEY ("sessionId") REFERENCES "Session" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO "new_RequestRecord" ("at", "bodyTruncated", "bridge", "bytesIn", "bytesOut", "durationMs", "error", "id", "method", "path", "requestBody", "requestHeaders", "responseBody", "responseHeaders", "route", "seq", "sessionId", "status", "ttfbMs") SELECT "at", "bodyTruncated", "bridge", "bytesIn", "bytesOut", "durationMs", "error", "id", "method", "path", "requestBody", "requestHeaders", "responseBody", "responseHeaders", "route", "seq", "sessionId", "status", "ttfbMs" FROM "RequestRecord";
DROP TABLE "RequestRecord";
ALTER TABLE "new_RequestRecord" RENAME TO "RequestRecord";
CREATE INDEX "RequestRecord_bridge_at_idx" ON "RequestRecord"("bridge", "at");
CREATE INDEX "RequestRecord_sessionId_at_idx" ON "RequestRecord"("sessionId", "at");
CREATE UNIQUE INDEX "RequestRecord_sessionId_seq_key" ON "RequestRecord"("sessionId", "seq");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- Backfill: the bytes each existing record holds, and the figures of sessions that already have records
UPDATE "RequestRecord" SET "size" = 256 + length(CAST("path" AS BLOB)) + length(CAST("method" AS BLOB)) + length(CAST("bridge" AS BLOB))
    + coalesce(length(CAST("error" AS BLOB)), 0) + coalesce(length(CAST("requestHeaders" AS BLOB)), 0) + coalesce(length(CAST("responseHeaders" AS BLOB)), 0)
    + coalesce(length("requestBody"), 0) + coalesce(length("responseBody"), 0);
INSERT INTO "SessionStats" ("sessionId", "requests", "errors", "bytesIn", "bytesOut", "firstAt", "lastAt", "storedRequests", "storedBytes")
    SELECT "sessionId", count(*), sum(CASE WHEN "status" >= 500 OR "error" IS NOT NULL THEN 1 ELSE 0 END), sum("bytesIn"), sum("bytesOut"), min("at"), max("at"), count(*), sum("size")
    FROM "RequestRecord" GROUP BY "sessionId";
