import type { HermesNode, LogLevel, NodeConfigOverrides, Quantity, TlsMode } from "./types.js";

/** Settings of the operator process that shape what it builds. */
export interface OperatorSettings {
  /** Node image when a HermesNode does not name one. */
  defaultImage: string;
  /** The cluster's DNS domain, e.g. cluster.local. */
  clusterDomain: string;
}

/**
 * A HermesNode spec with every default filled in. The API server applies the CRD's defaults
 * already; the operator applies the same ones again so builders never see a hole (an object
 * created before a default was added, or a test fixture).
 */
export interface ResolvedSpec {
  replicas: number;
  image: string;
  imagePullPolicy: "Always" | "IfNotPresent" | "Never";
  imagePullSecrets: { name: string }[];
  logLevel: LogLevel;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  storage: { ephemeral: boolean; size: string; storageClassName?: string };
  mesh: { peers: string[]; peerNodes: { name: string; namespace: string }[] };
  tls: {
    mode: TlsMode;
    certificateDuration: string;
    renewBefore: string;
    issuerRef?: { name: string; kind: "Issuer" | "ClusterIssuer"; group: string };
  };
  service: {
    type: "ClusterIP" | "NodePort" | "LoadBalancer";
    port: number;
    annotations: Record<string, string>;
  };
  serviceMonitor: { enabled: boolean; interval: string; labels: Record<string, string> };
  disruptionBudget: { enabled: boolean; maxUnavailable: number | string };
  /** Secret and key holding the keystore passphrase; `generated` when the operator makes it. */
  passphrase: { secretName: string; key: string; generated: boolean };
  config: NodeConfigOverrides;
  terminationGracePeriodSeconds: number;
  priorityClassName?: string;
  nodeSelector: Record<string, string>;
  tolerations: NonNullable<HermesNode["spec"]["tolerations"]>;
  affinity?: HermesNode["spec"]["affinity"];
  topologySpreadConstraints: NonNullable<HermesNode["spec"]["topologySpreadConstraints"]>;
  podAnnotations: Record<string, string>;
  podLabels: Record<string, string>;
}

/** The defaults of crds/hermes.io_hermesnodes.yaml (a unit test keeps the two in step). */
export const DEFAULTS = {
  replicas: 3,
  imagePullPolicy: "IfNotPresent",
  logLevel: "info",
  resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
  storageSize: "1Gi",
  tlsMode: "Operator",
  certificateDuration: "2160h",
  renewBefore: "720h",
  issuerKind: "Issuer",
  issuerGroup: "cert-manager.io",
  serviceType: "ClusterIP",
  servicePort: 7400,
  serviceMonitorInterval: "30s",
  maxUnavailable: 1,
  passphraseKey: "passphrase",
  terminationGracePeriodSeconds: 30,
} as const;

const quantities = (m: Record<string, Quantity> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, String(v)]));

export function resolveSpec(hn: HermesNode, settings: OperatorSettings): ResolvedSpec {
  const s = hn.spec ?? {};
  const ns = hn.metadata.namespace;
  const ref = s.tls?.issuerRef;
  const passphraseRef = s.keystore?.passphraseSecretRef;
  return {
    replicas: s.replicas ?? DEFAULTS.replicas,
    image: s.image || settings.defaultImage,
    imagePullPolicy: s.imagePullPolicy ?? DEFAULTS.imagePullPolicy,
    imagePullSecrets: s.imagePullSecrets ?? [],
    logLevel: s.logLevel ?? DEFAULTS.logLevel,
    resources: s.resources
      ? { requests: quantities(s.resources.requests), limits: quantities(s.resources.limits) }
      : (structuredClone(DEFAULTS.resources) as ResolvedSpec["resources"]),
    storage: {
      ephemeral: s.storage?.ephemeral ?? false,
      size: String(s.storage?.size ?? DEFAULTS.storageSize),
      ...(s.storage?.storageClassName ? { storageClassName: s.storage.storageClassName } : {}),
    },
    mesh: {
      peers: s.mesh?.peers ?? [],
      peerNodes: (s.mesh?.peerNodes ?? []).map((p) => ({ name: p.name, namespace: p.namespace || ns })),
    },
    tls: {
      mode: s.tls?.mode ?? DEFAULTS.tlsMode,
      certificateDuration: s.tls?.certificateDuration ?? DEFAULTS.certificateDuration,
      renewBefore: s.tls?.renewBefore ?? DEFAULTS.renewBefore,
      ...(ref
        ? {
            issuerRef: {
              name: ref.name,
              kind: ref.kind ?? DEFAULTS.issuerKind,
              group: ref.group ?? DEFAULTS.issuerGroup,
            },
          }
        : {}),
    },
    service: {
      type: s.service?.type ?? DEFAULTS.serviceType,
      port: s.service?.port ?? DEFAULTS.servicePort,
      annotations: s.service?.annotations ?? {},
    },
    serviceMonitor: {
      enabled: s.metrics?.serviceMonitor?.enabled ?? true,
      interval: s.metrics?.serviceMonitor?.interval ?? DEFAULTS.serviceMonitorInterval,
      labels: s.metrics?.serviceMonitor?.labels ?? {},
    },
    disruptionBudget: {
      enabled: s.disruptionBudget?.enabled ?? true,
      maxUnavailable: s.disruptionBudget?.maxUnavailable ?? DEFAULTS.maxUnavailable,
    },
    passphrase: passphraseRef
      ? { secretName: passphraseRef.name, key: passphraseRef.key || DEFAULTS.passphraseKey, generated: false }
      : { secretName: `${hn.metadata.name}-keystore`, key: DEFAULTS.passphraseKey, generated: true },
    config: s.config ?? {},
    terminationGracePeriodSeconds: s.terminationGracePeriodSeconds ?? DEFAULTS.terminationGracePeriodSeconds,
    ...(s.priorityClassName ? { priorityClassName: s.priorityClassName } : {}),
    nodeSelector: s.nodeSelector ?? {},
    tolerations: s.tolerations ?? [],
    ...(s.affinity ? { affinity: s.affinity } : {}),
    topologySpreadConstraints: s.topologySpreadConstraints ?? [],
    podAnnotations: s.podAnnotations ?? {},
    podLabels: s.podLabels ?? {},
  };
}
