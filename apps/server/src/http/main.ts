/**
 * `npm start` runs this (via scripts/start.sh): serve the dashboard and API on loopback and print
 * the URL with the access token. Flags: --port N (or GEFYRA_PORT), --host ADDR, --data-dir DIR
 * (or GEFYRA_DATA_DIR), --dev (Next.js dev mode), --no-web (API only).
 */
import { parseArgs } from "node:util";
import { GefyraError, describeCause } from "../core/errors";
import { startServer, type StartServerOptions } from "./server";

function fail(message: string): never {
  process.stderr.write(`gefyra-ts: ${message}\n`);
  process.exit(1);
}

function parsePort(value: string, from: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`${from} must be a port number 0-65535, got "${value}".`);
  return port;
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        port: { type: "string", short: "p" },
        host: { type: "string" },
        "data-dir": { type: "string" },
        dev: { type: "boolean", default: false },
        "no-web": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }).values;
  } catch (error) {
    fail(`${describeCause(error)} (see --help).`);
  }
  if (args.help) {
    process.stdout.write("usage: npm start -- [--port N] [--host ADDR] [--data-dir DIR] [--dev] [--no-web]\n");
    return;
  }
  process.env.NEXT_TELEMETRY_DISABLED = "1";
  const options: StartServerOptions = { dev: args.dev, web: !args["no-web"] };
  if (args.port !== undefined) options.port = parsePort(args.port, "--port");
  else if (process.env.GEFYRA_PORT) options.port = parsePort(process.env.GEFYRA_PORT, "GEFYRA_PORT");
  if (args.host !== undefined) options.host = args.host;
  if (args["data-dir"] !== undefined) options.dataDir = args["data-dir"];

  let server;
  try {
    server = await startServer(options);
  } catch (error) {
    fail(error instanceof GefyraError ? error.message : `the server failed to start (${describeCause(error)}).`);
  }
  process.stdout.write(`gefyra-ts ${args.dev ? "(dev) " : ""}dashboard: ${server.url}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write("gefyra-ts: forced exit\n");
      process.exit(130);
    }
    stopping = true;
    process.stderr.write(`gefyra-ts: ${signal}, shutting down\n`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => fail(`shutdown failed (${describeCause(error)}).`),
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

await main();
