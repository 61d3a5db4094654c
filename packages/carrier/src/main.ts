/**
 * Carrier's entrypoint (the image runs the esbuild bundle of this file).
 *
 *   carrier           start from CARRIER_CONFIG / CARRIER_CONFIG_JSON and CARRIER_TOKEN(_FILE)
 *   carrier probe     exit 0 when this pod's Carrier answers GET /healthz on its control port
 *                     (what an operator can put in place of an exec probe; docs/carrier.md)
 */
import http from "node:http";
import { Carrier } from "./carrier";
import { ConfigError, loadFromEnv, parseConfig } from "./config";
import { errorText, jsonLogger } from "./log";

const log = jsonLogger();

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "probe") return probe();
  if (argv[0] && argv[0] !== "run") {
    log("error", `unknown command '${argv[0]}'; usage: carrier [run|probe]`);
    return 2;
  }
  let carrier: Carrier;
  try {
    const { config, token } = loadFromEnv();
    carrier = await Carrier.start({ config, token, log });
  } catch (e) {
    log("error", e instanceof ConfigError ? e.message : errorText(e));
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      const graceMs = carrier.config.shutdownGraceMs;
      log("info", "carrier stopping", { signal, graceMs });
      const force = setTimeout(() => resolve(), graceMs + 2000);
      force.unref();
      carrier.close({ graceMs }).then(resolve, resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  return 0;
}

/** GET http://127.0.0.1:<control port>/healthz within 2 s. */
async function probe(): Promise<number> {
  let port = 8999;
  try {
    const raw = process.env.CARRIER_CONFIG_JSON ?? (process.env.CARRIER_CONFIG ? (await import("node:fs")).readFileSync(process.env.CARRIER_CONFIG, "utf8") : undefined);
    if (raw) port = parseConfig(JSON.parse(raw)).control.port;
  } catch {
    // fall back to the default control port
  }
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/healthz", timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? 0 : 1);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(1));
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    log("error", `carrier failed: ${errorText(e)}`);
    process.exit(1);
  },
);
