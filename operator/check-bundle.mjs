// Exit 0 when dist/operator.mjs was built from the current sources (used by images/operator/Dockerfile).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sourcesHash } from "./build-hash.mjs";
const here = new URL(".", import.meta.url).pathname;
const file = join(here, "dist/sources.sha256");
if (!existsSync(join(here, "dist/operator.mjs")) || !existsSync(file)) process.exit(1);
process.exit(readFileSync(file, "utf8").trim() === sourcesHash(here) ? 0 : 1);
