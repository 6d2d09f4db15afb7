import type { V1ObjectMeta, V1OwnerReference } from "@kubernetes/client-node";
import type { OperatorSettings } from "../api/defaults.js";
import type { HermesNode } from "../api/types.js";

export const FIELD_MANAGER = "hermes-operator";
export const MANAGED_BY = "hermes-operator";

/** Ports of the node process (node config listen.app, mesh.listen, listen.admin). */
export const PORTS = { app: 7400, mesh: 7401, admin: 7402 } as const;

/** Where the pod mounts things. */
export const PATHS = {
  data: "/var/lib/hermes",
  config: "/etc/hermes/config",
  configFile: "/etc/hermes/config/config.yaml",
  passphraseDir: "/etc/hermes/keystore",
  passphraseFile: "/etc/hermes/keystore/passphrase",
  tls: "/etc/hermes/tls",
} as const;

export const ANNOTATIONS = {
  configHash: "hermes.io/config-hash",
  /** Bumped when existing node certificates are replaced, so pods roll onto them. */
  tlsGeneration: "hermes.io/tls-generation",
} as const;

/** Names of everything one HermesNode owns. */
export function namesFor(name: string) {
  return {
    statefulSet: name,
    headlessService: `${name}-mesh`,
    clientService: name,
    configMap: `${name}-config`,
    keystoreSecret: `${name}-keystore`,
    caSecret: `${name}-ca`,
    /** Operator mode: one key pair per pod (<pod>.crt, <pod>.key) plus ca.crt. */
    tlsSecret: `${name}-tls`,
    /** CertManager mode: the Certificate and the Secret cert-manager writes. */
    certificate: `${name}-mesh`,
    certificateSecret: `${name}-mesh-tls`,
    disruptionBudget: name,
    serviceMonitor: name,
    pod: (ordinal: number) => `${name}-${ordinal}`,
  };
}

/** DNS names under the cluster domain. */
export function dnsFor(hn: HermesNode, settings: OperatorSettings) {
  const n = namesFor(hn.metadata.name);
  const ns = hn.metadata.namespace;
  const suffix = `${ns}.svc.${settings.clusterDomain}`;
  return {
    headless: `${n.headlessService}.${suffix}`,
    client: `${n.clientService}.${suffix}`,
    /** SRV name of the headless Service's port named "mesh": what nodes bootstrap from. */
    bootstrapSrv: `_mesh._tcp.${n.headlessService}.${suffix}`,
    pod: (podName: string) => `${podName}.${n.headlessService}.${suffix}`,
    /** The same with the shell-style variable the kubelet expands in env values. */
    podVar: `$(POD_NAME).${n.headlessService}.${suffix}`,
  };
}

/** Labels that select the pods; part of the StatefulSet selector, so they never change. */
export function selectorLabels(name: string): Record<string, string> {
  return { "app.kubernetes.io/name": "hermes-node", "app.kubernetes.io/instance": name };
}

export function labelsFor(name: string, component: string): Record<string, string> {
  return {
    ...selectorLabels(name),
    "app.kubernetes.io/component": component,
    "app.kubernetes.io/part-of": "hermes",
    "app.kubernetes.io/managed-by": MANAGED_BY,
  };
}

/** The label selector the operator's informers use for everything it owns. */
export const OWNED_SELECTOR = `app.kubernetes.io/managed-by=${MANAGED_BY}`;

export function ownerReference(hn: HermesNode): V1OwnerReference {
  return {
    apiVersion: hn.apiVersion,
    kind: hn.kind,
    name: hn.metadata.name,
    uid: hn.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Metadata of an owned object: name, namespace, labels, the controller owner reference. */
export function ownedMeta(
  hn: HermesNode,
  name: string,
  component: string,
  extra: Partial<V1ObjectMeta> = {},
): V1ObjectMeta {
  const { annotations, ...rest } = extra;
  return {
    name,
    namespace: hn.metadata.namespace,
    ...rest,
    labels: { ...extra.labels, ...labelsFor(hn.metadata.name, component) },
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
    ownerReferences: [ownerReference(hn)],
  };
}
