// The connection commands of `gefyra` through the real binary, without a cluster: rendering the
// install, flag validation, and the one-line failures scripts rely on.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import YAML from "yaml";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const bin = path.resolve(import.meta.dirname, "../../bin/gefyra.js");
const empty = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-cli-conn-"));
const env = { ...process.env, KUBECONFIG: path.join(empty, "none.kubeconfig") };
const gefyra = (...args: string[]) => run(bin, args, { timeout: 60_000, env });
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

describe("gefyra install --print / up / status", () => {
  it("prints the install as YAML with every image configurable, touching no cluster", async () => {
    const { stdout } = await gefyra("install", "--print", "--registry", "reg.example/team", "--tag", "dev", "--stowaway-image", "x/stowaway:1", "--node-port", "30999");
    const docs = YAML.parseAllDocuments(stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec?: unknown });
    expect(docs.map((d) => d.kind)).toContain("CustomResourceDefinition");
    const images = JSON.stringify(docs.filter((d) => d.kind === "Deployment"));
    expect(images).toContain("reg.example/team/operator:dev");
    expect(images).toContain("x/stowaway:1");
    expect(JSON.stringify(docs.find((d) => d.kind === "Service"))).toContain("30999");
  });

  it("fails with one line and exit 1 when no kubeconfig exists, also as JSON", async () => {
    const e = await failure(gefyra("status"));
    expect(e?.code).toBe(1);
    expect(e?.stderr.trim().split("\n")).toHaveLength(1);
    expect(e?.stderr).toMatch(/^gefyra: No kubeconfig found/);
    const j = await failure(gefyra("up", "--json"));
    expect(JSON.parse(j?.stdout ?? "{}")).toMatchObject({ error: { code: "KUBECONFIG_NOT_FOUND" } });
  });

  it("rejects bad flags before doing anything", async () => {
    const e = await failure(gefyra("install", "--print", "--mtu", "lots"));
    expect(e?.code).toBe(1);
    expect(e?.stderr).toMatch(/--mtu must be a positive integer/);
    const n = await failure(gefyra("up", "--name", "Not_Valid"));
    expect(n?.stderr).toMatch(/is not a valid connection name/);
  });
});
