// Measures `up` and `down` on the warm devcluster (operator and Stowaway already installed):
//   npx tsx bench/connection-up.ts [RUNS=5]
// Prints the median, min and max wall time of the core's up() (Connection -> Cargo -> handshake ->
// DNS -> first heartbeat) and down(), plus one cold `up` that includes the install when the
// cluster side is missing at start.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { down, status, up } from "../apps/server/src/core/connection";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..");
const kubeconfig = process.env.GEFYRA_E2E_KUBECONFIG ?? join(root, ".devcluster", "kubeconfig");
const runs = Number(process.argv[2] ?? 5);
const name = "bench-up";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const installed = (await status({ kubeconfig })).installed;
if (!installed) {
  const t = Date.now();
  await up({ kubeconfig, name }, (p) => process.stderr.write(`  cold: ${p.message}\n`));
  console.log(`cold up (install operator + Stowaway, then connect): ${fmt(Date.now() - t)}`);
  await down({ kubeconfig, name });
}
const ups: number[] = [];
const downs: number[] = [];
for (let i = 0; i < runs; i++) {
  let t = Date.now();
  await up({ kubeconfig, name });
  ups.push(Date.now() - t);
  t = Date.now();
  await down({ kubeconfig, name });
  downs.push(Date.now() - t);
  process.stderr.write(`  run ${i + 1}/${runs}: up ${fmt(ups.at(-1)!)}, down ${fmt(downs.at(-1)!)}\n`);
}
console.log(`warm up   (n=${runs}): median ${fmt(median(ups))}, min ${fmt(Math.min(...ups))}, max ${fmt(Math.max(...ups))}`);
console.log(`warm down (n=${runs}): median ${fmt(median(downs))}, min ${fmt(Math.min(...downs))}, max ${fmt(Math.max(...downs))}`);
