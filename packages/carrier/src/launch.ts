/**
 * Launchers (decision 0018, docs/carrier.md "Launchers"): the image answers to the commands
 * containers usually run (sh, node, python, /docker-entrypoint.sh, …) with one dash script,
 * images/carrier/launch. As the container's main process it starts Carrier in standby; run any
 * other way (kubectl exec, the operator's exec, a child of either) it is the real program or says
 * that the program is not in this image.
 *
 * The script decides the common cases itself (PID 1; a parent in this container; PID 1 of the PID
 * namespace in this container) and asks `carrier launch-role <pid>` (containerRole) only when the
 * PID namespace is shared (shareProcessNamespace: PID 1 is the pause process) or is the host's.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, unlinkSync } from "node:fs";
import { dirname, join } from "node:path";

export type ContainerRole = "main" | "exec";

/**
 * Whether process `pid` is its container's main process. Processes of one container share its
 * cgroup (kubelet's and docker's exec put the exec'd process into it); its main process started
 * first, since nothing can be exec'd into a container before its main process runs. So `pid` is the
 * main process when it is PID 1, or when its parent is outside the container (PPID 0 across a PID
 * namespace boundary, or a runtime's shim in the host's namespace) and no other process of its
 * cgroup started before it. Unreadable /proc: "exec" (never a second Carrier).
 */
export function containerRole(pid: number, proc = "/proc"): ContainerRole {
  if (pid === 1) return "main";
  const mine = readProc(proc, pid, "cgroup");
  const me = procStat(proc, pid);
  if (mine === undefined || !me) return "exec";
  if (me.ppid !== 0 && readProc(proc, me.ppid, "cgroup") === mine) return "exec";
  let entries: string[];
  try {
    entries = readdirSync(proc);
  } catch {
    return "exec";
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const other = Number(e);
    if (other === pid || readProc(proc, other, "cgroup") !== mine) continue;
    const st = procStat(proc, other);
    if (st && (st.start < me.start || (st.start === me.start && other < pid))) return "exec";
  }
  return "main";
}

function readProc(proc: string, pid: number, file: string): string | undefined {
  try {
    return readFileSync(join(proc, String(pid), file), "utf8");
  } catch {
    return undefined;
  }
}

/** ppid and start time (clock ticks since boot) from /proc/<pid>/stat; the command name may hold spaces and parentheses. */
function procStat(proc: string, pid: number): { ppid: number; start: bigint } | undefined {
  const text = readProc(proc, pid, "stat");
  if (!text) return undefined;
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // after "pid (comm) ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime
  const ppid = Number(fields[1]);
  const start = fields[19];
  if (!Number.isInteger(ppid) || !start || !/^\d+$/.test(start)) return undefined;
  return { ppid, start: BigInt(start) };
}

/**
 * Make every name (in `shimDir`) and path a symbolic link to `launcher`. Run once while building
 * the image, as root. Existing symbolic links (Debian's /bin/sh → dash) are replaced; a regular file
 * is refused — the real program must be moved aside first (the Dockerfile moves node and bash),
 * so that nothing of the image is lost unnoticed. `root` prefixes every path (tests).
 */
export function installLaunchers(opts: { launcher: string; shimDir: string; names: readonly string[]; paths: readonly string[]; root?: string }): string[] {
  const root = opts.root ?? "";
  const targets = [...opts.names.map((n) => `${opts.shimDir}/${n}`), ...opts.paths];
  const made: string[] = [];
  for (const target of targets) {
    const at = root + target;
    let existing;
    try {
      existing = lstatSync(at);
    } catch {
      existing = undefined;
    }
    if (existing?.isSymbolicLink()) {
      if (readlinkSync(at) === opts.launcher) continue;
      unlinkSync(at);
    } else if (existing) {
      throw new Error(`${target} is a real file of the image; move it aside before installing the launcher there (images/carrier/Dockerfile)`);
    }
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync(opts.launcher, at);
    made.push(target);
  }
  return made;
}
