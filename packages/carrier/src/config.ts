/**
 * Carrier's configuration: one JSON document (file or env), validated here and nowhere else.
 *
 *   CARRIER_CONFIG=/etc/carrier/config.json   or   CARRIER_CONFIG_JSON='{"listen":{"ports":[8080]},…}'
 *   CARRIER_TOKEN=…   or   CARRIER_TOKEN_FILE=/var/run/secrets/carrier/token   (or control.tokenFile)
 *
 * The full schema with defaults is CarrierConfigSchema below; docs/carrier.md shows examples.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";

const Port = z.number().int().min(1).max(65535);

export const RecordsConfigSchema = z.object({
  /** Off: no records at all (no capture cost). */
  enabled: z.boolean().default(true),
  /** Ring buffer size (entries) that consumers can resume from with ?since=. */
  bufferSize: z.number().int().min(1).max(1_000_000).default(10_000),
  /** …and at most about this many bytes (captured headers/bodies and their JSON); the oldest go first. */
  bufferBytes: z.number().int().min(64 * 1024).default(64 * 1024 * 1024),
  /** Request and response bodies are captured up to this many bytes each. */
  bodyCapBytes: z.number().int().min(0).max(16 * 1024 * 1024).default(64 * 1024),
  /** Header values of these names are replaced by "[redacted]" (besides authorization, cookie, set-cookie, proxy-authorization). */
  redactHeaders: z.array(z.string()).default([]),
  /** Above this many records per second Carrier samples: full records for 1 in sampleEvery, plus per-second aggregates. */
  maxRatePerSecond: z.number().int().min(1).default(200),
  sampleEvery: z.number().int().min(1).default(10),
  /** Per WebSocket consumer: records queued beyond what the socket has accepted; past it the consumer is told what it lost. */
  consumerQueue: z.number().int().min(1).max(1_000_000).default(1000),
  /** Bytes a consumer's socket may hold unsent before Carrier stops writing to it and queues instead. */
  consumerHighWaterBytes: z.number().int().min(1024).default(1024 * 1024),
});
export type RecordsConfig = z.infer<typeof RecordsConfigSchema>;

export const CarrierConfigSchema = z.object({
  listen: z.object({
    host: z.string().default("0.0.0.0"),
    /** The bridged container's ports; Carrier listens on each. */
    ports: z.array(Port).min(1).max(64),
  }),
  control: z
    .object({
      host: z.string().default("0.0.0.0"),
      /** Separate from every workload port; 0 picks a free one (tests). */
      port: z.number().int().min(0).max(65535).default(8999),
      tokenFile: z.string().optional(),
    })
    .prefault({}),
  /** Initial route table (packages/shared/src/rules RouteTableSchema); validated at start. */
  routes: z.unknown().default({ ports: [] }),
  /** Optional: a JSON route table file, re-read when it changes (a mounted ConfigMap). */
  routesFile: z.string().optional(),
  records: RecordsConfigSchema.prefault({}),
  /** Add `x-gefyra-route` to responses (off: clients see exactly what the destination sent). */
  routeHeader: z.boolean().default(false),
  /** auto ports: how long to wait for the client's first bytes before treating the connection as raw TCP (server-speaks-first protocols). */
  sniffTimeoutMs: z.number().int().min(1).max(60_000).default(500),
  connectTimeoutMs: z.number().int().min(1).max(120_000).default(5000),
  /** On SIGTERM: stop accepting, let requests in flight finish for up to this long, then cut the rest. */
  shutdownGraceMs: z.number().int().min(0).max(120_000).default(5000),
  /**
   * The container's httpGet readiness probe, which Carrier answers. While Carrier drains it fails
   * this one probe, so that kubelet itself reports the pod not ready before Carrier stops listening
   * (decision 0027). Without it Carrier keeps listening a fixed time after SIGTERM.
   */
  readiness: z
    .object({
      port: Port,
      path: z.string().startsWith("/"),
      periodSeconds: z.number().int().min(1).default(10),
      failureThreshold: z.number().int().min(1).default(3),
    })
    .optional(),
})
  .refine((c) => !c.listen.ports.includes(c.control.port), {
    message: "control.port must differ from every workload port in listen.ports (records and routes never share a port with the workload)",
    path: ["control", "port"],
  })
  .refine((c) => new Set(c.listen.ports).size === c.listen.ports.length, { message: "listen.ports has a port twice", path: ["listen", "ports"] });
export type CarrierConfig = z.infer<typeof CarrierConfigSchema>;
export type CarrierConfigInput = z.input<typeof CarrierConfigSchema>;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export function parseConfig(input: unknown, where = "the configuration"): CarrierConfig {
  const r = CarrierConfigSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    const at = issue && issue.path.length ? ` at ${issue.path.join(".")}` : "";
    throw new ConfigError(`${where} is invalid${at}: ${issue?.message ?? "unknown problem"}; see docs/carrier.md`);
  }
  return r.data;
}

/** Read config and token from the environment (the container's entrypoint). */
export function loadFromEnv(env: NodeJS.ProcessEnv = process.env): { config: CarrierConfig; token: string } {
  let raw: unknown;
  let where: string;
  if (env.CARRIER_CONFIG_JSON) {
    where = "CARRIER_CONFIG_JSON";
    raw = parseJson(env.CARRIER_CONFIG_JSON, where);
  } else if (env.CARRIER_CONFIG) {
    where = `config file ${env.CARRIER_CONFIG}`;
    raw = parseJson(readText(env.CARRIER_CONFIG, where), where);
  } else {
    throw new ConfigError("no configuration: set CARRIER_CONFIG to a JSON file or CARRIER_CONFIG_JSON to a JSON document; see docs/carrier.md");
  }
  const config = parseConfig(raw, where);
  const tokenFile = env.CARRIER_TOKEN_FILE ?? config.control.tokenFile;
  const token = (env.CARRIER_TOKEN ?? (tokenFile ? readText(tokenFile, `token file ${tokenFile}`) : "")).trim();
  if (token.length < 16) {
    throw new ConfigError("the control API needs a bearer token of at least 16 characters: set CARRIER_TOKEN or CARRIER_TOKEN_FILE (or control.tokenFile)");
  }
  return { config, token };
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read ${what}: ${(e as Error).message}`);
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ConfigError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}
