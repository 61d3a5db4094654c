// Helpers of the Connection end-to-end tests: images, cluster/Docker snapshots, probes from
// throwaway containers on a connection's network.
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { execInPod, kubeconfigPath, repoRoot } from "../support/devcluster";

const run = promisify(execFile);

/** Builds + loads operator (bundled by its prebuild hook), stowaway and cargo; cached builds take seconds. */
export async function ensureProductImages(): Promise<void> {
  await run("bash", ["images/build.sh", "operator", "stowaway", "cargo"], { cwd: repoRoot, maxBuffer: 64 << 20 });
}

/** Every object of every listable kind in every namespace, as "kind namespace/name" (events and Service IPAddresses excluded). */
export async function clusterSnapshot(): Promise<Set<string>> {
  const env = { ...process.env, KUBECONFIG: kubeconfigPath };
  const { stdout: kinds } = await run("kubectl", ["api-resources", "--verbs=list", "-o", "name"], { env });
  const wanted = kinds
    .split("\n")
    .map((s) => s.trim())
        // events come and go by themselves; IPAddress objects live and die with Services (compared as such)
    .filter((k) => k && !/^(events(\.events\.k8s\.io)?|ipaddresses\.networking\.k8s\.io)$/.test(k));
  const { stdout } = await run(
    "kubectl",
    ["get", wanted.join(","), "-A", "--ignore-not-found", "--no-headers", "-o", "custom-columns=K:.kind,N:.metadata.namespace,M:.metadata.name"],
    { env, maxBuffer: 64 << 20 },
  );
  return new Set(
    stdout
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length === 3)
      .map(([kind, ns, name]) => `${kind} ${ns === "<none>" ? "" : ns}/${name}`),
  );
}

export async function dockerSnapshot(): Promise<Set<string>> {
  const { stdout: nets } = await run("docker", ["network", "ls", "--format", "network {{.Name}}"]);
  const { stdout: containers } = await run("docker", ["ps", "-a", "--format", "container {{.Names}}"]);
  return new Set([...nets.split("\n"), ...containers.split("\n")].map((s) => s.trim()).filter(Boolean));
}

/** Entries in only one of the snapshots, leaving out namespaces that exist in only one (other tests' namespaces). */
export function snapshotDiff(before: Set<string>, after: Set<string>): string[] {
  const namespaces = (s: Set<string>) => new Set([...s].filter((e) => e.startsWith("Namespace /")).map((e) => e.slice("Namespace /".length)));
  const nb = namespaces(before);
  const na = namespaces(after);
  const shared = (e: string) => {
    const ns = e.split(" ")[1]?.split("/")[0] ?? "";
    if (e.startsWith("Namespace /")) {
      const name = e.slice("Namespace /".length);
      return name.startsWith("gefyra-ts") || (nb.has(name) && na.has(name));
    }
    return ns === "" || (nb.has(ns) && na.has(ns)) || ns.startsWith("gefyra-ts");
  };
  return [...[...before].filter((e) => !after.has(e)).map((e) => `- ${e}`), ...[...after].filter((e) => !before.has(e)).map((e) => `+ ${e}`)].filter((d) =>
    shared(d.slice(2)),
  );
}

/**
 * Runs a shell script in a throwaway container on a connection's network, the way app containers
 * will run: Cargo as DNS (with the cluster search domains) and as default gateway.
 */
export async function runOnNetwork(
  image: string,
  network: string,
  cargoIp: string,
  namespace: string,
  script: string,
  timeoutMs = 60_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = [
    "run",
    "--rm",
    "--network",
    network,
    "--dns",
    cargoIp,
    ...[`${namespace}.svc.cluster.local`, "svc.cluster.local", "cluster.local"].flatMap((d) => ["--dns-search", d]),
    "--cap-add",
    "NET_ADMIN",
    image,
    "sh",
    "-c",
    `busybox ip route replace default via ${cargoIp} && ${script}`,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn("docker", args);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

export async function dockerExists(kind: "container" | "network", name: string): Promise<boolean> {
  return run("docker", [kind, "inspect", name]).then(
    () => true,
    () => false,
  );
}

/** Public keys of the peers configured live on Stowaway. */
export async function stowawayPeers(kc: k8s.KubeConfig): Promise<string[]> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const pods = await core.listNamespacedPod({ namespace: "gefyra-ts", labelSelector: "app.kubernetes.io/component=stowaway" });
  const pod = pods.items.find((p) => p.status?.phase === "Running" && !p.metadata?.deletionTimestamp);
  if (!pod?.metadata?.name) throw new Error("no running Stowaway pod");
  const out = await execInPod(kc, "gefyra-ts", pod.metadata.name, "stowaway", ["wg", "show", "wg0", "peers"]);
  return out.split("\n").map((s) => s.trim()).filter(Boolean);
}

