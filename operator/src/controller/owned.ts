import type { KubernetesObject } from "@kubernetes/client-node";
import type { HermesNode } from "../api/types.js";
import { RESOURCES, type Resource } from "../kube/resources.js";

/**
 * The kinds of object a HermesNode owns, read through informer caches, and the HermesNodes an
 * event on one of them concerns. The reconcilers and the controller share these from below, as
 * cloudnative-pg's cluster_pki.go and cluster_create.go share their package, not each other.
 */
export type OwnedKind =
  | "statefulSet"
  | "service"
  | "configMap"
  | "secret"
  | "disruptionBudget"
  | "serviceMonitor"
  | "certificate";

/** The API resource of each owned kind. */
export const OWNED: Record<OwnedKind, Resource> = {
  statefulSet: RESOURCES.statefulSet,
  service: RESOURCES.service,
  configMap: RESOURCES.configMap,
  secret: RESOURCES.secret,
  disruptionBudget: RESOURCES.disruptionBudget,
  serviceMonitor: RESOURCES.serviceMonitor,
  certificate: RESOURCES.certificate,
};

/** Kinds whose API may be absent (their CRDs come with other projects). */
export const OPTIONAL: readonly OwnedKind[] = ["serviceMonitor", "certificate"];

/** Read access to the informer caches of owned objects. */
export interface OwnedCaches {
  get(kind: OwnedKind, namespace: string, name: string): KubernetesObject | undefined;
  list(kind: OwnedKind, namespace: string): KubernetesObject[];
  /** False while an optional kind's informer does not run (its API is not served). */
  has(kind: OwnedKind): boolean;
}

const KIND_OF: Record<string, OwnedKind> = {
  StatefulSet: "statefulSet",
  Service: "service",
  ConfigMap: "configMap",
  Secret: "secret",
  PodDisruptionBudget: "disruptionBudget",
  ServiceMonitor: "serviceMonitor",
  Certificate: "certificate",
};

/** The owned kind of an object, by its Kubernetes kind; undefined for kinds a HermesNode does not own. */
export function kindOf(obj: KubernetesObject): OwnedKind | undefined {
  return obj.kind !== undefined && Object.hasOwn(KIND_OF, obj.kind) ? KIND_OF[obj.kind] : undefined;
}

/** The work-queue key of a HermesNode: "namespace/name". */
export const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;

/** The HermesNode (namespace/name) an owned object belongs to. */
export function ownerKey(obj: KubernetesObject): string | undefined {
  const ns = obj.metadata?.namespace ?? "";
  const ref = obj.metadata?.ownerReferences?.find(
    (r) => r.controller && r.kind === "HermesNode" && r.apiVersion.startsWith("hermes.io/"),
  );
  if (ref) return keyOf(ns, ref.name);
  // cert-manager's Secret has no owner reference, only the labels the Certificate gave it.
  const instance = obj.metadata?.labels?.["app.kubernetes.io/instance"];
  return instance ? keyOf(ns, instance) : undefined;
}

/**
 * The HermesNodes (keys) whose nodes trust the CA in this Secret: those that list the Secret's
 * HermesNode in spec.mesh.peerNodes, whose trust bundles carry that CA. Empty for a Secret that
 * is not a HermesNode's CA. After cloudnative-pg's mapSecretsToClusters.
 */
export function peersTrusting(secret: KubernetesObject, hermesNodes: readonly HermesNode[]): string[] {
  const caOwner = secret.metadata?.labels?.["app.kubernetes.io/component"] === "ca" && ownerKey(secret);
  if (!caOwner) return [];
  return hermesNodes
    .filter((hn) =>
      (hn.spec.mesh?.peerNodes ?? []).some(
        (peer) => keyOf(peer.namespace || hn.metadata.namespace, peer.name) === caOwner,
      ),
    )
    .map((hn) => keyOf(hn.metadata.namespace, hn.metadata.name));
}
