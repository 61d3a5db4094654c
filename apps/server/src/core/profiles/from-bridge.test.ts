import { describe, expect, it } from "vitest";
import { BUILD_LABEL, ENV_FROM_LABEL, ENV_KEYS_LABEL } from "../run/local-container";
import { formatPublishedPort, profileFromBridge, type FromBridgeInput, type LocalContainerFacts } from "./from-bridge";
import { parseProfiles, formatProfiles } from "./profile-file";
import { checkProfile } from "./validate";

// Test doubles: what listBridges and Docker inspect would return, written by hand.
const fakeBridge: FromBridgeInput["bridge"] = {
  name: "api-alice",
  namespace: "shop",
  target: { kind: "deployment", name: "api", container: "app" },
  ports: [{ remote: 8080, local: 3000 }],
  match: [{ kind: "header", name: "x-user", op: "exact", value: "alice" }],
  local: "api-alice",
};

function fakeContainer(overrides: Partial<LocalContainerFacts> = {}): LocalContainerFacts {
  return {
    name: "api-alice",
    image: "api:dev",
    env: ["PATH=/usr/local/bin:/usr/bin", "PORT=8080", "DB_PASSWORD=s3cret", "KUBERNETES_SERVICE_HOST=10.96.0.1", "LOG_LEVEL=debug"],
    imageEnv: ["PATH=/usr/local/bin:/usr/bin", "PORT=8080"],
    labels: { [ENV_FROM_LABEL]: "deploy/api", [ENV_KEYS_LABEL]: JSON.stringify(["LOG_LEVEL"]) },
    binds: ["/home/alice/api/src:/app/src", "/home/alice/cfg:/etc/api:ro"],
    ports: [
      { hostIp: "127.0.0.1", hostPort: 9229, containerPort: 9229, protocol: "tcp" },
      { hostIp: "0.0.0.0", hostPort: 5353, containerPort: 53, protocol: "udp" },
    ],
    ...overrides,
  };
}

describe("a profile from a running bridge", () => {
  it("takes target, ports and rules from the bridge and the local side from the container", () => {
    const { profile, notes } = profileFromBridge({ name: "api-alice", bridge: fakeBridge, container: fakeContainer() });
    expect(notes).toEqual([]);
    expect(profile.metadata).toEqual({ name: "api-alice", description: "saved from bridge api-alice" });
    expect(profile.spec).toEqual({
      target: { namespace: "shop", workload: "deploy/api/app" },
      ports: [{ remote: 8080, local: 3000 }],
      rules: [{ kind: "header", name: "x-user", op: "exact", value: "alice" }],
      local: { image: "api:dev", envFrom: "deploy/api", env: { LOG_LEVEL: "debug" }, ports: ["9229:9229", "0.0.0.0:5353:53/udp"] },
    });
    // host paths are personal: an export without --personal leaves them out
    expect(profile.personal).toEqual({ volumes: ["/home/alice/api/src:/app/src", "/home/alice/cfg:/etc/api:ro"] });
    expect(formatProfiles([profile])).not.toContain("/home/alice");
    expect(parseProfiles(formatProfiles([profile], { personal: true }))).toEqual([profile]);
  });

  it("never copies what env-from brought (Secrets) or what the image sets", () => {
    const { profile } = profileFromBridge({ name: "p", bridge: fakeBridge, container: fakeContainer() });
    expect(JSON.stringify(profile)).not.toContain("s3cret");
    expect(profile.spec.local.env).not.toHaveProperty("PATH");
  });

  it("without the env-keys label takes out the image's variables and the env-from workload's values, and says so", () => {
    const container = fakeContainer({ labels: {}, env: [...fakeContainer().env, "DB_HOST=override"] });
    const { profile, notes } = profileFromBridge({
      name: "p",
      bridge: fakeBridge,
      container,
      envFrom: { ref: "deploy/api/app", environment: { DB_PASSWORD: "s3cret", KUBERNETES_SERVICE_HOST: "10.96.0.1", DB_HOST: "db" } },
    });
    expect(profile.spec.local.envFrom).toBe("deploy/api/app");
    // a value that differs from the workload's was set on purpose
    expect(profile.spec.local.env).toEqual({ LOG_LEVEL: "debug", DB_HOST: "override" });
    expect(notes.join("\n")).toMatch(/does not record which variables were set explicitly/);
  });

  it("keeps a build context personal and leaves out the tag gefyra gave the build", () => {
    const built = fakeContainer({ image: "gefyra-ts-local/api-alice:latest", labels: { [ENV_KEYS_LABEL]: "[]", [BUILD_LABEL]: "/home/alice/api" }, binds: [] });
    const { profile } = profileFromBridge({ name: "p", bridge: fakeBridge, container: built });
    expect(profile.spec.local.image).toBeUndefined();
    expect(profile.personal).toEqual({ build: "/home/alice/api", volumes: [] });
    const named = profileFromBridge({ name: "p", bridge: fakeBridge, container: { ...built, image: "team/api:dev" } });
    expect(named.profile.spec.local.image).toBe("team/api:dev");
  });

  it("leaves out volumes and variables a profile cannot hold, with a note each", () => {
    const { profile, notes } = profileFromBridge({
      name: "p",
      bridge: { ...fakeBridge, target: { kind: "statefulset", name: "db", container: "main" }, match: [] },
      container: fakeContainer({ binds: ["/a:/b:ro,z", "named-volume:/data"], env: ["1BAD=x"], labels: { [ENV_KEYS_LABEL]: '["1BAD"]' } }),
    });
    expect(profile.spec.target.workload).toBe("statefulset/db/main");
    expect(profile.spec.rules).toEqual([]);
    expect(profile.spec.local.env).toEqual({});
    // "named-volume:/data" has the shape of a host path: Docker would have made it one
    expect(profile.personal?.volumes).toEqual(["named-volume:/data"]);
    expect(notes).toEqual(["variable 1BAD left out: not a name a profile can hold", "volume /a:/b:ro,z left out: a profile holds HOST_PATH:CONTAINER_PATH[:ro] only"]);
  });

  it("refuses a name that is not a profile name with the schema's reason", () => {
    expect(() => profileFromBridge({ name: "Not_A_Label", bridge: fakeBridge, container: fakeContainer() })).toThrow(/metadata\.name: must be a lowercase DNS label/);
  });

  it("writes published ports as gefyra run -p takes them", () => {
    expect(formatPublishedPort({ hostIp: "127.0.0.1", hostPort: 8080, containerPort: 80, protocol: "tcp" })).toBe("8080:80");
    expect(formatPublishedPort({ hostIp: "", hostPort: 8080, containerPort: 80, protocol: "tcp" })).toBe("8080:80");
    expect(formatPublishedPort({ hostIp: "10.0.0.2", hostPort: 53, containerPort: 53, protocol: "udp" })).toBe("10.0.0.2:53:53/udp");
  });
});

describe("checkProfile (the dashboard's form)", () => {
  it("names every field at fault with the schema's message", () => {
    const r = checkProfile({
      apiVersion: "gefyra-ts.dev/v1alpha1",
      kind: "BridgeProfile",
      metadata: { name: "Bad Name", colour: "red" },
      spec: { target: { namespace: "shop", workload: "api" }, ports: [{ remote: 0, local: 8080 }], local: { ports: ["x"] } },
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const byField = Object.fromEntries(r.problems.map((p) => [p.field, p.message]));
    expect(byField["metadata.name"]).toMatch(/must be a lowercase DNS label/);
    expect(byField["metadata.colour"]).toBe("unknown field (colour)");
    expect(byField["spec.target.workload"]).toMatch(/must be deploy\/NAME/);
    expect(byField["spec.ports[0].remote"]).toMatch(/must be a port number/);
    expect(byField["spec.local.ports[0]"]).toMatch(/must be HOST:CONTAINER/);
  });
});
