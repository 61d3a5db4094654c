import { describe, expect, it } from "vitest";
import { draftFromProfile, emptyDraft, fieldOf, problemsByField, profileFromDraft } from "./profileForm";
import type { ProfileFile } from "./types";

const profile: ProfileFile = {
  apiVersion: "gefyra-ts.dev/v1alpha1",
  kind: "BridgeProfile",
  metadata: { name: "api-alice", description: "checkout" },
  spec: {
    target: { namespace: "shop", workload: "deploy/api/app" },
    ports: [{ remote: 80, local: 8080 }],
    rules: [
      { kind: "header", name: "x-user", op: "exact", value: "alice" },
      { kind: "path", op: "prefix", value: "/v2" },
    ],
    local: { image: "api:dev", envFrom: "deploy/api", env: { LOG_LEVEL: "debug", EMPTY: "" }, ports: ["9229:9229"] },
  },
  personal: { build: "./api", volumes: ["/src:/app/src:ro"] },
};

describe("the profile form", () => {
  it("round-trips a profile through the form's text fields", () => {
    expect(profileFromDraft(draftFromProfile(profile))).toEqual({ profile, problems: [] });
  });

  it("leaves out empty optional fields and the personal part when it is empty", () => {
    const d = { ...emptyDraft("shop"), name: "p", workload: "deploy/api", ports: "8080", image: "x:1" };
    expect(profileFromDraft(d).profile).toEqual({
      apiVersion: "gefyra-ts.dev/v1alpha1",
      kind: "BridgeProfile",
      metadata: { name: "p" },
      spec: { target: { namespace: "shop", workload: "deploy/api" }, ports: [{ remote: 8080, local: 8080 }], rules: [], local: { image: "x:1", env: {}, ports: [] } },
    });
  });

  it("names lines that are not REMOTE:LOCAL or KEY=VALUE; out-of-range numbers are left to the schema", () => {
    const d = { ...emptyDraft("shop"), ports: "8080:x\n70000:1", env: "NOPE" };
    const r = profileFromDraft(d);
    expect(r.problems).toEqual([
      { field: "ports", message: '"8080:x" is not REMOTE:LOCAL: write e.g. 8080:8080 (the workload\'s port, then your container\'s)' },
      { field: "env", message: '"NOPE" is not KEY=VALUE: write one variable per line, e.g. LOG_LEVEL=debug' },
    ]);
    expect((r.profile as ProfileFile).spec.ports[1]).toEqual({ remote: 70000, local: 1 });
  });

  it("puts the schema's problems beside their fields, saying which line or rule", () => {
    expect(fieldOf("spec.local.ports[0]")).toBe("published");
    expect(fieldOf("spec.local.env.1X")).toBe("env");
    expect(fieldOf("apiVersion")).toBe("form");
    expect(
      problemsByField([
        { field: "metadata.name", message: "must be a lowercase DNS label" },
        { field: "spec.ports[1].remote", message: "must be a port number 1..65535" },
        { field: "spec.rules[0].name", message: "must be an HTTP header name" },
        { field: "spec.local.env.1X", message: "is not an environment variable name" },
        { field: "personal.volumes[0]", message: "must be HOST_PATH:CONTAINER_PATH[:ro]" },
      ]),
    ).toEqual({
      name: ["must be a lowercase DNS label"],
      ports: ["line 2: must be a port number 1..65535"],
      rules: ["rule 1: must be an HTTP header name"],
      env: ["1X: is not an environment variable name"],
      volumes: ["line 1: must be HOST_PATH:CONTAINER_PATH[:ro]"],
    });
  });
});
