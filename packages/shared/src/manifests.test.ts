import { describe, expect, it } from "vitest";
import { installManifests, OPERATOR_CLUSTER_RULES } from "./manifests";
import { resolveImages } from "./images";
import { NAMESPACE, PART_OF, PART_OF_LABEL } from "./constants";
import { ROTATION_HOLD_POLICY } from "./bridge";

describe("install manifests", () => {
  const images = resolveImages("1.2.3");
  const manifests = installManifests({ images, version: "1.2.3" });

  it("default images are gefyra-ts/<name>:<version>, overridable", () => {
    expect(images.operator).toBe("gefyra-ts/operator:1.2.3");
    expect(resolveImages("1.2.3", { registry: "reg.example/team/", tag: "dev" }).cargo).toBe("reg.example/team/cargo:dev");
    expect(resolveImages("1.2.3", { overrides: { stowaway: "x/y:z" } }).stowaway).toBe("x/y:z");
  });

  it("labels everything part-of gefyra-ts and keeps namespaced objects in gefyra-ts", () => {
    for (const m of manifests) {
      expect(m.metadata.labels?.[PART_OF_LABEL]).toBe(PART_OF);
      if (m.metadata.namespace) expect(m.metadata.namespace).toBe(NAMESPACE);
    }
    expect(manifests.map((m) => m.kind)).toEqual([
      "Namespace",
      "CustomResourceDefinition",
      "CustomResourceDefinition",
      "CustomResourceDefinition",
      "Role",
      "Role",
      "ServiceAccount",
      "Role",
      "RoleBinding",
      "ClusterRole",
      "ClusterRoleBinding",
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicyBinding",
      "Deployment",
      "Deployment",
      "Service",
    ]);
  });

  it("gives cluster-wide rights only for discovery (read) and bridging (pods, their exec, workloads read, shadow Deployments/Services)", () => {
    const byResource = new Map<string, string[]>();
    for (const r of OPERATOR_CLUSTER_RULES) for (const res of r.resources) byResource.set(res, [...(byResource.get(res) ?? []), ...r.verbs]);
    expect([...byResource.keys()].sort()).toEqual(["deployments", "endpointslices", "nodes", "pods", "pods/exec", "pods/status", "replicasets", "servicecidrs", "services", "statefulsets", "validatingadmissionpolicies"]);
    // nothing may list or read Secrets, ConfigMaps or RBAC cluster-wide, and nothing is updated wholesale
    for (const verbs of byResource.values()) expect(verbs).not.toContain("update");
    expect(byResource.get("pods")).toEqual(["get", "list", "watch", "patch"]);
    expect(new Set(byResource.get("deployments"))).toEqual(new Set(["get", "list", "create", "delete"]));
    expect(byResource.get("nodes")).toEqual(["get", "list"]);
    expect(byResource.get("validatingadmissionpolicies")).toEqual(["get"]);
  });

  it("the rotation-hold policy refuses Ready=True only on annotated pods whose named container still runs, and fails open", () => {
    const policy = manifests.find((m) => m.kind === "ValidatingAdmissionPolicy") as unknown as {
      spec: { failurePolicy: string; matchConditions: Array<{ expression: string }>; validations: Array<{ expression: string }>; matchConstraints: { resourceRules: Array<{ resources: string[] }> } };
    };
    expect(policy.spec.failurePolicy).toBe("Ignore");
    expect(policy.spec.matchConstraints.resourceRules[0]!.resources).toEqual(["pods/status"]);
    expect(policy.spec.matchConditions[0]!.expression).toContain("rotation-hold");
    expect(policy.spec.validations[0]!.expression).toMatch(/Ready.*True.*containerID.*running/);
    const binding = manifests.find((m) => m.kind === "ValidatingAdmissionPolicyBinding") as unknown as { spec: { policyName: string; validationActions: string[] } };
    expect(binding.spec).toEqual({ policyName: ROTATION_HOLD_POLICY, validationActions: ["Deny"] });
  });

  it("runs Stowaway unprivileged with NET_ADMIN and the tun device, exposed on the chosen NodePort", () => {
    const custom = installManifests({ images, version: "1", nodePort: 30999, tunnelSubnet: "10.10.0.0/24", mtu: 1280 });
    const dep = custom.find((m) => m.kind === "Deployment" && m.metadata.name === "stowaway") as unknown as {
      spec: { template: { spec: { containers: Array<{ securityContext: unknown; env: Array<{ name: string; value: string }> }>; volumes: Array<{ hostPath?: { path: string } }> } } };
    };
    const c = dep.spec.template.spec.containers[0]!;
    expect(c.securityContext).toEqual({ capabilities: { add: ["NET_ADMIN"] } });
    expect(c.env).toContainEqual({ name: "TUNNEL_ADDRESS", value: "10.10.0.1/24" });
    expect(c.env).toContainEqual({ name: "MTU", value: "1280" });
    expect(dep.spec.template.spec.volumes.some((v) => v.hostPath?.path === "/dev/net/tun")).toBe(true);
    const svc = custom.find((m) => m.kind === "Service") as unknown as { spec: { ports: Array<{ nodePort: number; protocol: string }> } };
    expect(svc.spec.ports[0]).toMatchObject({ nodePort: 30999, protocol: "UDP" });
  });
});
