/**
 * The BridgeProfile custom resource (gefyra-ts.dev/v1alpha1): a team's saved bridge setup, shared
 * through the cluster (decision 0019). Its apiVersion, kind, metadata.name and spec are those of
 * the profile YAML files (`gefyra profiles export`); what only makes sense on one machine (the
 * `personal` part: build context, volume paths) never goes to the cluster.
 *
 * Objects live in the product namespace. Two Roles there let an admin grant read or read/write to
 * users (docs/operator-rbac.md); the operator never reads profiles.
 */
import { CRD_GROUP, CRD_VERSION, NAMESPACE } from "./constants";
import { labels, type Manifest } from "./manifests";

export const BRIDGE_PROFILE_KIND = "BridgeProfile";
export const BRIDGE_PROFILE_PLURAL = "bridgeprofiles";
export const BRIDGE_PROFILE_CRD_NAME = `${BRIDGE_PROFILE_PLURAL}.${CRD_GROUP}`;
/** Who published the current version (user@host), shown when a publish conflicts. */
export const PROFILE_PUBLISHED_BY_ANNOTATION = `${CRD_GROUP}/published-by`;
/** Digest of what that publish wrote: when the object still says it, the publisher is the last writer. */
export const PROFILE_PUBLISHED_DIGEST_ANNOTATION = `${CRD_GROUP}/published-digest`;
/** The profile file's metadata.description (Kubernetes metadata has no such field). */
export const PROFILE_DESCRIPTION_ANNOTATION = `${CRD_GROUP}/description`;
/** Field managers of gefyra-ts writes are `gefyra-ts:<user@host>`, so managedFields tell who wrote. */
export const PROFILE_FIELD_MANAGER_PREFIX = "gefyra-ts:";
export const PROFILE_EDITOR_ROLE = "gefyra-ts-profile-editor";
export const PROFILE_VIEWER_ROLE = "gefyra-ts-profile-viewer";

export function bridgeProfileCrd(version: string): Manifest {
  const str = { type: "string" };
  const port = { type: "integer", minimum: 1, maximum: 65535 };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: BRIDGE_PROFILE_CRD_NAME, labels: labels("crd", version) },
    spec: {
      group: CRD_GROUP,
      scope: "Namespaced",
      names: { kind: BRIDGE_PROFILE_KIND, plural: BRIDGE_PROFILE_PLURAL, singular: "bridgeprofile", listKind: "BridgeProfileList", shortNames: ["gtbp"] },
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          additionalPrinterColumns: [
            { name: "Namespace", type: "string", jsonPath: ".spec.target.namespace" },
            { name: "Workload", type: "string", jsonPath: ".spec.target.workload" },
            { name: "Published-By", type: "string", jsonPath: `.metadata.annotations.${PROFILE_PUBLISHED_BY_ANNOTATION.replace(/\./g, "\\.")}` },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: "A team's saved bridge setup (gefyra-ts); personal values (local paths) are never stored here.",
              required: ["spec"],
              properties: {
                spec: {
                  type: "object",
                  required: ["target", "ports"],
                  properties: {
                    target: {
                      type: "object",
                      required: ["namespace", "workload"],
                      properties: {
                        namespace: { type: "string", minLength: 1, maxLength: 63 },
                        workload: { type: "string", minLength: 1, maxLength: 320, description: "deploy/NAME[/CONTAINER], statefulset/NAME[/CONTAINER] or pod/NAME[/CONTAINER]" },
                      },
                    },
                    ports: { type: "array", minItems: 1, maxItems: 64, items: { type: "object", required: ["remote", "local"], properties: { remote: port, local: port } } },
                    rules: {
                      type: "array",
                      maxItems: 16,
                      items: {
                        type: "object",
                        required: ["kind", "op", "value"],
                        properties: {
                          kind: { type: "string", enum: ["header", "path"] },
                          name: str,
                          op: { type: "string", enum: ["exact", "prefix", "regex"] },
                          value: { type: "string", maxLength: 1024 },
                        },
                      },
                    },
                    local: {
                      type: "object",
                      properties: {
                        image: str,
                        envFrom: str,
                        env: { type: "object", additionalProperties: str },
                        ports: { type: "array", items: str },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}

const PROFILE_RESOURCES = [BRIDGE_PROFILE_PLURAL];

/** Read/write and read-only access to shared profiles, for an admin to bind (docs/operator-rbac.md). */
export function bridgeProfileRoles(version: string): Manifest[] {
  const meta = (name: string) => ({ name, namespace: NAMESPACE, labels: labels("profiles", version) });
  return [
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: meta(PROFILE_EDITOR_ROLE),
      rules: [{ apiGroups: [CRD_GROUP], resources: PROFILE_RESOURCES, verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: meta(PROFILE_VIEWER_ROLE),
      rules: [{ apiGroups: [CRD_GROUP], resources: PROFILE_RESOURCES, verbs: ["get", "list", "watch"] }],
    },
  ];
}
