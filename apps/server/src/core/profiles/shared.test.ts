import { describe, expect, it } from "vitest";
import { contentDigest, lastWriter, sharedDigest, toSharedProfile } from "./shared";
import { parseProfiles } from "./profile-file";

const spec = { target: { namespace: "shop", workload: "deploy/api" }, ports: [{ remote: 80, local: 8080 }], rules: [], local: { env: {}, ports: [] } };

describe("shared profiles: reading cluster objects", () => {
  it("names who made the current content: the last publisher while it is unchanged, else the other tool's field manager", () => {
    const at = new Date("2026-01-01T10:00:00Z"); // managedFields have one-second times: writes in the same second tie
    const published = { "gefyra-ts.dev/published-by": "alice@laptop", "gefyra-ts.dev/published-digest": contentDigest(undefined, spec) };
    const fields = (...managers: string[]) => managers.map((manager) => ({ manager, operation: "Update", time: at }));
    // bob published first, alice after him in the same second: the content is alice's
    expect(lastWriter({ metadata: { annotations: published, managedFields: fields("gefyra-ts:bob@pc", "gefyra-ts:alice@laptop") }, spec })).toEqual({
      by: "alice@laptop",
      at: "2026-01-01T10:00:00.000Z",
    });
    // then someone used kubectl on the spec, in the same second: the content no longer is alice's
    const edited = { ...spec, ports: [{ remote: 81, local: 8080 }] };
    expect(lastWriter({ metadata: { annotations: published, managedFields: fields("gefyra-ts:alice@laptop", "kubectl-edit") }, spec: edited }).by).toBe("kubectl-edit");
    expect(lastWriter({ metadata: { annotations: published, managedFields: fields("kubectl-edit", "gefyra-ts:alice@laptop") }, spec: edited }).by).toBe("kubectl-edit");
    // objects without gefyra annotations
    expect(lastWriter({ metadata: { managedFields: fields("gefyra-ts:bob@pc") }, spec }).by).toBe("bob@pc");
    expect(lastWriter({ metadata: { managedFields: fields("kubectl-client-side-apply") }, spec }).by).toBe("kubectl-client-side-apply");
    expect(lastWriter({ metadata: {} })).toEqual({ by: null, at: null });
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
