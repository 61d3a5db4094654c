/**
 * Everything `gefyra install` puts into a cluster, generated from one place: the CLI prints it
 * (`gefyra install --print`), the core applies it, uninstall deletes it (same list, reversed).
 * The operator creates the remaining objects at run time inside the namespace only (Stowaway's
 * key and peer Secrets, per-connection Secret/Lease/ServiceAccount/Role/RoleBinding), so deleting
 * the namespace, the CRDs, the cluster-scoped RBAC objects and the rotation-hold admission policy
 * leaves the cluster as it was.
 */
import {
  COMPONENT_LABEL,
  CONNECTION_CRD_NAME,
  CONNECTION_KIND,
  CONNECTION_PLURAL,
  CRD_GROUP,
  CRD_VERSION,
  DEFAULT_MTU,
  DEFAULT_NODE_PORT,
  DEFAULT_TUNNEL_SUBNET,
  NAMESPACE,
  OPERATOR_NAME,
  PART_OF,
  PART_OF_LABEL,
  STOWAWAY_CONTAINER,
  STOWAWAY_KEY_SECRET,
  STOWAWAY_LISTEN_PORT,
  STOWAWAY_NAME,
  STOWAWAY_PEERS_SECRET,
} from "./constants";
import { stowawayAddress } from "./cidr";
import { BRIDGE_PLURAL, ROTATION_HOLD_ANNOTATION, ROTATION_HOLD_POLICY, bridgeCrd } from "./bridge";
import { bridgeProfileCrd, bridgeProfileRoles } from "./bridge-profile";
import type { ImageRefs } from "./images";

export interface InstallOptions {
  images: Pick<ImageRefs, "operator" | "stowaway" | "carrier">;
  /**
   * Content ids of the images (e.g. Docker image ids) when known: put on the pod templates, so
   * a rebuilt image under the same tag still rolls the operator and Stowaway.
   */
  imageIds?: Partial<Record<"operator" | "stowaway" | "carrier", string>>;
  version: string;
  tunnelSubnet?: string;
  /** NodePort of Stowaway's UDP Service; ignored for LoadBalancer. */
  nodePort?: number;
  serviceType?: "NodePort" | "LoadBalancer";
  mtu?: number;
  imagePullPolicy?: "IfNotPresent" | "Always" | "Never";
}

/** A Kubernetes object as plain data (apiVersion, kind, metadata.name, ...). */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export function labels(component: string, version?: string): Record<string, string> {
  return {
    [PART_OF_LABEL]: PART_OF,
    [COMPONENT_LABEL]: component,
    "app.kubernetes.io/name": component,
    ...(version ? { "app.kubernetes.io/version": version } : {}),
  };
}

export function connectionCrd(version: string): Manifest {
  const str = { type: "string" };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: CONNECTION_CRD_NAME, labels: labels("crd", version) },
    spec: {
      group: CRD_GROUP,
      scope: "Namespaced",
      names: { kind: CONNECTION_KIND, plural: CONNECTION_PLURAL, singular: "connection", listKind: "ConnectionList", shortNames: ["gtc"] },
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: "Client", type: "string", jsonPath: ".spec.client" },
            { name: "Phase", type: "string", jsonPath: ".status.phase" },
            { name: "Address", type: "string", jsonPath: ".status.clientAddress" },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: "One developer's WireGuard connection into the cluster (gefyra-ts).",
              properties: {
                spec: {
                  type: "object",
                  required: ["client"],
                  properties: {
                    client: { type: "string", minLength: 1, maxLength: 253, description: "who connects, e.g. user@host" },
                    heartbeatTTLSeconds: { type: "integer", minimum: 5, maximum: 86400, default: 60 },
                  },
                },
                status: {
                  type: "object",
                  properties: {
                    phase: { type: "string", enum: ["Pending", "Ready", "Failed", "Terminating"] },
                    clientAddress: str,
                    endpoint: str,
                    podCIDRs: { type: "array", items: str },
                    serviceCIDRs: { type: "array", items: str },
                    clusterDNS: str,
                    observedGeneration: { type: "integer", format: "int64" },
                    conditions: {
                      type: "array",
                      items: {
                        type: "object",
                        required: ["type", "status", "lastTransitionTime", "reason", "message"],
                        properties: {
                          type: str,
                          status: { type: "string", enum: ["True", "False", "Unknown"] },
                          reason: str,
                          message: str,
                          lastTransitionTime: { type: "string", format: "date-time" },
                          observedGeneration: { type: "integer", format: "int64" },
                        },
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

/**
 * The operator's permissions. Each rule is explained in docs/operator-rbac.md; keep the two in step.
 */
export const OPERATOR_NAMESPACED_RULES = [
  { apiGroups: [CRD_GROUP], resources: [CONNECTION_PLURAL], verbs: ["get", "list", "watch", "update", "patch", "delete"] },
  { apiGroups: [CRD_GROUP], resources: [`${CONNECTION_PLURAL}/status`], verbs: ["get", "update", "patch"] },
  { apiGroups: [CRD_GROUP], resources: [BRIDGE_PLURAL], verbs: ["get", "list", "watch", "update", "patch"] },
  { apiGroups: [CRD_GROUP], resources: [`${BRIDGE_PLURAL}/status`], verbs: ["get", "update", "patch"] },
  { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
  { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
  { apiGroups: [""], resources: ["serviceaccounts"], verbs: ["get", "create", "delete"] },
  { apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles", "rolebindings"], verbs: ["get", "create", "delete"] },
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
  { apiGroups: [""], resources: ["pods/exec"], verbs: ["get", "create"] },
  { apiGroups: [""], resources: ["services"], verbs: ["get", "create", "delete"] },
  { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
  // bridges: the kube-proxy pacer's own EndpointSlice, only while a replica is held out (decision 0028)
  { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["create", "patch", "delete"] },
];

export const OPERATOR_CLUSTER_RULES = [
  { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list"] },
  // bridges: swap a container's image in the target's pods and configure Carrier in them
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "patch"] },
  // personal bridges: a pod leaves its Services (Ready=False) while its container is swapped
  { apiGroups: [""], resources: ["pods/status"], verbs: ["patch"] },
  { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list"] },
  { apiGroups: [""], resources: ["pods/exec"], verbs: ["get", "create"] },
  { apiGroups: ["apps"], resources: ["deployments", "statefulsets", "replicasets"], verbs: ["get", "list"] },
  // personal bridges: the shadow copy of the workload that serves everyone else
  { apiGroups: ["apps"], resources: ["deployments"], verbs: ["create", "delete"] },
  { apiGroups: [""], resources: ["services"], verbs: ["get", "create", "delete"] },
  { apiGroups: ["networking.k8s.io"], resources: ["servicecidrs"], verbs: ["get", "list"] },
  { apiGroups: [""], resources: ["services"], resourceNames: ["kube-dns"], verbs: ["get"] },
  // personal bridges: whether the rotation-hold admission policy is installed (decision 0030)
  { apiGroups: ["admissionregistration.k8s.io"], resources: ["validatingadmissionpolicies"], resourceNames: [ROTATION_HOLD_POLICY], verbs: ["get"] },
];

/**
 * Keeps a replica out of its Services while its container is swapped (decision 0030): kubelet
 * writes Ready=True back from its own probe results whenever it syncs the pod's status, and
 * kube-proxy can program that flap for a second while the old process exits. This policy refuses
 * any status write that makes the pod Ready while the container named in the hold annotation is
 * still running; once it has stopped, the new container's readiness decides as usual. It is
 * evaluated only for pods that carry the annotation (matchConditions) and fails open.
 */
export function rotationHoldPolicy(version: string): Manifest[] {
  const key = `object.metadata.annotations['${ROTATION_HOLD_ANNOTATION}']`;
  return [
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: ROTATION_HOLD_POLICY, labels: labels("operator", version) },
      spec: {
        failurePolicy: "Ignore",
        matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["UPDATE"], resources: ["pods/status"] }] },
        matchConditions: [{ name: "held-out-of-rotation", expression: `has(object.metadata.annotations) && '${ROTATION_HOLD_ANNOTATION}' in object.metadata.annotations` }],
        validations: [
          {
            expression:
              "!(has(object.status.conditions) && object.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')) || " +
              `!(has(object.status.containerStatuses) && object.status.containerStatuses.exists(s, has(s.containerID) && s.containerID == ${key} && has(s.state) && has(s.state.running)))`,
            message: "the pod is held out of its Services while a container is swapped for a bridge; it becomes Ready with the new container",
            reason: "Forbidden",
          },
        ],
      },
    },
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: ROTATION_HOLD_POLICY, labels: labels("operator", version) },
      spec: { policyName: ROTATION_HOLD_POLICY, validationActions: ["Deny"] },
    },
  ];
}

export const IMAGE_IDS_ANNOTATION = `${CRD_GROUP}/image-ids`;

function imageIdAnnotations(options: InstallOptions, names: ("operator" | "stowaway" | "carrier")[]): { annotations?: Record<string, string> } {
  const ids = names.map((n) => options.imageIds?.[n] ?? "").filter(Boolean);
  return ids.length ? { annotations: { [IMAGE_IDS_ANNOTATION]: ids.join(",") } } : {};
}

export function installManifests(options: InstallOptions): Manifest[] {
  const { version } = options;
  const subnet = options.tunnelSubnet ?? DEFAULT_TUNNEL_SUBNET;
  const mtu = options.mtu ?? DEFAULT_MTU;
  const nodePort = options.nodePort ?? DEFAULT_NODE_PORT;
  const serviceType = options.serviceType ?? "NodePort";
  const pullPolicy = options.imagePullPolicy ?? "IfNotPresent";
  const ns = NAMESPACE;
  const opLabels = labels("operator", version);
  const swLabels = labels(STOWAWAY_NAME, version);
  const selector = (component: string) => ({ [PART_OF_LABEL]: PART_OF, [COMPONENT_LABEL]: component });

  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: labels("namespace", version) } },
    connectionCrd(version),
    bridgeCrd(version),
    // shared profiles: the CRD and the Roles an admin binds to users (docs/operator-rbac.md)
    bridgeProfileCrd(version),
    ...bridgeProfileRoles(version),
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: OPERATOR_NAME, namespace: ns, labels: opLabels }, automountServiceAccountToken: true },
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: OPERATOR_NAME, namespace: ns, labels: opLabels }, rules: OPERATOR_NAMESPACED_RULES },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: OPERATOR_NAME, namespace: ns, labels: opLabels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: OPERATOR_NAME },
      subjects: [{ kind: "ServiceAccount", name: OPERATOR_NAME, namespace: ns }],
    },
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: OPERATOR_NAME, labels: opLabels }, rules: OPERATOR_CLUSTER_RULES },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: OPERATOR_NAME, labels: opLabels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: OPERATOR_NAME },
      subjects: [{ kind: "ServiceAccount", name: OPERATOR_NAME, namespace: ns }],
    },
    ...rotationHoldPolicy(version),
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: OPERATOR_NAME, namespace: ns, labels: opLabels },
      spec: {
        replicas: 1,
        strategy: { type: "Recreate" },
        selector: { matchLabels: selector("operator") },
        template: {
          metadata: { labels: opLabels, ...imageIdAnnotations(options, ["operator", "carrier"]) },
          spec: {
            serviceAccountName: OPERATOR_NAME,
            containers: [
              {
                name: "operator",
                image: options.images.operator,
                imagePullPolicy: pullPolicy,
                env: [
                  { name: "GEFYRA_NAMESPACE", value: ns },
                  { name: "GEFYRA_TUNNEL_SUBNET", value: subnet },
                  { name: "GEFYRA_VERSION", value: version },
                  { name: "GEFYRA_CARRIER_IMAGE", value: options.images.carrier },
                  { name: "GEFYRA_POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
                ],
                resources: { requests: { cpu: "20m", memory: "64Mi" }, limits: { memory: "256Mi" } },
                securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, runAsUser: 65534, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: true },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: STOWAWAY_NAME, namespace: ns, labels: swLabels },
      spec: {
        replicas: 1,
        strategy: { type: "Recreate" },
        selector: { matchLabels: selector(STOWAWAY_NAME) },
        template: {
          metadata: { labels: swLabels, ...imageIdAnnotations(options, ["stowaway"]) },
          spec: {
            automountServiceAccountToken: false,
            terminationGracePeriodSeconds: 5,
            containers: [
              {
                name: STOWAWAY_CONTAINER,
                image: options.images.stowaway,
                imagePullPolicy: pullPolicy,
                env: [
                  { name: "TUNNEL_ADDRESS", value: stowawayAddress(subnet) },
                  { name: "LISTEN_PORT", value: String(STOWAWAY_LISTEN_PORT) },
                  { name: "MTU", value: String(mtu) },
                ],
                ports: [{ name: "wireguard", containerPort: STOWAWAY_LISTEN_PORT, protocol: "UDP" }],
                readinessProbe: { exec: { command: ["test", "-f", "/tmp/ready"] }, periodSeconds: 1, failureThreshold: 1 },
                resources: { requests: { cpu: "20m", memory: "32Mi" } },
                securityContext: { capabilities: { add: ["NET_ADMIN"] } },
                volumeMounts: [
                  { name: "tun", mountPath: "/dev/net/tun" },
                  { name: "key", mountPath: "/etc/stowaway/key", readOnly: true },
                  { name: "peers", mountPath: "/etc/stowaway/peers", readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: "tun", hostPath: { path: "/dev/net/tun", type: "CharDevice" } },
              { name: "key", secret: { secretName: STOWAWAY_KEY_SECRET } },
              { name: "peers", secret: { secretName: STOWAWAY_PEERS_SECRET, optional: true } },
            ],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: STOWAWAY_NAME, namespace: ns, labels: swLabels },
      spec: {
        type: serviceType,
        selector: selector(STOWAWAY_NAME),
        ports: [{ name: "wireguard", protocol: "UDP", port: STOWAWAY_LISTEN_PORT, targetPort: STOWAWAY_LISTEN_PORT, ...(serviceType === "NodePort" ? { nodePort } : {}) }],
      },
    },
  ];
}
