import type {
  V1Affinity,
  V1ObjectMeta,
  V1Toleration,
  V1TopologySpreadConstraint,
} from "@kubernetes/client-node";

/** The HermesNode API (hermes.io/v1alpha1), as in crds/hermes.io_hermesnodes.yaml. */
export const GROUP = "hermes.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = "HermesNode";

export type TlsMode = "Operator" | "CertManager" | "Disabled";
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal";
export type Quantity = string | number;

export interface HermesNodeSpec {
  replicas?: number;
  image?: string;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  imagePullSecrets?: { name: string }[];
  logLevel?: LogLevel;
  resources?: { requests?: Record<string, Quantity>; limits?: Record<string, Quantity> };
  storage?: { ephemeral?: boolean; size?: Quantity; storageClassName?: string };
  mesh?: { peers?: string[]; peerNodes?: { name: string; namespace?: string }[] };
  tls?: {
    mode?: TlsMode;
    certificateDuration?: string;
    renewBefore?: string;
    issuerRef?: { name: string; kind?: "Issuer" | "ClusterIssuer"; group?: string };
  };
  service?: {
    type?: "ClusterIP" | "NodePort" | "LoadBalancer";
    port?: number;
    annotations?: Record<string, string>;
  };
  metrics?: { serviceMonitor?: { enabled?: boolean; interval?: string; labels?: Record<string, string> } };
  disruptionBudget?: { enabled?: boolean; maxUnavailable?: number | string };
  keystore?: { passphraseSecretRef?: { name: string; key?: string } };
  /** Node tunables: sections of the node's YAML config (limits, timeouts, keystore, mesh). */
  config?: NodeConfigOverrides;
  terminationGracePeriodSeconds?: number;
  priorityClassName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: V1Toleration[];
  affinity?: V1Affinity;
  topologySpreadConstraints?: V1TopologySpreadConstraint[];
  podAnnotations?: Record<string, string>;
  podLabels?: Record<string, string>;
}

/** Nested maps of numbers, e.g. { limits: { maxFrameBytes: 262144 } }. */
export interface NodeConfigOverrides {
  [section: string]: number | NodeConfigOverrides;
}

export type ConditionType = "Ready" | "Progressing" | "Degraded" | "CertificatesReady";
export type ConditionStatus = "True" | "False" | "Unknown";
export type Phase = "Pending" | "Progressing" | "Running" | "Degraded" | "Failed";

/** A metav1.Condition as it travels in JSON (times are RFC 3339 strings). */
export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface HermesNodeStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  members?: number;
  phase?: Phase;
  selector?: string;
  image?: string;
  bootstrap?: string;
  clientService?: string;
  certificates?: { caNotAfter?: string; notAfter?: string; renewalTime?: string };
  conditions?: Condition[];
}

export interface HermesNode {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: HermesNodeSpec;
  status?: HermesNodeStatus;
}
