// `gefyra profiles` and `gefyra history` through the real binary, on a real SQLite store in a temp dir.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const bin = path.resolve(import.meta.dirname, "../../bin/gefyra.js");
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gefyra-cli-store-"));
const gefyra = (...args: string[]) => run(bin, [...args, "--data-dir", dataDir], { timeout: 60_000 });
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: { code: number; stderr: string }) => e);

const PROFILE = `apiVersion: gefyra-ts.dev/v1alpha1
kind: BridgeProfile
metadata: { name: web-me }
spec:
  target: { namespace: default, workload: deploy/web }
  ports: [{ remote: 80, local: 8080 }]
  rules: [{ kind: path, op: prefix, value: /v2 }]
  local: { image: "web:dev" }
`;

afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

describe("gefyra profiles / history", () => {
  it("imports, lists, exports (round trip) and deletes a profile", async () => {
    const file = path.join(dataDir, "in.yaml");
    fs.writeFileSync(file, PROFILE);
    expect((await gefyra("profiles", "import", file)).stdout.trim()).toBe("imported web-me");
    const listed = JSON.parse((await gefyra("profiles", "list", "--json")).stdout) as { profiles: Array<{ metadata: { name: string } }> };
    expect(listed.profiles.map((p) => p.metadata.name)).toEqual(["web-me"]);
    const exported = (await gefyra("profiles", "export", "web-me")).stdout;
    const again = path.join(dataDir, "again.yaml");
    fs.writeFileSync(again, exported);
    expect((await gefyra("profiles", "import", again, "--replace")).stdout.trim()).toBe("imported web-me");
    expect((await gefyra("profiles", "export")).stdout).toBe(exported);
    expect((await gefyra("profiles", "delete", "web-me")).stdout.trim()).toBe("deleted web-me");
  }, 60_000);

  it("rejects an invalid file with the line and field, exit 1, and imports nothing", async () => {
    const file = path.join(dataDir, "bad.yaml");
    fs.writeFileSync(file, PROFILE.replace("remote: 80", "remote: 0"));
    const e = await failure(gefyra("profiles", "import", file));
    expect(e?.code).toBe(1);
    expect(e?.stderr.trim()).toMatch(/^gefyra: .*bad\.yaml:6: spec\.ports\[0\]\.remote: must be a port number 1\.\.65535; nothing was imported$/);
    expect((await gefyra("profiles", "list")).stdout.trim()).toBe("no profiles");
  }, 60_000);

  it("shows history as JSON", async () => {
    const h = JSON.parse((await gefyra("history", "--json")).stdout) as { sessions: unknown[] };
    expect(Array.isArray(h.sessions)).toBe(true);
    const e = await failure(gefyra("history", "--kind", "nap"));
    expect(e?.stderr.trim()).toBe("gefyra: --kind must be connection, run or bridge");
  }, 60_000);

  it("shows, saves and applies the history retention limits", async () => {
    const shown = JSON.parse((await gefyra("history", "--retention", "--json")).stdout) as { retention: { days: number; mb: number; source: { days: string } } };
    expect(shown.retention).toMatchObject({ days: 14, mb: 200, source: { days: "default" } });
    const saved = await gefyra("history", "--keep-days", "7", "--keep-mb", "50");
    expect(saved.stdout.trim()).toBe("history retention: 7 days (saved), 50 MB (saved)");
    const pruned = JSON.parse((await gefyra("history", "--prune", "--json")).stdout) as { retention: { days: number }; pruned: { sessionsDeleted: number } };
    expect(pruned.retention.days).toBe(7);
    expect(pruned.pruned.sessionsDeleted).toBe(0);
    const e = await failure(gefyra("history", "--keep-days", "soon"));
    expect(e?.stderr.trim()).toBe('gefyra: --keep-days must be a number >= 0 (0 = no limit), got "soon".');
  }, 60_000);
});
