import { describe, expect, it } from "vitest";
import { BRIDGE_PROFILE_CRD_NAME, PROFILE_EDITOR_ROLE, PROFILE_VIEWER_ROLE, bridgeProfileCrd, bridgeProfileRoles } from "./bridge-profile";
import { NAMESPACE } from "./constants";
import { installManifests } from "./manifests";
import { resolveImages } from "./images";

describe("BridgeProfile CRD and Roles", () => {
  const manifests = installManifests({ images: resolveImages("1.2.3"), version: "1.2.3" });

  it("are part of the install, CRD before the Roles, Roles in the product namespace", () => {
    const names = manifests.map((m) => `${m.kind}/${m.metadata.name}`);
    const crd = names.indexOf(`CustomResourceDefinition/${BRIDGE_PROFILE_CRD_NAME}`);
    expect(crd).toBeGreaterThan(0);
    expect(names.indexOf(`Role/${PROFILE_EDITOR_ROLE}`)).toBeGreaterThan(crd);
    expect(names.indexOf(`Role/${PROFILE_VIEWER_ROLE}`)).toBeGreaterThan(crd);
    for (const role of bridgeProfileRoles("1")) expect(role.metadata.namespace).toBe(NAMESPACE);
  });

  it("is namespaced in gefyra-ts.dev and has no place for personal values", () => {
    const crd = bridgeProfileCrd("1") as unknown as {
      spec: { scope: string; group: string; names: { kind: string; plural: string }; versions: Array<{ schema: { openAPIV3Schema: { properties: Record<string, { properties?: Record<string, unknown> }> } } }> };
    };
    expect(crd.spec).toMatchObject({ scope: "Namespaced", group: "gefyra-ts.dev", names: { kind: "BridgeProfile", plural: "bridgeprofiles" } });
    const schema = crd.spec.versions[0]!.schema.openAPIV3Schema.properties;
    expect(Object.keys(schema)).toEqual(["spec"]);
    expect(Object.keys(schema.spec!.properties!)).toEqual(["target", "ports", "rules", "local"]);
    expect(JSON.stringify(crd)).not.toMatch(/"(personal|volumes|build)"/);
  });

  it("the editor may read and write profiles only; the viewer may only read them", () => {
    const [editor, viewer] = bridgeProfileRoles("1") as unknown as Array<{ rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> }>;
    expect(editor!.rules).toEqual([{ apiGroups: ["gefyra-ts.dev"], resources: ["bridgeprofiles"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] }]);
    expect(viewer!.rules).toEqual([{ apiGroups: ["gefyra-ts.dev"], resources: ["bridgeprofiles"], verbs: ["get", "list", "watch"] }]);
  });
});
