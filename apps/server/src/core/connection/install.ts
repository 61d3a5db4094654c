/**
 * install / uninstall of the cluster side (operator, Stowaway, CRD, RBAC) from the manifests in
 * @gefyra/shared: applied with server-side apply, so repeating it is harmless.
 */
import * as k8s from "@kubernetes/client-node";
import YAML from "yaml";
import type Docker from "dockerode";
import {
  BRIDGE_CRD_NAME,
  BRIDGE_PROFILE_CRD_NAME,
  IMAGE_IDS_ANNOTATION,
  COMPONENT_LABEL,
  CONNECTION_CRD_NAME,
  NAMESPACE,
  OPERATOR_NAME,
  PART_OF,
  PART_OF_LABEL,
  STOWAWAY_NAME,
  installManifests,
  resolveImages,
  type ImageRefs,
  type ImageSettings,
  type Manifest,
} from "@gefyra/shared";
import { GefyraError } from "../errors";
import { apiError, connectCluster, isNotFound, poll, productVersion, type Cluster, type ClusterOptions } from "./cluster";

export interface InstallSettings {
  images?: ImageSettings;
  tunnelSubnet?: string;
  nodePort?: number;
  serviceType?: "NodePort" | "LoadBalancer";
  mtu?: number;
  /** Docker image ids of the product images (see imageIds in @gefyra/shared's installManifests). */
  imageIds?: Partial<Record<"operator" | "stowaway" | "carrier", string>>;
}

export interface InstallOptions extends ClusterOptions, InstallSettings {
  /** Only render the manifests (YAML); touch no cluster. */
  print?: boolean;
  /** Budget for the operator and Stowaway to become ready. Default 120 s. */
  timeoutMs?: number;
}

export type InstallStep = "apply" | "operator" | "stowaway" | "ready";
export interface InstallProgress {
  kind: "install";
  step: InstallStep;
  message: string;
}

export interface InstallResult {
  manifests: Manifest[];
  yaml: string;
  applied: boolean;
  images: ImageRefs;
}

export function renderManifests(settings: InstallSettings = {}): { manifests: Manifest[]; yaml: string; images: ImageRefs } {
  const version = productVersion();
  const images = resolveImages(version, settings.images);
  const manifests = installManifests({
    images,
    version,
    ...(settings.tunnelSubnet ? { tunnelSubnet: settings.tunnelSubnet } : {}),
    ...(settings.nodePort ? { nodePort: settings.nodePort } : {}),
    ...(settings.serviceType ? { serviceType: settings.serviceType } : {}),
    ...(settings.mtu ? { mtu: settings.mtu } : {}),
    ...(settings.imageIds ? { imageIds: settings.imageIds } : {}),
  });
  const yaml = manifests.map((m) => YAML.stringify(m)).join("---\n");
  return { manifests, yaml, images };
}

export async function install(options: InstallOptions = {}, onProgress: (p: InstallProgress) => void = () => undefined): Promise<InstallResult> {
  const rendered = renderManifests(options);
  if (options.print) return { ...rendered, applied: false };
  const cluster = await connectCluster(options);
  await applyInstall(cluster, rendered, options, onProgress);
  return { ...rendered, applied: true };
}

/** Docker ids of the product images present locally (a rebuilt image keeps its tag but not its id). */
export async function localImageIds(docker: Docker, images: ImageRefs): Promise<NonNullable<InstallSettings["imageIds"]>> {
  const ids: NonNullable<InstallSettings["imageIds"]> = {};
  for (const name of ["operator", "stowaway", "carrier"] as const) {
    const id = await docker
      .getImage(images[name])
      .inspect()
      .then((i) => i.Id.replace(/^sha256:/, "").slice(0, 16))
      .catch(() => undefined);
    if (id) ids[name] = id;
  }
  return ids;
}

/** Whether the cluster side is installed as rendered (images, image ids, CRDs); then `up` skips the install. */
export async function installedWith(cluster: Cluster, rendered: { manifests: Manifest[]; images: ImageRefs }): Promise<boolean> {
  const { images } = rendered;
  const annotationOf = (name: string) =>
    (rendered.manifests.find((m) => m.kind === "Deployment" && m.metadata.name === name) as { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } } | undefined)?.spec
      ?.template?.metadata?.annotations?.[IMAGE_IDS_ANNOTATION];
  try {
    await cluster.ext.readCustomResourceDefinition({ name: CONNECTION_CRD_NAME });
    await cluster.ext.readCustomResourceDefinition({ name: BRIDGE_CRD_NAME });
    await cluster.ext.readCustomResourceDefinition({ name: BRIDGE_PROFILE_CRD_NAME });
    const op = await cluster.apps.readNamespacedDeployment({ namespace: NAMESPACE, name: OPERATOR_NAME });
    const sw = await cluster.apps.readNamespacedDeployment({ namespace: NAMESPACE, name: STOWAWAY_NAME });
    const sameIds = (d: k8s.V1Deployment, name: string) => annotationOf(name) === d.spec?.template.metadata?.annotations?.[IMAGE_IDS_ANNOTATION];
    const carrierEnv = op.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === "GEFYRA_CARRIER_IMAGE")?.value;
    return (
      op.spec?.template.spec?.containers[0]?.image === images.operator &&
      sw.spec?.template.spec?.containers[0]?.image === images.stowaway &&
      carrierEnv === images.carrier &&
      sameIds(op, OPERATOR_NAME) &&
      sameIds(sw, STOWAWAY_NAME)
    );
  } catch (error) {
    if (isNotFound(error)) return false;
    throw apiError(error, "read the gefyra-ts installation", cluster);
  }
}

export async function applyInstall(
  cluster: Cluster,
  rendered: { manifests: Manifest[]; images: ImageRefs },
  options: { timeoutMs?: number; signal?: AbortSignal },
  onProgress: (p: InstallProgress) => void,
): Promise<void> {
  // an uninstall still finishing (the namespace terminating) refuses new objects: wait it out
  const terminating = await cluster.core.readNamespace({ name: NAMESPACE }).then(
    (n) => Boolean(n.metadata?.deletionTimestamp),
    () => false,
  );
  if (terminating) {
    onProgress({ kind: "install", step: "apply", message: `namespace ${NAMESPACE} is still being removed by an uninstall; waiting for it to be gone` });
    await poll(
      async () => cluster.core.readNamespace({ name: NAMESPACE }).then(() => undefined, (e: unknown) => (isNotFound(e) ? true : undefined)),
      options.timeoutMs ?? 120_000,
      () => new GefyraError("NAMESPACE_TERMINATING", `namespace ${NAMESPACE} is still terminating: see kubectl get ns ${NAMESPACE} -o yaml (finalizers), then retry`),
      options.signal,
      500,
    );
  }
  onProgress({ kind: "install", step: "apply", message: `installing operator (${rendered.images.operator}) and Stowaway (${rendered.images.stowaway}) into namespace ${NAMESPACE}` });
  for (const manifest of rendered.manifests) {
    try {
      await cluster.objects.patch(manifest, undefined, undefined, "gefyra-ts", true, k8s.PatchStrategy.ServerSideApply);
    } catch (error) {
      if (isOptional(manifest) && isUnknownKind(error)) {
        onProgress({ kind: "install", step: "apply", message: `this cluster has no ${manifest.kind} (Kubernetes < 1.30): personal bridges hold replicas out of rotation without it (docs/bridge.md)` });
        continue;
      }
      throw apiError(error, `apply ${manifest.kind} ${manifest.metadata.name}`, cluster);
    }
    if (manifest.kind === "CustomResourceDefinition") {
      await poll(
        async () => {
          const crd = await cluster.ext.readCustomResourceDefinition({ name: manifest.metadata.name });
          return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") ? true : undefined;
        },
        30_000,
        () => new GefyraError("CRD_NOT_ESTABLISHED", `The CRD ${manifest.metadata.name} was not established within 30 s: check the API server.`),
        options.signal,
      );
    }
  }
  const timeout = options.timeoutMs ?? 120_000;
  for (const [name, step] of [
    [OPERATOR_NAME, "operator"],
    [STOWAWAY_NAME, "stowaway"],
  ] as const) {
    onProgress({ kind: "install", step, message: `waiting for ${name} to be ready` });
    await waitDeploymentReady(cluster, name, timeout, options.signal);
  }
  onProgress({ kind: "install", step: "ready", message: "operator and Stowaway are ready" });
}

/** The rotation-hold admission policy (decision 0030) improves personal bridges; older clusters go without. */
const isOptional = (m: Manifest) => m.apiVersion === "admissionregistration.k8s.io/v1" && m.kind.startsWith("ValidatingAdmissionPolicy");
const isUnknownKind = (error: unknown) => isNotFound(error) || /Unrecognized API version and kind/i.test(error instanceof Error ? error.message : String(error));

const IMAGE_PROBLEMS = new Set(["ErrImageNeverPull", "ImagePullBackOff", "ErrImagePull", "InvalidImageName"]);

/** Waits for a Deployment's pod to be Ready; a pod that cannot get its image fails at once with the fix. */
export async function waitDeploymentReady(cluster: Cluster, name: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const selector = `${PART_OF_LABEL}=${PART_OF},${COMPONENT_LABEL}=${name === OPERATOR_NAME ? "operator" : name}`;
  let last = "";
  await poll(
    async () => {
      const pods = await cluster.core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: selector });
      const wanted = (await cluster.apps.readNamespacedDeployment({ namespace: NAMESPACE, name })).spec?.template.spec?.containers.map((c) => c.image);
      // only pods of the current template count: an old pod with another image is on its way out
      for (const pod of pods.items.filter((p) => p.spec?.containers.every((c) => wanted?.includes(c.image)))) {
        for (const cs of pod.status?.containerStatuses ?? []) {
          const reason = cs.state?.waiting?.reason;
          if (reason && IMAGE_PROBLEMS.has(reason)) {
            throw new GefyraError(
              "IMAGE_MISSING",
              `The cluster cannot get image ${cs.image} for ${name} (${reason}): build and load it with npm run images (local devcluster), or push it to a registry the cluster can pull from and pass --registry/--tag.`,
              { details: { image: cs.image, pod: pod.metadata?.name ?? "" } },
            );
          }
          if (reason === "CrashLoopBackOff" || cs.lastState?.terminated) {
            last = `container ${cs.name} restarted ${cs.restartCount} time(s)${cs.lastState?.terminated?.message ? `: ${cs.lastState.terminated.message}` : ""}`;
          }
        }
        const ready = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
        if (ready && !pod.metadata?.deletionTimestamp) {
          const dep = await cluster.apps.readNamespacedDeployment({ namespace: NAMESPACE, name });
          if ((dep.status?.readyReplicas ?? 0) >= 1 && (dep.status?.updatedReplicas ?? 0) >= 1 && (dep.status?.replicas ?? 0) === (dep.status?.updatedReplicas ?? 0)) return true;
        }
      }
      return undefined;
    },
    timeoutMs,
    () =>
      new GefyraError(
        "INSTALL_TIMEOUT",
        `${name} in namespace ${NAMESPACE} was not ready within ${Math.round(timeoutMs / 1000)} s${last ? ` (${last})` : ""}: see kubectl -n ${NAMESPACE} describe pod -l ${selector}.`,
      ),
    signal,
    500,
  );
}

export interface UninstallOptions extends ClusterOptions {
  timeoutMs?: number;
}

/** Deletes the cluster side in reverse order and waits until the namespace is gone. */
export async function removeInstall(cluster: Cluster, onProgress: (message: string) => void, options: UninstallOptions = {}): Promise<void> {
  const { manifests } = renderManifests();
  for (const manifest of [...manifests].reverse()) {
    if (manifest.metadata.namespace) continue; // the namespace's deletion takes them
    try {
      await cluster.objects.delete(manifest, undefined, undefined, undefined, undefined, "Background");
      onProgress(`deleted ${manifest.kind} ${manifest.metadata.name}`);
    } catch (error) {
      if (!isNotFound(error) && !(isOptional(manifest) && isUnknownKind(error))) throw apiError(error, `delete ${manifest.kind} ${manifest.metadata.name}`, cluster);
    }
  }
  const timeout = options.timeoutMs ?? 120_000;
  await poll(
    async () =>
      cluster.core.readNamespace({ name: NAMESPACE }).then(
        () => undefined,
        (e: unknown) => (isNotFound(e) ? true : undefined),
      ),
    timeout,
    () => new GefyraError("UNINSTALL_TIMEOUT", `Namespace ${NAMESPACE} was not gone within ${Math.round(timeout / 1000)} s: see kubectl get ns ${NAMESPACE} -o yaml (finalizers).`),
    options.signal,
    500,
  );
  onProgress(`namespace ${NAMESPACE} is gone`);
}
