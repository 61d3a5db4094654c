/**
 * Launchers: which commands Carrier can stand in for (carrierCanLaunch, what the operator checks),
 * how a launcher tells the container's main process from an exec'd one (containerRole, on /proc
 * trees laid out as the kernel shows them, and on this machine's own /proc), installing them, and the
 * dash launcher's pass-through on this machine. Its main-process side runs in the image:
 * carrier.docker.test.ts.
 */
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  CARRIER_APPLY_COMMAND,
  CARRIER_CLI_PATH,
  CARRIER_LAUNCH_NAMES,
  CARRIER_LAUNCH_PATHS,
  CARRIER_STATUS_COMMAND,
  carrierCanLaunch,
} from "../../shared/src/carrier-launch";
import { containerRole, installLaunchers } from "./launch";

const dirs: string[] = [];
const tmp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("carrierCanLaunch (the operator's check of a container's command)", () => {
  it("accepts no command (the image's entrypoint runs: Carrier's own, whatever the args)", () => {
    expect(carrierCanLaunch(undefined)).toEqual({ ok: true });
    expect(carrierCanLaunch([])).toEqual({ ok: true });
  });

  it("accepts every launcher name and path, with any arguments", () => {
    for (const name of CARRIER_LAUNCH_NAMES) expect(carrierCanLaunch([name, "whatever"]), name).toEqual({ ok: true });
    for (const path of CARRIER_LAUNCH_PATHS) expect(carrierCanLaunch([path]), path).toEqual({ ok: true });
    for (const c of [["sh", "-c", "node server.js"], ["/bin/sh", "-c", "x"], ["/usr/bin/node", "app.js"], ["python3", "-m", "http.server"], ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"], ["/opt/carrier/bin/node"], ["carrier"]]) {
      expect(carrierCanLaunch(c), c.join(" ")).toEqual({ ok: true });
    }
    expect(CARRIER_LAUNCH_NAMES).toEqual(expect.arrayContaining(["sh", "bash", "node", "npm", "python", "python3", "java", "nginx", "redis-server", "carrier"]));
    expect(CARRIER_LAUNCH_PATHS).toEqual(
      expect.arrayContaining(["/bin/sh", "/bin/bash", "/usr/bin/node", "/usr/local/bin/node", "/usr/bin/python3", "/usr/local/bin/python", "/docker-entrypoint.sh", "/entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh", "/usr/sbin/nginx"]),
    );
    expect(CARRIER_LAUNCH_PATHS).not.toContain("/usr/bin/env");
  });

  it("refuses other programs, relative paths and near misses with one line naming the command and the fix", () => {
    for (const c of [["/app/server"], ["./run.sh"], ["bin/start"], ["ruby", "app.rb"], ["/usr/bin/env", "node"], ["/bin/dash"], ["sleep", "infinity"], ["/usr/local/bin/nodex"], [""]]) {
      const r = carrierCanLaunch(c);
      expect(r.ok, c.join(" ")).toBe(false);
      if (r.ok) continue;
      expect(r.reason).toContain(JSON.stringify(c[0]));
      expect(r.reason).not.toContain("\n");
      expect(r.reason).toMatch(/change the workload's command|docs\/carrier\.md/);
    }
  });

  it("with a PATH of the pod's own, a bare name must resolve to a launcher on it", () => {
    expect(carrierCanLaunch(["node"], { path: "/opt/carrier/bin:/usr/bin" })).toEqual({ ok: true });
    expect(carrierCanLaunch(["node"], { path: "/usr/local/bin:/usr/bin" })).toEqual({ ok: true });
    expect(carrierCanLaunch(["python3"], { path: "/usr/bin" })).toEqual({ ok: true });
    const r = carrierCanLaunch(["redis-server"], { path: "/app/bin" });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/pod's own PATH \(\/app\/bin\).*put \/opt\/carrier\/bin first/);
  });

  it("exports the exec commands of apply and status at a stable absolute path", () => {
    expect(CARRIER_APPLY_COMMAND).toEqual(["/opt/carrier/bin/carrier", "apply"]);
    expect(CARRIER_STATUS_COMMAND).toEqual(["/opt/carrier/bin/carrier", "status"]);
    expect(CARRIER_CLI_PATH).toBe("/opt/carrier/bin/carrier");
  });
});

/** A /proc as the kernel shows it: <pid>/stat ("pid (comm) state ppid … starttime …") and <pid>/cgroup. */
function procTree(procs: { pid: number; ppid: number; start: number; cgroup: string; comm?: string }[]): string {
  const root = tmp("carrier-proc-");
  for (const p of procs) {
    mkdirSync(join(root, String(p.pid)));
    // fields after the command name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority nice threads itreal starttime vsize
    const rest = ["S", p.ppid, p.pid, p.pid, 0, -1, 4194560, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 1, 0, p.start, 1234];
    writeFileSync(join(root, String(p.pid), "stat"), `${p.pid} (${p.comm ?? "x"}) ${rest.join(" ")}\n`);
    writeFileSync(join(root, String(p.pid), "cgroup"), p.cgroup);
  }
  mkdirSync(join(root, "self"));
  writeFileSync(join(root, "uptime"), "1.0 1.0\n");
  return root;
}

describe("containerRole (is this the container's main process?)", () => {
  it("PID 1 of its PID namespace is the main process", () => {
    expect(containerRole(1, procTree([]))).toBe("main");
  });

  it("shareProcessNamespace: PID 1 is the pause process; the oldest process of the container's cgroup is the main one", () => {
    const proc = procTree([
      { pid: 1, ppid: 0, start: 10, cgroup: "0::/../pause\n", comm: "pause" },
      { pid: 7, ppid: 0, start: 500, cgroup: "0::/\n", comm: "dash" },
      { pid: 8, ppid: 0, start: 480, cgroup: "0::/../sidecar\n", comm: "envoy" },
      { pid: 40, ppid: 0, start: 9000, cgroup: "0::/\n", comm: "dash" }, // kubectl exec
      { pid: 41, ppid: 40, start: 9001, cgroup: "0::/\n", comm: "node" }, // its child
      { pid: 42, ppid: 7, start: 9002, cgroup: "0::/\n", comm: "node" }, // launch-role asked by the main's launcher
    ]);
    expect(containerRole(7, proc)).toBe("main");
    expect(containerRole(40, proc)).toBe("exec");
    expect(containerRole(41, proc)).toBe("exec");
    expect(containerRole(42, proc)).toBe("exec");
    // the sidecar's own main process is the oldest of its cgroup
    expect(containerRole(8, proc)).toBe("main");
  });

  it("hostPID: the parent is the runtime's shim, in another cgroup; command names with spaces and parentheses parse", () => {
    const proc = procTree([
      { pid: 1, ppid: 0, start: 1, cgroup: "0::/init.scope\n", comm: "systemd" },
      { pid: 900, ppid: 1, start: 100, cgroup: "0::/system.slice/containerd.service\n", comm: "containerd-shim" },
      { pid: 950, ppid: 900, start: 200, cgroup: "12:pids:/kubepods/pod1/abc\n0::/kubepods/pod1/abc\n", comm: "my (odd) name" },
      { pid: 990, ppid: 900, start: 300, cgroup: "12:pids:/kubepods/pod1/abc\n0::/kubepods/pod1/abc\n", comm: "sh" },
    ]);
    expect(containerRole(950, proc)).toBe("main");
    expect(containerRole(990, proc)).toBe("exec");
  });

  it("started in the same clock tick: the lower PID is the main process; unreadable /proc: never main", () => {
    const proc = procTree([
      { pid: 1, ppid: 0, start: 1, cgroup: "p" },
      { pid: 20, ppid: 0, start: 77, cgroup: "c" },
      { pid: 21, ppid: 0, start: 77, cgroup: "c" },
    ]);
    expect(containerRole(20, proc)).toBe("main");
    expect(containerRole(21, proc)).toBe("exec");
    expect(containerRole(33, proc)).toBe("exec");
    expect(containerRole(20, join(proc, "missing"))).toBe("exec");
  });

  it("on this machine's /proc, this test process is not a container's main process (its parent shares its cgroup)", () => {
    expect(containerRole(process.pid)).toBe("exec");
  });
});

describe("installLaunchers (image build step)", () => {
  it("links every name and path to the launcher, replaces symbolic links, creates directories, and is idempotent", () => {
    const root = tmp("carrier-install-");
    mkdirSync(join(root, "usr/bin"), { recursive: true });
    symlinkSync("dash", join(root, "usr/bin/sh")); // Debian's /bin/sh
    const opts = { root, launcher: "/opt/carrier/libexec/launch", shimDir: "/opt/carrier/bin", names: ["sh", "node"], paths: ["/usr/bin/sh", "/usr/local/bin/node", "/opt/java/openjdk/bin/java"] };
    expect(installLaunchers(opts)).toEqual(["/opt/carrier/bin/sh", "/opt/carrier/bin/node", "/usr/bin/sh", "/usr/local/bin/node", "/opt/java/openjdk/bin/java"]);
    for (const p of ["/opt/carrier/bin/sh", "/usr/bin/sh", "/opt/java/openjdk/bin/java"]) {
      expect(lstatSync(join(root, p)).isSymbolicLink()).toBe(true);
      expect(readlinkSync(join(root, p))).toBe("/opt/carrier/libexec/launch");
    }
    expect(installLaunchers(opts)).toEqual([]);
  });

  it("refuses to replace a real program (it must be moved aside first)", () => {
    const root = tmp("carrier-install-");
    mkdirSync(join(root, "usr/bin"), { recursive: true });
    writeFileSync(join(root, "usr/bin/node"), "ELF");
    expect(() => installLaunchers({ root, launcher: "/l", shimDir: "/opt/carrier/bin", names: [], paths: ["/usr/bin/node"] })).toThrow(/\/usr\/bin\/node is a real file of the image; move it aside/);
  });
});

describe("the dash launcher run by an exec'd process (not the main one)", () => {
  const launch = fileURLToPath(new URL("../../../images/carrier/launch", import.meta.url));
  const as = (name: string) => {
    const d = tmp("carrier-launch-");
    symlinkSync(launch, join(d, name));
    return join(d, name);
  };

  it("sh is dash", () => {
    const r = spawnSync(as("sh"), ["-c", "echo hi from $0"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("hi from /bin/dash\n");
  });

  it("a program the image does not hold: exit 127 and one line naming it", () => {
    const r = spawnSync(as("python3"), ["-V"], { encoding: "utf8" });
    expect(r.status).toBe(127);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^python3: not in this container's image: the container runs Carrier \(gefyra-ts\) while it is bridged[^\n]*\n$/);
  });
});
