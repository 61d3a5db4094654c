import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadFromEnv, parseConfig } from "./config";

describe("configuration", () => {
  it("fills defaults around the required listen ports", () => {
    const c = parseConfig({ listen: { ports: [8080] } });
    expect(c).toMatchObject({
      listen: { host: "0.0.0.0", ports: [8080] },
      control: { host: "0.0.0.0", port: 8999 },
      routes: { ports: [] },
      records: { enabled: true, bufferSize: 10_000, bodyCapBytes: 65_536, maxRatePerSecond: 200, sampleEvery: 10, consumerQueue: 1000 },
      routeHeader: false,
      sniffTimeoutMs: 500,
    });
  });

  it("reads the config from CARRIER_CONFIG or CARRIER_CONFIG_JSON and the token from CARRIER_TOKEN or a file", () => {
    const dir = mkdtempSync(join(tmpdir(), "carrier-config-"));
    try {
      writeFileSync(join(dir, "config.json"), JSON.stringify({ listen: { ports: [80] }, control: { port: 9000 } }));
      writeFileSync(join(dir, "token"), "from-a-file-0123456789\n");
      const fromFile = loadFromEnv({ CARRIER_CONFIG: join(dir, "config.json"), CARRIER_TOKEN_FILE: join(dir, "token") });
      expect(fromFile.config.control.port).toBe(9000);
      expect(fromFile.token).toBe("from-a-file-0123456789");
      const inline = loadFromEnv({ CARRIER_CONFIG_JSON: '{"listen":{"ports":[81]}}', CARRIER_TOKEN: "inline-token-0123456789" });
      expect(inline.config.listen.ports).toEqual([81]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [{}, /no configuration: set CARRIER_CONFIG/],
    [{ CARRIER_CONFIG_JSON: "{", CARRIER_TOKEN: "x".repeat(20) }, /CARRIER_CONFIG_JSON is not valid JSON/],
    [{ CARRIER_CONFIG_JSON: '{"listen":{"ports":[]}}', CARRIER_TOKEN: "x".repeat(20) }, /CARRIER_CONFIG_JSON is invalid at listen\.ports/],
    [{ CARRIER_CONFIG_JSON: '{"listen":{"ports":[80]}}', CARRIER_TOKEN: "short" }, /bearer token of at least 16 characters/],
    [{ CARRIER_CONFIG: "/nonexistent/carrier.json", CARRIER_TOKEN: "x".repeat(20) }, /cannot read config file \/nonexistent\/carrier\.json/],
    [{ CARRIER_CONFIG_JSON: '{"listen":{"ports":[8999]}}', CARRIER_TOKEN: "x".repeat(20) }, /invalid at control\.port: control\.port must differ/],
  ])("refuses a bad environment with one sentence (%#)", (env, message) => {
    expect(() => loadFromEnv(env as NodeJS.ProcessEnv)).toThrow(ConfigError);
    expect(() => loadFromEnv(env as NodeJS.ProcessEnv)).toThrow(message);
  });
});
