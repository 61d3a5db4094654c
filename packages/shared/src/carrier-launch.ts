/**
 * How Carrier is started and configured inside a bridged container (docs/carrier.md, "Standby and
 * apply", "Launchers"; decision 0018).
 *
 * The operator swaps a running pod's container image for Carrier's in place; the pod's env, volumes
 * and `command`/`args` stay. So Carrier starts unconfigured (standby) and the operator configures it
 * through the exec API with CARRIER_APPLY_COMMAND; and the image answers to the commands containers
 * usually run (CARRIER_LAUNCH_NAMES on PATH, CARRIER_LAUNCH_PATHS as absolute paths) with a launcher
 * that starts Carrier when it is the container's main process. carrierCanLaunch tells the operator,
 * before it patches a pod, whether the container's command is one of them.
 *
 * The image is built from these lists (images/carrier/Dockerfile runs `carrier install-launchers`),
 * so what is checked here is what the image holds.
 */

/** Where the image keeps Carrier. */
export const CARRIER_HOME = "/opt/carrier";
/** The shims directory: first on the image's PATH; one launcher per CARRIER_LAUNCH_NAMES entry. */
export const CARRIER_SHIM_DIR = `${CARRIER_HOME}/bin`;
/** Carrier's command line tool (itself a launcher: as the container's main process it starts Carrier). */
export const CARRIER_CLI_PATH = `${CARRIER_SHIM_DIR}/carrier`;
/** The launcher every name and path below is a symbolic link to (a dash script). */
export const CARRIER_LAUNCHER_PATH = `${CARRIER_HOME}/libexec/launch`;
/** Debian's node, moved here so that no launcher shadows it; Carrier always runs on it. */
export const CARRIER_NODE_PATH = `${CARRIER_HOME}/libexec/node`;
/** The esbuild bundle of packages/carrier. */
export const CARRIER_BUNDLE_PATH = `${CARRIER_HOME}/carrier.cjs`;
/** The exec probe Carrier offers in place of a container's own exec probes. */
export const CARRIER_PROBE_PATH = "/usr/local/bin/carrier-probe";

/**
 * Exec (no shell) that configures the running Carrier of a container. stdin: one JSON document
 * `{"config": <CarrierConfigInput>, "token": "<bearer token, ≥16 visible ASCII characters>"}`.
 * stdout: one line `{"revision":N,"ports":[…]}`, exit 0. On any problem: exit ≠ 0 and one line on
 * stderr naming the problem and the fix (exit 1 refused, nothing changed; 2 bad input; 3 no Carrier
 * answers in this container).
 */
export const CARRIER_APPLY_COMMAND: readonly string[] = [CARRIER_CLI_PATH, "apply"];
/**
 * Exec that prints the running Carrier's state as one JSON line:
 * `{"configured","configuredBy","revision","ports","controlPort","pid","socket","startedAt","configuredAt"}`.
 * `configured: false` after a container restart means the operator must apply again. Exit 3 when
 * no Carrier answers in this container.
 */
export const CARRIER_STATUS_COMMAND: readonly string[] = [CARRIER_CLI_PATH, "status"];
/**
 * Exec that starts draining the running Carrier (decision 0027): its readiness probe fails from
 * then on, so kubelet takes the pod out of rotation while Carrier still serves. Prints one JSON
 * line `{"draining","since","failedProbes","outOfRotation","readiness"}`; exit 1 in standby, 3 when
 * no Carrier answers.
 */
export const CARRIER_DRAIN_COMMAND: readonly string[] = [CARRIER_CLI_PATH, "drain"];

/** Bare command names the image's PATH resolves to a launcher (through CARRIER_SHIM_DIR). */
export const CARRIER_LAUNCH_NAMES: readonly string[] = [
  "carrier",
  "sh",
  "bash",
  "node",
  "nodejs",
  "npm",
  "npx",
  "yarn",
  "python",
  "python3",
  "gunicorn",
  "uvicorn",
  "java",
  "nginx",
  "redis-server",
  "tini",
  "dumb-init",
  "docker-entrypoint.sh",
  "entrypoint.sh",
];

/** Absolute paths that are launchers in the image (besides CARRIER_SHIM_DIR/<name>). */
export const CARRIER_LAUNCH_PATHS: readonly string[] = [
  "/bin/sh",
  "/bin/bash",
  "/usr/bin/sh",
  "/usr/bin/bash",
  "/usr/bin/node",
  "/usr/bin/nodejs",
  "/usr/local/bin/node",
  "/usr/bin/npm",
  "/usr/local/bin/npm",
  "/usr/bin/python",
  "/usr/bin/python3",
  "/usr/local/bin/python",
  "/usr/local/bin/python3",
  "/usr/local/bin/gunicorn",
  "/usr/local/bin/uvicorn",
  "/usr/bin/java",
  "/opt/java/openjdk/bin/java",
  "/usr/sbin/nginx",
  "/usr/bin/redis-server",
  "/usr/local/bin/redis-server",
  "/sbin/tini",
  "/usr/bin/tini",
  "/usr/bin/dumb-init",
  "/docker-entrypoint.sh",
  "/entrypoint.sh",
  "/usr/local/bin/docker-entrypoint.sh",
];

/** The image's PATH (ENV PATH in images/carrier/Dockerfile): the shims first. */
export const CARRIER_IMAGE_PATH = `${CARRIER_SHIM_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

export type CarrierLaunchCheck = { ok: true } | { ok: false; reason: string };

/**
 * Whether Carrier's image can stand in for a container whose pod spec has this `command`.
 * `undefined` or `[]`: the image's entrypoint runs (Carrier's own), whatever the `args`.
 * `opts.path`: the PATH the pod's spec sets for the container, if it sets one (kubelet then uses it
 * instead of the image's, and bare names resolve through it).
 */
export function carrierCanLaunch(command: readonly string[] | undefined, opts: { path?: string } = {}): CarrierLaunchCheck {
  if (!command || command.length === 0) return { ok: true };
  const cmd = command[0] ?? "";
  const shown = JSON.stringify(cmd);
  const fix =
    "change the workload's command to one Carrier stands in for (e.g. wrap it: [\"sh\", \"-c\", \"exec <command>\"]) or leave command empty and put the rest in args; see docs/carrier.md, \"Launchers\"";
  if (cmd.startsWith("/")) {
    if (isLauncherPath(cmd)) return { ok: true };
    return { ok: false, reason: `the container's command ${shown} does not exist in Carrier's image, so the bridged container could not start: ${fix}` };
  }
  if (cmd.includes("/") || cmd === "") {
    return { ok: false, reason: `the container's command ${shown} is a relative path, which Carrier's image does not hold: ${fix}` };
  }
  if (opts.path !== undefined) {
    const dirs = opts.path.split(":").map((d) => (d === "" ? "." : d.replace(/\/+$/, "")));
    if (dirs.some((d) => isLauncherPath(`${d}/${cmd}`))) return { ok: true };
    return {
      ok: false,
      reason: `the container's command ${shown} resolves through the pod's own PATH (${opts.path}), on which it is none of Carrier's launchers: put ${CARRIER_SHIM_DIR} first on that PATH, or use an absolute command path Carrier stands in for (docs/carrier.md, "Launchers")`,
    };
  }
  if (CARRIER_LAUNCH_NAMES.includes(cmd)) return { ok: true };
  return { ok: false, reason: `the container's command ${shown} is not a program Carrier's image can stand in for, so the bridged container could not start: ${fix}` };
}

function isLauncherPath(path: string): boolean {
  const normal = path.replace(/\/{2,}/g, "/");
  if (CARRIER_LAUNCH_PATHS.includes(normal)) return true;
  const slash = normal.lastIndexOf("/");
  return normal.slice(0, slash) === CARRIER_SHIM_DIR && CARRIER_LAUNCH_NAMES.includes(normal.slice(slash + 1));
}
