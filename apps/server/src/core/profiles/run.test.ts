import { describe, expect, it } from "vitest";
import { parseProfiles } from "./profile-file";
import { PROFILE_LABEL, resolveVolume, runOptionsFor } from "./run";

const [profile] = parseProfiles(`apiVersion: gefyra-ts.dev/v1alpha1
kind: BridgeProfile
metadata: { name: api-alice }
spec:
  target: { namespace: shop, workload: deploy/api/app }
  ports: [{ remote: 80, local: 8080 }]
  rules: [{ kind: header, name: x-user, op: exact, value: alice }]
  local: { image: api:dev, envFrom: deploy/api, env: { LOG_LEVEL: debug }, ports: ["9229:9229"] }
personal:
  build: ./api
  volumes: ["./api/src:/app/src", "/abs/cfg:/etc/api:ro"]
`);

describe("what gefyra run gets from a profile", () => {
  it("runs in the target's namespace with the profile's image, env-from, env, ports and volumes, labelled with the profile", () => {
    const options = runOptionsFor(profile!, { containerName: "api-alice", connection: "me", cwd: "/home/alice/work" });
    expect(options).toEqual({
      name: "api-alice",
      connection: "me",
      namespace: "shop",
      image: "api:dev",
      build: "/home/alice/work/api",
      envFrom: "deploy/api",
      env: { LOG_LEVEL: "debug" },
      ports: ["9229:9229"],
      volumes: ["/home/alice/work/api/src:/app/src", "/abs/cfg:/etc/api:ro"],
      labels: { [PROFILE_LABEL]: "api-alice" },
    });
  });

  it("refuses a profile with neither image nor build context, naming the field", () => {
    const bare = { ...profile!, spec: { ...profile!.spec, local: { env: {}, ports: [] } } };
    const { personal: _personal, ...withoutPersonal } = bare;
    expect(() => runOptionsFor(withoutPersonal, { containerName: "x", connection: "c", cwd: "/" })).toThrow(/names no image to run: set spec\.local\.image/);
  });

  it("makes relative volume sources absolute and leaves absolute ones", () => {
    expect(resolveVolume("./src:/app/src:ro", "/w")).toBe("/w/src:/app/src:ro");
    expect(resolveVolume("/x:/y", "/w")).toBe("/x:/y");
    expect(resolveVolume("nonsense", "/w")).toBe("nonsense");
  });
});
