import type { V1Container, V1PodSpec } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { resolveSpec } from "../../src/api/defaults.js";
import type { HermesNodeSpec } from "../../src/api/types.js";
import { buildStatefulSet } from "../../src/desired/statefulset.js";
import { hermesNode, settings } from "./fixtures.js";

const build = (spec: HermesNodeSpec = {}, inputs = { configHash: "abc123", tlsGeneration: "1" }) => {
  const hn = hermesNode(spec);
  return buildStatefulSet(hn, resolveSpec(hn, settings), settings, inputs);
};
const pod = (spec: HermesNodeSpec = {}) => build(spec).spec!.template.spec as V1PodSpec;
const container = (spec: HermesNodeSpec = {}) => pod(spec).containers[0] as V1Container;
const envOf = (c: V1Container) =>
  Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

describe("buildStatefulSet", () => {
  it("names, labels and owns the StatefulSet", () => {
    const sts = build();
    expect(sts.apiVersion).toBe("apps/v1");
    expect(sts.kind).toBe("StatefulSet");
    expect(sts.metadata).toEqual({
      name: "mesh",
      namespace: "chat",
      labels: {
        "app.kubernetes.io/name": "hermes-node",
        "app.kubernetes.io/instance": "mesh",
        "app.kubernetes.io/component": "node",
        "app.kubernetes.io/part-of": "hermes",
        "app.kubernetes.io/managed-by": "hermes-operator",
      },
      ownerReferences: [
        {
          apiVersion: "hermes.io/v1alpha1",
          kind: "HermesNode",
          name: "mesh",
          uid: "0b6e8f1e-5a8c-4c1e-9a53-8d0c2c1e7a11",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    });
  });

  it("runs the default replicas in parallel behind the headless Service", () => {
    const spec = build().spec!;
    expect(spec.replicas).toBe(3);
    expect(spec.serviceName).toBe("mesh-mesh");
    expect(spec.podManagementPolicy).toBe("Parallel");
    expect(spec.updateStrategy).toEqual({ type: "RollingUpdate" });
    expect(spec.revisionHistoryLimit).toBe(5);
    expect(spec.selector).toEqual({
      matchLabels: { "app.kubernetes.io/name": "hermes-node", "app.kubernetes.io/instance": "mesh" },
    });
    expect(spec.persistentVolumeClaimRetentionPolicy).toEqual({
      whenDeleted: "Delete",
      whenScaled: "Retain",
    });
    expect(build({ replicas: 5 }).spec!.replicas).toBe(5);
  });

  it("labels pods with the selector and user labels, and annotates config and TLS generations", () => {
    const meta = build({ podLabels: { team: "chat" }, podAnnotations: { "example.com/a": "b" } }).spec!
      .template.metadata!;
    expect(meta.labels).toEqual({
      team: "chat",
      "app.kubernetes.io/name": "hermes-node",
      "app.kubernetes.io/instance": "mesh",
      "app.kubernetes.io/component": "node",
      "app.kubernetes.io/part-of": "hermes",
      "app.kubernetes.io/managed-by": "hermes-operator",
    });
    expect(meta.annotations).toEqual({
      "example.com/a": "b",
      "hermes.io/config-hash": "abc123",
      "hermes.io/tls-generation": "1",
    });
    const noTls = buildStatefulSet(hermesNode(), resolveSpec(hermesNode(), settings), settings, {
      configHash: "x",
    });
    expect(noTls.spec!.template.metadata!.annotations).toEqual({ "hermes.io/config-hash": "x" });
  });

  it("hardens the pod: non-root, no service links, no API token, seccomp", () => {
    const p = pod();
    expect(p.enableServiceLinks).toBe(false);
    expect(p.automountServiceAccountToken).toBe(false);
    expect(p.terminationGracePeriodSeconds).toBe(30);
    expect(p.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      fsGroup: 10001,
      fsGroupChangePolicy: "OnRootMismatch",
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container().securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
    });
  });

  it("runs `hermes node` from the default or the given image", () => {
    const c = container();
    expect(c.name).toBe("node");
    expect(c.image).toBe("ghcr.io/hermes/node:0.1.0");
    expect(c.imagePullPolicy).toBe("IfNotPresent");
    expect(c.args).toEqual(["node"]);
    expect(container({ image: "registry.local/hermes:2", imagePullPolicy: "Always" })).toMatchObject({
      image: "registry.local/hermes:2",
      imagePullPolicy: "Always",
    });
  });

  it("exposes the app, mesh and admin ports with HTTP probes on admin", () => {
    const c = container();
    expect(c.ports).toEqual([
      { name: "app", containerPort: 7400, protocol: "TCP" },
      { name: "mesh", containerPort: 7401, protocol: "TCP" },
      { name: "admin", containerPort: 7402, protocol: "TCP" },
    ]);
    const get = (path: string) => ({ path, port: "admin", scheme: "HTTP" });
    expect(c.startupProbe).toEqual({
      httpGet: get("/healthz"),
      periodSeconds: 2,
      failureThreshold: 60,
      timeoutSeconds: 2,
    });
    expect(c.livenessProbe).toEqual({
      httpGet: get("/healthz"),
      periodSeconds: 10,
      failureThreshold: 3,
      timeoutSeconds: 2,
    });
    expect(c.readinessProbe).toEqual({
      httpGet: get("/readyz"),
      periodSeconds: 5,
      failureThreshold: 2,
      timeoutSeconds: 2,
    });
  });

  it("gives each pod its name, advertised addresses and own certificate through the environment", () => {
    expect(envOf(container())).toEqual({
      POD_NAME: { fieldRef: { fieldPath: "metadata.name" } },
      POD_NAMESPACE: { fieldRef: { fieldPath: "metadata.namespace" } },
      HERMES_CONFIG: "/etc/hermes/config/config.yaml",
      HERMES_NODE_NAME: "$(POD_NAME)",
      HERMES_ADVERTISE_APP: "$(POD_NAME).mesh-mesh.chat.svc.cluster.local:7400",
      HERMES_MESH_ADVERTISE: "$(POD_NAME).mesh-mesh.chat.svc.cluster.local:7401",
      HERMES_MESH_TLS_CERT: "/etc/hermes/tls/$(POD_NAME).crt",
      HERMES_MESH_TLS_KEY: "/etc/hermes/tls/$(POD_NAME).key",
      HERMES_MESH_TLS_CA: "/etc/hermes/tls/ca.crt",
    });
    // POD_NAME must come first: the kubelet only expands variables defined earlier.
    expect(container().env![0]!.name).toBe("POD_NAME");
  });

  it("mounts config, passphrase, TLS, data and scratch space", () => {
    expect(container().volumeMounts).toEqual([
      { name: "data", mountPath: "/var/lib/hermes" },
      { name: "config", mountPath: "/etc/hermes/config", readOnly: true },
      { name: "keystore-passphrase", mountPath: "/etc/hermes/keystore", readOnly: true },
      { name: "tmp", mountPath: "/tmp" },
      { name: "tls", mountPath: "/etc/hermes/tls", readOnly: true },
    ]);
    expect(pod().volumes).toEqual([
      {
        name: "config",
        configMap: { name: "mesh-config", items: [{ key: "config.yaml", path: "config.yaml" }] },
      },
      {
        name: "keystore-passphrase",
        secret: {
          secretName: "mesh-keystore",
          items: [{ key: "passphrase", path: "passphrase" }],
          defaultMode: 0o440,
        },
      },
      { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
      { name: "tls", secret: { secretName: "mesh-tls", defaultMode: 0o440 } },
    ]);
  });

  it("claims a volume per pod, or uses an emptyDir when storage is ephemeral", () => {
    expect(build({ storage: { size: "5Gi", storageClassName: "fast" } }).spec!.volumeClaimTemplates).toEqual([
      {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: {
          name: "data",
          labels: {
            "app.kubernetes.io/name": "hermes-node",
            "app.kubernetes.io/instance": "mesh",
            "app.kubernetes.io/component": "node",
            "app.kubernetes.io/part-of": "hermes",
            "app.kubernetes.io/managed-by": "hermes-operator",
          },
        },
        spec: {
          accessModes: ["ReadWriteOnce"],
          resources: { requests: { storage: "5Gi" } },
          storageClassName: "fast",
        },
      },
    ]);
    const ephemeral = build({ storage: { ephemeral: true } });
    expect(ephemeral.spec!.volumeClaimTemplates).toBeUndefined();
    expect(ephemeral.spec!.template.spec!.volumes).toContainEqual({ name: "data", emptyDir: {} });
  });

  it("uses the user's passphrase Secret when given", () => {
    const volume = pod({
      keystore: { passphraseSecretRef: { name: "vault-synced", key: "pw" } },
    }).volumes!.find((v) => v.name === "keystore-passphrase");
    expect(volume?.secret).toEqual({
      secretName: "vault-synced",
      items: [{ key: "pw", path: "passphrase" }],
      defaultMode: 0o440,
    });
  });

  it("mounts the cert-manager Secret in CertManager mode and nothing in Disabled mode", () => {
    const cm = { tls: { mode: "CertManager" as const, issuerRef: { name: "mesh-ca" } } };
    expect(pod(cm).volumes).toContainEqual({
      name: "tls",
      secret: { secretName: "mesh-mesh-tls", defaultMode: 0o440 },
    });
    expect(Object.keys(envOf(container(cm)))).not.toContain("HERMES_MESH_TLS_CERT");
    const off = { tls: { mode: "Disabled" as const } };
    expect(pod(off).volumes!.map((v) => v.name)).not.toContain("tls");
    expect(container(off).volumeMounts!.map((m) => m.name)).not.toContain("tls");
  });

  it("sets default resources and passes the user's through", () => {
    expect(container().resources).toEqual({
      requests: { cpu: "100m", memory: "256Mi" },
      limits: { memory: "512Mi" },
    });
    expect(container({ resources: { requests: { cpu: 1 }, limits: { cpu: "2" } } }).resources).toEqual({
      requests: { cpu: "1" },
      limits: { cpu: "2" },
    });
  });

  it("spreads pods over machines unless the user gives an affinity, and passes scheduling fields", () => {
    expect(pod().affinity).toEqual({
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            podAffinityTerm: {
              topologyKey: "kubernetes.io/hostname",
              labelSelector: {
                matchLabels: {
                  "app.kubernetes.io/name": "hermes-node",
                  "app.kubernetes.io/instance": "mesh",
                },
              },
            },
          },
        ],
      },
    });
    const affinity = {
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } },
    };
    const p = pod({
      affinity,
      nodeSelector: { pool: "chat" },
      tolerations: [{ key: "dedicated", operator: "Equal", value: "chat", effect: "NoSchedule" }],
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: "zone", whenUnsatisfiable: "ScheduleAnyway" }],
      priorityClassName: "high",
      imagePullSecrets: [{ name: "regcred" }],
      terminationGracePeriodSeconds: 60,
    });
    expect(p.affinity).toEqual(affinity);
    expect(p.nodeSelector).toEqual({ pool: "chat" });
    expect(p.tolerations).toEqual([
      { key: "dedicated", operator: "Equal", value: "chat", effect: "NoSchedule" },
    ]);
    expect(p.topologySpreadConstraints).toEqual([
      { maxSkew: 1, topologyKey: "zone", whenUnsatisfiable: "ScheduleAnyway" },
    ]);
    expect(p.priorityClassName).toBe("high");
    expect(p.imagePullSecrets).toEqual([{ name: "regcred" }]);
    expect(p.terminationGracePeriodSeconds).toBe(60);
    // Empty optional fields are left out rather than applied as empty values.
    const bare = pod();
    for (const key of [
      "nodeSelector",
      "tolerations",
      "topologySpreadConstraints",
      "priorityClassName",
      "imagePullSecrets",
    ]) {
      expect(bare).not.toHaveProperty(key);
    }
  });
});
