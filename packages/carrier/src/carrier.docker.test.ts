/**
 * The real image, gefyra-ts/carrier:0.1.0, in the Docker engine at the default socket (nothing is
 * built here: bash images/build.sh --no-load carrier). A missing engine or image fails every test
 * with the reason. Containers are named carrier-test-<pid>-<n> and removed afterwards.
 *
 * What a bridged pod does to Carrier's image, in Docker terms: the pod's command runs against it
 * (--entrypoint /bin/sh … -c "node server.js"), the operator configures it through exec
 * (/opt/carrier/bin/carrier apply), people exec shells into it; as another uid, with a read-only
 * root (with and without a writable /tmp), and in a shared PID namespace.
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CARRIER_APPLY_COMMAND, CARRIER_LAUNCH_NAMES, CARRIER_LAUNCH_PATHS, CARRIER_LAUNCHER_PATH, CARRIER_SHIM_DIR, CARRIER_STATUS_COMMAND } from "../../shared/src/carrier-launch";
import type { RuntimeStatus } from "./runtime";

const IMAGE = "gefyra-ts/carrier:0.1.0";
const TOKEN = "docker-test-token-0123456789";
const T = 120_000;

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function docker(args: string[], input?: string, timeout = 60_000): Run {
  const r = spawnSync("docker", args, { input: input ?? "", encoding: "utf8", timeout });
  if (r.error) return { code: null, out: "", err: r.error.message };
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const created: string[] = [];
let n = 0;
function name(): string {
  const c = `carrier-test-${process.pid}-${++n}`;
  created.push(c);
  return c;
}

/** Why these tests cannot run here (each one fails with it: a missing engine or image is never a pass or a skip). */
let unavailable: string | undefined;
beforeAll(() => {
  const v = docker(["version", "--format", "{{.Server.Version}}"], undefined, 20_000);
  if (v.code !== 0) {
    unavailable = `no Docker engine answers at the default socket (docker version: ${(v.err || v.out).trim().split("\n")[0]}); start it (npm run setup): this test needs the real engine and image`;
    return;
  }
  const i = docker(["image", "inspect", "--format", "{{.Id}}", IMAGE], undefined, 20_000);
  if (i.code !== 0) unavailable = `the image ${IMAGE} is not in the Docker engine; build it first: bash images/build.sh --no-load carrier`;
}, 60_000);

/** A test that needs the engine and the image. */
function dockerIt(title: string, fn: () => Promise<void> | void): void {
  it(
    title,
    async () => {
      if (unavailable) throw new Error(unavailable);
      await fn();
    },
    T,
  );
}

afterAll(() => {
  if (created.length) docker(["rm", "-f", ...created]);
}, 60_000);

/** `docker run -d` the pod's command against Carrier's image. */
function runContainer(c: string, opts: string[], entrypoint: string[] = ["--entrypoint", "/bin/sh"], args: string[] = ["-c", "node server.js"]): void {
  const r = docker(["run", "-d", "--name", c, ...opts, ...entrypoint, IMAGE, ...args]);
  expect(r.code, `docker run ${c}: ${r.err}`).toBe(0);
}

function exec(c: string, cmd: string[], input?: string, opts: string[] = []): Run {
  return docker(["exec", ...(input !== undefined ? ["-i"] : []), ...opts, c, ...cmd], input);
}

async function standby(c: string): Promise<RuntimeStatus> {
  let last: Run | undefined;
  for (let i = 0; i < 100; i++) {
    last = exec(c, [...CARRIER_STATUS_COMMAND]);
    if (last.code === 0) return JSON.parse(last.out) as RuntimeStatus;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${c}: carrier status never answered (${last?.err.trim()}); logs: ${docker(["logs", c]).out}${docker(["logs", c]).err}`);
}

const applyDoc = (routes: unknown, ports = [8080]) => JSON.stringify({ config: { listen: { ports }, routes }, token: TOKEN });

/** GET a URL with the image's own node (through the launcher: node passes through for exec'd processes). */
function fetchIn(c: string, url: string): Run {
  return exec(c, ["node", "-e", "fetch(process.argv[1]).then(async (r) => console.log(r.status + ' ' + (await r.text()).trim()), (e) => { console.error(String(e.cause ?? e)); process.exit(1); })", url]);
}

/** The common walk: standby → apply on 8080 → probe answer through Carrier → sh passes through. */
async function basicWalk(c: string, socket: RegExp): Promise<void> {
  const st = await standby(c);
  expect(st).toMatchObject({ configured: false, revision: 0, ports: [] });
  expect(st.socket).toMatch(socket);
  const applied = exec(c, [...CARRIER_APPLY_COMMAND], applyDoc({ ports: [{ port: 8080, probePaths: ["/healthz"] }] }));
  expect(applied, applied.err).toMatchObject({ code: 0, out: `${JSON.stringify({ revision: 1, ports: [8080] })}\n`, err: "" });
  expect(fetchIn(c, "http://127.0.0.1:8080/healthz")).toMatchObject({ code: 0, out: "200 ok\n" });
  expect(exec(c, ["sh", "-c", "echo hi"])).toMatchObject({ code: 0, out: "hi\n" });
  expect(exec(c, ["carrier-probe"]).code).toBe(0);
}

describe(`the Carrier image ${IMAGE}`, () => {
  dockerIt(
    "runs a pod's command (/bin/sh -c 'node server.js') as Carrier in standby; carrier apply configures it; it proxies; exec'd programs pass through",
    async () => {
      const c = name();
      runContainer(c, []);
      const st = await standby(c);
      expect(st).toMatchObject({ configured: false, configuredBy: null, pid: 1 });
      expect(st.socket).toMatch(/^\/tmp\/gefyra-carrier-[0-9a-f]+\.sock$/);
      expect(docker(["logs", c]).out).toMatch(/"msg":"carrier standby: waiting for carrier apply".*"standingInFor":"sh","ignoredArgs":2/);
      expect(exec(c, ["carrier-probe"]).code).toBe(1); // standby: not ready yet

      // the "original application": a node server in the same container (node passes through for exec)
      const up = exec(c, ["node", "-e", "require('http').createServer((q, s) => s.end('original ' + q.url)).listen(9000, '127.0.0.1')"], undefined, ["-d"]);
      expect(up.code, up.err).toBe(0);

      const applied = exec(c, [...CARRIER_APPLY_COMMAND], applyDoc({ ports: [{ port: 8080, original: { host: "127.0.0.1", port: 9000 }, probePaths: ["/healthz"] }] }));
      expect(applied, applied.err).toMatchObject({ code: 0, out: `${JSON.stringify({ revision: 1, ports: [8080] })}\n`, err: "" });
      expect(JSON.parse(exec(c, [...CARRIER_STATUS_COMMAND]).out)).toMatchObject({ configured: true, configuredBy: "apply", revision: 1, ports: [8080], controlPort: 8999 });

      // from another container, over the Docker network
      const ip = docker(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", c]).out.trim();
      expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      const other = name();
      let got: Run = { code: null, out: "", err: "" };
      for (let i = 0; i < 20; i++) {
        got = docker(["run", "--rm", "--name", other, "--entrypoint", "/opt/carrier/libexec/node", IMAGE, "-e", "Promise.all(process.argv.slice(1).map((u) => fetch(u).then((r) => r.text()))).then((t) => console.log(JSON.stringify(t)))", `http://${ip}:8080/healthz`, `http://${ip}:8080/hello?x=1`]);
        if (got.code === 0) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(got, got.err).toMatchObject({ code: 0 });
      expect(JSON.parse(got.out)).toEqual(["ok\n", "original /hello?x=1"]);

      // a later apply changes routes live
      const again = exec(c, [...CARRIER_APPLY_COMMAND], applyDoc({ ports: [{ port: 8080, original: { host: "127.0.0.1", port: 9000 }, probePaths: ["/ready"] }] }));
      expect(again.out).toBe(`${JSON.stringify({ revision: 2, ports: [8080] })}\n`);
      expect(fetchIn(c, "http://127.0.0.1:8080/ready")).toMatchObject({ code: 0, out: "200 ok\n" });
      expect(fetchIn(c, "http://127.0.0.1:8080/healthz")).toMatchObject({ code: 0, out: "200 original /healthz\n" });

      // refusals: one line on stderr, nothing changed
      const overlap = exec(c, [...CARRIER_APPLY_COMMAND], applyDoc({ ports: [{ port: 8080, bridges: [{ name: "a", local: { host: "10.0.0.1", port: 1 } }, { name: "b", local: { host: "10.0.0.2", port: 1 } }] }] }));
      expect(overlap.code).toBe(1);
      expect(overlap.err).toMatch(/^carrier apply: ROUTES_OVERLAP: [^\n]+\n$/);
      const bad = exec(c, [...CARRIER_APPLY_COMMAND], "{config:");
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/^carrier apply: BAD_INPUT: stdin is not one JSON document[^\n]+\n$/);
      expect(JSON.parse(exec(c, [...CARRIER_STATUS_COMMAND]).out)).toMatchObject({ revision: 2 });

      // exec'd programs: the real ones, or one line saying they are not here
      expect(exec(c, ["sh", "-c", "echo hi"])).toMatchObject({ code: 0, out: "hi\n" });
      expect(exec(c, ["/bin/sh", "-c", "echo $((6 * 7))"])).toMatchObject({ code: 0, out: "42\n" });
      expect(exec(c, ["bash", "-c", 'echo "bash ${BASH_VERSINFO[0]}"']).out).toMatch(/^bash \d+\n$/);
      expect(exec(c, ["/usr/bin/node", "-p", "1 + 1"])).toMatchObject({ code: 0, out: "2\n" });
      const py = exec(c, ["python3", "-V"]);
      expect(py.code).toBe(127);
      expect(py.err).toMatch(/^python3: not in this container's image[^\n]+\n$/);
      expect(exec(c, ["carrier-probe"]).code).toBe(0);
      // the main process is still Carrier, PID 1
      expect(exec(c, ["/bin/dash", "-c", "tr '\\0' ' ' < /proc/1/cmdline"]).out).toBe("/opt/carrier/libexec/node /opt/carrier/carrier.cjs launch sh 2 ");
      expect(docker(["logs", c]).out).not.toContain(TOKEN);
    },
  );

  dockerIt("runs as an arbitrary uid (--user 12345): the socket is the user's own in /tmp", async () => {
    const c = name();
    runContainer(c, ["--user", "12345"]);
    await basicWalk(c, /^\/tmp\/gefyra-carrier-[0-9a-f]+\.sock$/);
    expect(exec(c, ["/bin/dash", "-c", "id -u; stat -c '%a %u' /tmp/gefyra-carrier-*.sock"]).out).toBe("12345\n600 12345\n");
  });

  dockerIt("with a read-only root and a writable /tmp (--read-only --tmpfs /tmp)", async () => {
    const c = name();
    runContainer(c, ["--read-only", "--tmpfs", "/tmp"]);
    await basicWalk(c, /^\/tmp\/gefyra-carrier-[0-9a-f]+\.sock$/);
  });

  dockerIt("with a read-only root and no writable /tmp (--read-only): an abstract socket", async () => {
    const c = name();
    runContainer(c, ["--read-only", "--user", "23456:0"]);
    await basicWalk(c, /^@gefyra-carrier-[0-9a-f]+$/);
  });

  dockerIt("in a shared PID namespace (shareProcessNamespace: PID 1 is another container's) the main process still becomes Carrier and exec'd shells still pass through", async () => {
    const pause = name();
    runContainer(pause, [], ["--entrypoint", "/usr/bin/sleep"], ["infinity"]);
    const c = name();
    runContainer(c, ["--pid", `container:${pause}`]);
    const st = await standby(c);
    expect(st.pid).not.toBe(1);
    await basicWalk(c, /^\/tmp\/gefyra-carrier-[0-9a-f]+\.sock$/);
    // PID 1 of the namespace is the other container's process, untouched
    expect(exec(c, ["/bin/dash", "-c", "tr '\\0' ' ' < /proc/1/cmdline"]).out).toBe("/usr/bin/sleep infinity ");
  });

  dockerIt("with the image's entrypoint and only args of the original (node images' 'server.js'), Carrier starts and ignores them", async () => {
    const c = name();
    runContainer(c, [], [], ["server.js", "--port", "80"]);
    await basicWalk(c, /^\/tmp\/gefyra-carrier-[0-9a-f]+\.sock$/);
    expect(docker(["logs", c]).out).toMatch(/"standingInFor":"carrier","ignoredArgs":3/);
  });

  dockerIt("loses its configuration with a container restart and takes the next apply (what the operator checks with carrier status)", async () => {
    const c = name();
    runContainer(c, []);
    await basicWalk(c, /gefyra-carrier/);
    expect(docker(["restart", "-t", "2", c]).code).toBe(0);
    expect(await standby(c)).toMatchObject({ configured: false, revision: 0 });
    const r = exec(c, [...CARRIER_APPLY_COMMAND], applyDoc({ ports: [{ port: 8080, probePaths: ["/healthz"] }] }));
    expect(r.out).toBe(`${JSON.stringify({ revision: 1, ports: [8080] })}\n`);
  });

  dockerIt("holds a launcher at every name (on PATH) and path of CARRIER_LAUNCH_NAMES/PATHS, and Debian's node and dash unshadowed", () => {
    const c = name();
    const paths = [...CARRIER_LAUNCH_NAMES.map((x) => `${CARRIER_SHIM_DIR}/${x}`), ...CARRIER_LAUNCH_PATHS];
    const script = `for p in ${paths.join(" ")}; do echo "$p $(readlink -f "$p")"; done; for x in ${CARRIER_LAUNCH_NAMES.join(" ")}; do command -v "$x"; done; echo "$PATH"`;
    const r = docker(["run", "--rm", "--name", c, "--entrypoint", "/bin/dash", IMAGE, "-c", script]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split("\n");
    for (const [i, p] of paths.entries()) expect(lines[i]).toBe(`${p} ${CARRIER_LAUNCHER_PATH}`);
    expect(lines.slice(paths.length, paths.length + CARRIER_LAUNCH_NAMES.length)).toEqual(CARRIER_LAUNCH_NAMES.map((x) => `${CARRIER_SHIM_DIR}/${x}`));
    expect(lines.at(-1)).toMatch(/^\/opt\/carrier\/bin:/);
    const real = docker(["run", "--rm", "--name", name(), "--entrypoint", "/bin/dash", IMAGE, "-c", "head -c 4 /opt/carrier/libexec/node | od -c | head -1; head -c 4 /bin/dash | od -c | head -1; head -1 /opt/carrier/libexec/launch"]);
    expect(real.out).toMatch(/177\s+E\s+L\s+F[\s\S]*177\s+E\s+L\s+F[\s\S]*#!\/bin\/dash/);
  });
});
