// Vitest globalSetup (unit project): generate the Prisma client when it is missing or stale.
import { execFileSync } from "node:child_process";
import path from "node:path";

export default function setup(): void {
  const script = path.resolve(import.meta.dirname, "..", "..", "scripts", "prisma.sh");
  execFileSync("bash", [script, "generate-if-missing"], { stdio: ["ignore", "ignore", "inherit"] });
}
