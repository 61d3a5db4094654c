// The CLI face of `run`: the real `gefyra` binary, as users and scripts call it.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { down, up } from "../../apps/server/src/core/connection";
import { removeLocal } from "../../apps/server/src/core/run/local-container";
import { ensureFixtureImage, kubeconfigPath, repoRoot } from "../support/devcluster";

const run = promisify(execFile);
const dataDir = mkdtempSync(join(tmpdir(), "gefyra-cli-history-"));
const gefyra = (...args: string[]) =>
  run(join(repoRoot, "apps/server/bin/gefyra.js"), args, {
    env: { ...process.env, KUBECONFIG: kubeconfigPath, GEFYRA_DATA_DIR: dataDir },
    timeout: 120_000,
  });

interface HistoryJson {
  sessions: Array<{ kind: string; target: string | null; stopReason: string | null; endedAt: string | null; events: Array<{ type: string; message: string }> }>;
}

describe("gefyra run / list / logs / stop / rm", () => {
  const connection = `e2e-cli-${Math.random().toString(36).slice(2, 7)}`;
  const name = `cli-${Math.random().toString(36).slice(2, 7)}`;
  let image = "";

  beforeAll(async () => {
    image = await ensureFixtureImage("web");
    await up({ kubeconfig: kubeconfigPath, name: connection });
  });
  afterAll(async () => {
    await removeLocal(name).catch(() => undefined);
    await down({ kubeconfig: kubeconfigPath, name: connection }).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("runs a container, lists it as JSON, shows its logs, stops and removes it", async () => {
    const started = await gefyra("run", "--image", image, "--name", name, "--connection", connection, "-n", "default", "-p", "18491:8080", "-e", "HELLO=cli", "--json");
    const info = JSON.parse(started.stdout) as { name: string; ip: string; state: string };
    expect(info).toMatchObject({ name, state: "running" });
    expect(info.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    const listed = JSON.parse((await gefyra("list", "--json")).stdout) as { containers: Array<{ name: string; ports: Array<{ hostPort: number }> }> };
    expect(listed.containers.find((c) => c.name === name)?.ports[0]?.hostPort).toBe(18491);

    await fetch("http://127.0.0.1:18491/", { signal: AbortSignal.timeout(5000) }); // something for the logs (busybox httpd logs nothing by default)
    const logs = await gefyra("logs", name);
    expect(logs.stderr).not.toMatch(/gefyra:/);

    expect((await gefyra("stop", name)).stdout).toContain(`${name} stopped`);
    expect((await gefyra("rm", name)).stdout).toContain(`${name} removed`);
    const after = JSON.parse((await gefyra("list", "--json")).stdout) as { containers: Array<{ name: string }> };
    expect(after.containers.some((c) => c.name === name)).toBe(false);

    // the same session history as the dashboard's
    const history = JSON.parse((await gefyra("history", "--kind", "run", "--json")).stdout) as HistoryJson;
    const session = history.sessions.find((h) => h.target === name);
    expect(session?.events.map((e) => e.type)).toEqual(["run", "stop", "remove"]);
    expect(session?.stopReason).toBe("removed");
  });

  it("fails with a non-zero exit and one line naming the fix", async () => {
    const failed = await gefyra("run", "--image", image, "--name", "x", "--connection", "no-such-connection", "-n", "default").then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed?.code).toBe(1);
    // progress lines may precede it; the reason is the last line, and only one line
    expect(failed?.stderr.trim().split("\n").at(-1)).toBe("gefyra: no connection 'no-such-connection' is up on this machine: run 'gefyra up' first");
    const history = JSON.parse((await gefyra("history", "--kind", "run", "--json")).stdout) as HistoryJson;
    const session = history.sessions.find((h) => h.target === "x");
    expect(session?.stopReason).toBe("failed");
    expect(session?.events.at(-1)?.message).toMatch(/run 'gefyra up' first/);
    const badPort = await gefyra("run", "--image", image, "--name", "y", "-p", "80", "-n", "default").then(() => undefined, (e: { stderr: string }) => e);
    expect(badPort?.stderr).toMatch(/write HOST:CONTAINER \(Docker's order\)/);
  });
});
