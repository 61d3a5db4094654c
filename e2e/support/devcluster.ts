// What every end-to-end test needs from the devcluster: its kubeconfig, API clients, test images
// built and loaded, and namespaces that clean up after themselves.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";

const run = promisify(execFile);

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const kubeconfigPath = process.env.GEFYRA_E2E_KUBECONFIG ?? join(repoRoot, ".devcluster", "kubeconfig");

export function loadKubeConfig(): k8s.KubeConfig {
  if (!existsSync(kubeconfigPath)) {
    throw new Error(`no devcluster kubeconfig at ${kubeconfigPath}: run 'npm run cluster:up' first`);
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc;
}

export function clients(kc = loadKubeConfig()) {
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
  };
}

/** Builds a fixture image from e2e/fixtures/images/NAME unless present, and loads it into the cluster. */
export async function ensureFixtureImage(name: string, options: { load?: boolean } = {}): Promise<string> {
  const dir = join(repoRoot, "e2e", "fixtures", "images", name);
  // the tag is the content hash of the fixture folder, so an edited fixture is rebuilt
  const hash = createHash("sha256");
  for (const file of readdirSync(dir).sort()) hash.update(file).update(readFileSync(join(dir, file)));
  const tag = `gefyra-e2e/${name}:${hash.digest("hex").slice(0, 12)}`;
  const inspected = await run("docker", ["image", "inspect", tag]).then(
    () => true,
    () => false,
  );
  if (!inspected) {
    await run("bash", [join(repoRoot, "images", "base", "build.sh")], { maxBuffer: 64 << 20 });
    await run("docker", ["build", "-q", "-t", tag, dir], {
      maxBuffer: 64 << 20,
    });
  }
  if (options.load !== false) await run("bash", [join(repoRoot, "e2e", "devcluster", "load.sh"), tag], { maxBuffer: 64 << 20 });
  return tag;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 120_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A namespace of the test's own; dispose() deletes it and waits until it is gone. */
export async function testNamespace(core: k8s.CoreV1Api, prefix: string) {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await core.createNamespace({ body: { metadata: { name, labels: { "gefyra-e2e": "true" } } } });
  await waitFor(`default ServiceAccount in ${name}`, async () =>
    core.readNamespacedServiceAccount({ name: "default", namespace: name }).then(() => true),
  );
  return {
    name,
    async dispose() {
      await core.deleteNamespace({ name }).catch(() => undefined);
      await waitFor(`namespace ${name} deleted`, async () =>
        core.readNamespace({ name }).then(
          () => false,
          () => true,
        ),
      );
    },
  };
}

export async function nodeAddress(core: k8s.CoreV1Api): Promise<string> {
  const nodes = await core.listNode();
  const address = nodes.items[0]?.status?.addresses?.find((a) => a.type === "InternalIP")?.address;
  if (!address) throw new Error("the devcluster node has no InternalIP");
  return address;
}

/** Runs a command in a pod through the API server's exec endpoint; resolves with its stdout. */
export async function execInPod(
  kc: k8s.KubeConfig,
  namespace: string,
  pod: string,
  container: string,
  command: string[],
): Promise<string> {
  const { Writable } = await import("node:stream");
  let stdout = "";
  let stderr = "";
  const out = new Writable({ write: (c: Buffer, _e, cb) => ((stdout += c.toString()), cb()) });
  const err = new Writable({ write: (c: Buffer, _e, cb) => ((stderr += c.toString()), cb()) });
  return new Promise((resolve, reject) => {
    new k8s.Exec(kc)
      .exec(namespace, pod, container, command, out, err, null, false, (status) => {
        if (status.status === "Success") resolve(stdout);
        else reject(new Error(`exec ${command.join(" ")} failed: ${status.message ?? ""} ${stderr}`.trim()));
      })
      .catch(reject);
  });
}
