// sha256 over operator/src and packages/shared/src (relative paths and contents, sorted; tests excluded).
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

export function sourcesHash(operatorDir) {
  const roots = [join(operatorDir, "src"), join(operatorDir, "../packages/shared/src")];
  const files = [];
  const walk = (d) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".ts") && !p.endsWith(".test.ts")) files.push(p);
    }
  };
  roots.forEach(walk);
  const h = createHash("sha256");
  for (const f of files.sort()) h.update(relative(join(operatorDir, ".."), f)).update("\0").update(readFileSync(f)).update("\0");
  return h.digest("hex");
}
