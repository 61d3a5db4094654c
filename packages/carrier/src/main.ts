/**
 * Carrier's entrypoint (the image runs the esbuild bundle of this file).
 *
 *   carrier [run]            start: from CARRIER_CONFIG / CARRIER_CONFIG_JSON and CARRIER_TOKEN(_FILE)
 *                            when set, else in standby until `carrier apply` (docs/carrier.md)
 *   carrier launch NAME [N]  the same, as the container's main process started through the launcher
 *                            installed as NAME (the pod's command; its N arguments are not Carrier's)
 *   carrier apply            configure this container's Carrier: stdin {"config": …, "token": "…"}
 *   carrier status           this container's Carrier as one JSON line
 *   carrier probe            exit 0 when this container's Carrier is configured and answers GET /healthz
 *                            on its control port (what an operator can put in place of an exec probe)
 *   carrier launch-role PID  "main" or "exec": whether PID is its container's main process (launch.ts)
 *   carrier install-launchers   image build step: the launcher under every name and path
 */
import { readFileSync } from "node:fs";
import {
  CARRIER_LAUNCH_NAMES,
  CARRIER_LAUNCH_PATHS,
  CARRIER_LAUNCHER_PATH,
  CARRIER_SHIM_DIR,
} from "../../shared/src/carrier-launch";
import { Carrier } from "./carrier";
import { applyCommand, drainCommand, EXIT, probeCommand, statusCommand, type CliIO } from "./cli";
import { ConfigError, loadFromEnv, parseConfig } from "./config";
import { containerRole, installLaunchers } from "./launch";
import { errorText, jsonLogger } from "./log";
import { CarrierRuntime } from "./runtime";

const log = jsonLogger();

const io: CliIO = {
  readStdin: async () => {
    if (process.stdin.isTTY) return undefined;
    const chunks: Buffer[] = [];
    for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks).toString("utf8");
  },
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

const USAGE = "usage: carrier [run] | apply | status | drain | probe | launch NAME [N] | launch-role PID | install-launchers";

async function main(argv: string[]): Promise<number> {
  switch (argv[0]) {
    case undefined:
    case "run":
      return serve();
    case "launch":
      return serve({ standingInFor: argv[1] ?? "?", args: Number(argv[2] ?? 0) });
    case "apply":
      return applyCommand(io);
    case "status":
      return statusCommand(io);
    case "drain":
      return drainCommand(io);
    case "probe":
      return probeCommand(io, envControlPort);
    case "launch-role": {
      const pid = Number(argv[1]);
      if (!Number.isInteger(pid) || pid < 1) {
        io.err("carrier launch-role: give the PID to decide for, e.g. carrier launch-role $$");
        return EXIT.usage;
      }
      io.out(containerRole(pid));
      return EXIT.ok;
    }
    case "install-launchers": {
      const made = installLaunchers({ launcher: CARRIER_LAUNCHER_PATH, shimDir: CARRIER_SHIM_DIR, names: CARRIER_LAUNCH_NAMES, paths: CARRIER_LAUNCH_PATHS });
      io.out(`installed ${made.length} launchers: ${made.join(" ")}`);
      return EXIT.ok;
    }
    default:
      io.err(`carrier: unknown command '${argv[0]}'; ${USAGE}`);
      return EXIT.usage;
  }
}

/** Carrier itself: configured from the environment, or in standby for `carrier apply`. */
async function serve(launched?: { standingInFor: string; args: number }): Promise<number> {
  let runtime: CarrierRuntime;
  try {
    const fromEnv = Boolean(process.env.CARRIER_CONFIG_JSON || process.env.CARRIER_CONFIG);
    let carrier: Carrier | undefined;
    if (fromEnv) {
      const { config, token } = loadFromEnv();
      carrier = await Carrier.start({ config, token, log });
    }
    try {
      runtime = await CarrierRuntime.open({ log, ...(carrier ? { carrier } : {}) });
    } catch (e) {
      await carrier?.close();
      throw e;
    }
    if (!carrier) {
      // only the name: the pod's arguments may hold secrets, and they mean nothing to Carrier
      log("info", "carrier standby: waiting for carrier apply", { socket: runtime.socket, pid: process.pid, ...(launched ? { standingInFor: launched.standingInFor, ignoredArgs: launched.args } : {}) });
    }
  } catch (e) {
    log("error", e instanceof ConfigError ? e.message : errorText(e));
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      const carrier = runtime.carrier;
      const graceMs = carrier?.config.shutdownGraceMs ?? 0;
      // SIGTERM means "your pod is being taken out of rotation" (unbridge swaps the original back,
      // a rollout replaces the pod): Services may still send new connections until kubelet, the
      // endpoints and kube-proxy follow, so keep accepting (and routing) until they have
      // (decision 0027), then close the listeners.
      const draining =
        signal === "SIGTERM" && carrier
          ? carrier.drainAfterSigterm({
              fixedMs: Number(process.env.CARRIER_SHUTDOWN_DELAY_MS ?? 3000),
              maxMs: Number(process.env.CARRIER_SHUTDOWN_DELAY_MAX_MS ?? 10_000),
              settleMs: Number(process.env.CARRIER_SHUTDOWN_SETTLE_MS ?? 2000),
            })
          : Promise.resolve();
      log("info", "carrier stopping", { signal, graceMs, drain: carrier?.drainState() ?? null });
      void draining.then(() => {
        log("info", "carrier closing its listeners", { drain: carrier?.drainState() ?? null });
        const force = setTimeout(() => resolve(), graceMs + 2000);
        force.unref();
        void runtime.close({ graceMs }).then(resolve, resolve);
      });
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  return 0;
}

/** The control port of the environment's configuration (default 8999). */
function envControlPort(): number {
  try {
    const raw = process.env.CARRIER_CONFIG_JSON ?? (process.env.CARRIER_CONFIG ? readFileSync(process.env.CARRIER_CONFIG, "utf8") : undefined);
    if (raw) return parseConfig(JSON.parse(raw)).control.port;
  } catch {
    // the default then
  }
  return 8999;
}

main(process.argv.slice(2)).then(
  // stdout and stderr are written synchronously on Linux (files, pipes, terminals): nothing is cut
  (code) => process.exit(code),
  (e: unknown) => {
    log("error", `carrier failed: ${errorText(e)}`);
    process.exit(1);
  },
);
