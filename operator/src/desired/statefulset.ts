import type {
  V1Affinity,
  V1EnvVar,
  V1Probe,
  V1StatefulSet,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import type { OperatorSettings, ResolvedSpec } from "../api/defaults.js";
import type { HermesNode } from "../api/types.js";
import { CONFIG_KEY } from "./configmap.js";
import { ANNOTATIONS, dnsFor, labelsFor, namesFor, ownedMeta, PATHS, PORTS, selectorLabels } from "./meta.js";

/** The uid and gid the node image runs as. */
export const NODE_UID = 10001;

export interface StatefulSetInputs {
  /** Digest of the rendered node config; changing it rolls the pods. */
  configHash: string;
  /** Operator TLS mode: generation of the node certificates; changing it rolls the pods. */
  tlsGeneration?: string;
}

const READ_ONLY = 0o440;

function probe(path: string, periodSeconds: number, failureThreshold: number): V1Probe {
  return {
    httpGet: { path, port: "admin", scheme: "HTTP" },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 2,
  };
}

function env(hn: HermesNode, spec: ResolvedSpec, settings: OperatorSettings): V1EnvVar[] {
  const podDns = dnsFor(hn, settings).podVar;
  const vars: V1EnvVar[] = [
    { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
    { name: "HERMES_CONFIG", value: PATHS.configFile },
    // $(VAR) is expanded by the kubelet from variables defined earlier in this list.
    { name: "HERMES_NODE_NAME", value: "$(POD_NAME)" },
    { name: "HERMES_ADVERTISE_APP", value: `${podDns}:${PORTS.app}` },
    { name: "HERMES_MESH_ADVERTISE", value: `${podDns}:${PORTS.mesh}` },
  ];
  if (spec.tls.mode === "Operator") {
    vars.push(
      { name: "HERMES_MESH_TLS_CERT", value: `${PATHS.tls}/$(POD_NAME).crt` },
      { name: "HERMES_MESH_TLS_KEY", value: `${PATHS.tls}/$(POD_NAME).key` },
      { name: "HERMES_MESH_TLS_CA", value: `${PATHS.tls}/ca.crt` },
    );
  }
  return vars;
}

function volumes(hn: HermesNode, spec: ResolvedSpec): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const n = namesFor(hn.metadata.name);
  const volumes: V1Volume[] = [
    { name: "config", configMap: { name: n.configMap, items: [{ key: CONFIG_KEY, path: CONFIG_KEY }] } },
    {
      name: "keystore-passphrase",
      secret: {
        secretName: spec.passphrase.secretName,
        items: [{ key: spec.passphrase.key, path: "passphrase" }],
        defaultMode: READ_ONLY,
      },
    },
    // The root filesystem is read-only; Node.js and gRPC may still want a scratch directory.
    { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
  ];
  const mounts: V1VolumeMount[] = [
    { name: "data", mountPath: PATHS.data },
    { name: "config", mountPath: PATHS.config, readOnly: true },
    { name: "keystore-passphrase", mountPath: PATHS.passphraseDir, readOnly: true },
    { name: "tmp", mountPath: "/tmp" },
  ];
  if (spec.storage.ephemeral) volumes.push({ name: "data", emptyDir: {} });
  const tlsSecret =
    spec.tls.mode === "Operator"
      ? n.tlsSecret
      : spec.tls.mode === "CertManager"
        ? n.certificateSecret
        : undefined;
  if (tlsSecret) {
    volumes.push({ name: "tls", secret: { secretName: tlsSecret, defaultMode: READ_ONLY } });
    mounts.push({ name: "tls", mountPath: PATHS.tls, readOnly: true });
  }
  return { volumes, mounts };
}

/** Soft anti-affinity: spread nodes over machines when possible, so one machine loss costs one node. */
function defaultAffinity(name: string): V1Affinity {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          podAffinityTerm: {
            topologyKey: "kubernetes.io/hostname",
            labelSelector: { matchLabels: selectorLabels(name) },
          },
        },
      ],
    },
  };
}

export function buildStatefulSet(
  hn: HermesNode,
  spec: ResolvedSpec,
  settings: OperatorSettings,
  inputs: StatefulSetInputs,
): V1StatefulSet {
  const name = hn.metadata.name;
  const n = namesFor(name);
  const { volumes: podVolumes, mounts } = volumes(hn, spec);
  const annotations: Record<string, string> = {
    ...spec.podAnnotations,
    [ANNOTATIONS.configHash]: inputs.configHash,
  };
  if (inputs.tlsGeneration !== undefined) annotations[ANNOTATIONS.tlsGeneration] = inputs.tlsGeneration;
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: ownedMeta(hn, n.statefulSet, "node"),
    spec: {
      replicas: spec.replicas,
      serviceName: n.headlessService,
      selector: { matchLabels: selectorLabels(name) },
      // Nodes do not need each other to start: bring them all up (and down) at once.
      podManagementPolicy: "Parallel",
      updateStrategy: { type: "RollingUpdate" },
      revisionHistoryLimit: 5,
      // Claims go with the HermesNode (they hold keystores sealed by its passphrase Secret,
      // which goes too) but stay over a scale-down, so scaling back up keeps node identities.
      persistentVolumeClaimRetentionPolicy: { whenDeleted: "Delete", whenScaled: "Retain" },
      template: {
        metadata: { labels: { ...spec.podLabels, ...labelsFor(name, "node") }, annotations },
        spec: {
          // Service links would inject HERMES_*-like variables for Services named hermes-...,
          // which the node rejects as unknown config keys.
          enableServiceLinks: false,
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: NODE_UID,
            runAsGroup: NODE_UID,
            fsGroup: NODE_UID,
            fsGroupChangePolicy: "OnRootMismatch",
            seccompProfile: { type: "RuntimeDefault" },
          },
          ...(spec.imagePullSecrets.length ? { imagePullSecrets: spec.imagePullSecrets } : {}),
          ...(Object.keys(spec.nodeSelector).length ? { nodeSelector: spec.nodeSelector } : {}),
          ...(spec.tolerations.length ? { tolerations: spec.tolerations } : {}),
          ...(spec.topologySpreadConstraints.length
            ? { topologySpreadConstraints: spec.topologySpreadConstraints }
            : {}),
          ...(spec.priorityClassName ? { priorityClassName: spec.priorityClassName } : {}),
          affinity: spec.affinity ?? defaultAffinity(name),
          containers: [
            {
              name: "node",
              image: spec.image,
              imagePullPolicy: spec.imagePullPolicy,
              args: ["node"],
              env: env(hn, spec, settings),
              ports: [
                { name: "app", containerPort: PORTS.app, protocol: "TCP" },
                { name: "mesh", containerPort: PORTS.mesh, protocol: "TCP" },
                { name: "admin", containerPort: PORTS.admin, protocol: "TCP" },
              ],
              // A first start derives the keystore key with Argon2id: give it time before liveness counts.
              startupProbe: probe("/healthz", 2, 60),
              livenessProbe: probe("/healthz", 10, 3),
              // Ready means serving and joined to the mesh (or deliberately alone).
              readinessProbe: probe("/readyz", 5, 2),
              resources: spec.resources,
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ["ALL"] },
              },
              volumeMounts: mounts,
            },
          ],
          volumes: podVolumes,
        },
      },
      ...(spec.storage.ephemeral
        ? {}
        : {
            volumeClaimTemplates: [
              {
                apiVersion: "v1",
                kind: "PersistentVolumeClaim",
                metadata: { name: "data", labels: labelsFor(name, "node") },
                spec: {
                  accessModes: ["ReadWriteOnce"],
                  resources: { requests: { storage: spec.storage.size } },
                  ...(spec.storage.storageClassName
                    ? { storageClassName: spec.storage.storageClassName }
                    : {}),
                },
              },
            ],
          }),
    },
  };
}
