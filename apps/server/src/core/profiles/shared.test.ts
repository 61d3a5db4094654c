import { describe, expect, it } from "vitest";
import { lastWriter, sharedDigest, toSharedProfile } from "./shared";
import { parseProfiles } from "./profile-file";

const spec = { target: { namespace: "shop", workload: "deploy/api" }, ports: [{ remote: 80, local: 8080 }], rules: [], local: { env: {}, ports: [] } };

describe("shared profiles: reading cluster objects", () => {
  it("names the writer of the newest change: the publisher for gefyra writes, else the field manager", () => {
    const annotations = { "gefyra-ts.dev/published-by": "alice@laptop" };
    const ours = { manager: "gefyra-ts:alice@laptop", operation: "Update", time: new Date("2026-01-01T10:00:00Z") };
    const kubectl = { manager: "kubectl-edit", operation: "Update", time: new Date("2026-01-01T11:00:00Z") };
    expect(lastWriter({ annotations, managedFields: [ours] })).toEqual({ by: "alice@laptop", at: "2026-01-01T10:00:00.000Z" });
    expect(lastWriter({ annotations, managedFields: [ours, kubectl] })).toEqual({ by: "kubectl-edit", at: "2026-01-01T11:00:00.000Z" });
    expect(lastWriter({ managedFields: [{ ...ours, manager: "gefyra-ts:bob@pc" }] }).by).toBe("bob@pc");
    expect(lastWriter({ annotations })).toEqual({ by: "alice@laptop", at: null });
    expect(lastWriter({})).toEqual({ by: null, at: null });
  });

  it("turns an object into a profile, or says why it is not one", () => {
    const good = toSharedProfile({
      apiVersion: "gefyra-ts.dev/v1alpha1",
      kind: "BridgeProfile",
      metadata: { name: "api", resourceVersion: "42", uid: "u1", annotations: { "gefyra-ts.dev/description": "team api" } },
      spec,
    });
    expect(good).toMatchObject({ name: "api", resourceVersion: "42", uid: "u1", profile: { metadata: { name: "api", description: "team api" }, spec: { target: spec.target } } });
    expect(good.profile?.personal).toBeUndefined();
    const bad = toSharedProfile({ apiVersion: "gefyra-ts.dev/v1alpha1", kind: "BridgeProfile", metadata: { name: "x" }, spec: { ...spec, ports: [{ remote: 0, local: 1 }] } });
    expect(bad.profile).toBeNull();
    expect(bad.problem).toBe("spec.ports.0.remote: must be a port number 1..65535");
  });

  it("compares what is shared regardless of key order, ignoring personal values", () => {
    const [a] = parseProfiles(`apiVersion: gefyra-ts.dev/v1alpha1
kind: BridgeProfile
metadata: { name: p }
spec:
  target: { namespace: shop, workload: deploy/api }
  ports: [{ remote: 80, local: 8080 }]
personal: { volumes: ["/a:/b"] }
`);
    const [b] = parseProfiles(`apiVersion: gefyra-ts.dev/v1alpha1
kind: BridgeProfile
metadata: { name: p }
spec:
  ports: [{ local: 8080, remote: 80 }]
  target: { workload: deploy/api, namespace: shop }
`);
    expect(sharedDigest(a!)).toBe(sharedDigest(b!));
    expect(sharedDigest({ ...a!, metadata: { name: "p", description: "x" } })).not.toBe(sharedDigest(b!));
  });
});
