import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { resolveSpec } from "../../src/api/defaults.js";
import type { HermesNodeSpec } from "../../src/api/types.js";
import { buildConfigMap, configHash, nodeConfig } from "../../src/desired/configmap.js";
import { labelsFor, ownerReference } from "../../src/desired/meta.js";
import { buildDisruptionBudget } from "../../src/desired/pdb.js";
import { buildKeystoreSecret, buildTlsSecret, secretText } from "../../src/desired/secrets.js";
import { buildServiceMonitor } from "../../src/desired/servicemonitor.js";
import { buildClientService, buildHeadlessService } from "../../src/desired/services.js";
import { hermesNode, settings } from "./fixtures.js";

const resolved = (spec: HermesNodeSpec = {}) => {
  const hn = hermesNode(spec);
  return { hn, spec: resolveSpec(hn, settings) };
};
const owner = [ownerReference(hermesNode())];
const selector = { "app.kubernetes.io/name": "hermes-node", "app.kubernetes.io/instance": "mesh" };

describe("services", () => {
  it("headless Service: DNS for every pod, ready or not, and the SRV port named mesh", () => {
    const { hn } = resolved();
    expect(buildHeadlessService(hn)).toEqual({
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "mesh-mesh",
        namespace: "chat",
        labels: labelsFor("mesh", "mesh"),
        ownerReferences: owner,
      },
      spec: {
        clusterIP: "None",
        publishNotReadyAddresses: true,
        selector,
        ports: [
          { name: "mesh", port: 7401, targetPort: "mesh", protocol: "TCP", appProtocol: "grpc" },
          { name: "app", port: 7400, targetPort: "app", protocol: "TCP", appProtocol: "grpc" },
          { name: "metrics", port: 7402, targetPort: "admin", protocol: "TCP", appProtocol: "http" },
        ],
      },
    });
  });

  it("client Service: type, port and annotations from the spec", () => {
    const { hn, spec } = resolved({
      service: { type: "LoadBalancer", port: 443, annotations: { "lb.example/x": "y" } },
    });
    expect(buildClientService(hn, spec)).toEqual({
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "mesh",
        namespace: "chat",
        labels: labelsFor("mesh", "client"),
        annotations: { "lb.example/x": "y" },
        ownerReferences: owner,
      },
      spec: {
        type: "LoadBalancer",
        selector,
        ports: [{ name: "app", port: 443, targetPort: "app", protocol: "TCP", appProtocol: "grpc" }],
      },
    });
    const plain = resolved();
    const svc = buildClientService(plain.hn, plain.spec);
    expect(svc.spec).toMatchObject({ type: "ClusterIP", ports: [{ port: 7400 }] });
    expect(svc.metadata).not.toHaveProperty("annotations");
  });
});

describe("node config", () => {
  it("sets addresses, paths, discovery by SRV and leaves TLS files to per-pod variables", () => {
    const { hn, spec } = resolved();
    expect(nodeConfig(hn, spec, settings)).toEqual({
      dataDir: "/var/lib/hermes",
      listen: { app: "0.0.0.0:7400", admin: "0.0.0.0:7402" },
      log: { level: "info" },
      keystore: { passphraseFile: "/etc/hermes/keystore/passphrase" },
      mesh: { listen: "0.0.0.0:7401", dns: "_mesh._tcp.mesh-mesh.chat.svc.cluster.local", peers: [] },
    });
  });

  it("merges tunables under the operator's keys and seeds peers and peer HermesNodes", () => {
    const { hn, spec } = resolved({
      logLevel: "debug",
      mesh: {
        peers: ["edge.example.com:7401"],
        peerNodes: [{ name: "other" }, { name: "far", namespace: "eu" }],
      },
      config: {
        limits: { maxSessions: 10 },
        timeouts: { chatIdleMs: 60000 },
        keystore: { kdf: { memoryKiB: 19456 } },
        mesh: { tielineGraceMs: 1000, membership: { probeIntervalMs: 2000 } },
      },
    });
    expect(nodeConfig(hn, spec, settings)).toEqual({
      dataDir: "/var/lib/hermes",
      listen: { app: "0.0.0.0:7400", admin: "0.0.0.0:7402" },
      log: { level: "debug" },
      keystore: { kdf: { memoryKiB: 19456 }, passphraseFile: "/etc/hermes/keystore/passphrase" },
      limits: { maxSessions: 10 },
      timeouts: { chatIdleMs: 60000 },
      mesh: {
        tielineGraceMs: 1000,
        membership: { probeIntervalMs: 2000 },
        listen: "0.0.0.0:7401",
        dns: "_mesh._tcp.mesh-mesh.chat.svc.cluster.local",
        peers: [
          "edge.example.com:7401",
          "other-mesh.chat.svc.cluster.local:7401",
          "far-mesh.eu.svc.cluster.local:7401",
        ],
      },
    });
  });

  it("points at cert-manager's files, or runs the mesh in plain text when TLS is disabled", () => {
    const cm = resolved({ tls: { mode: "CertManager", issuerRef: { name: "ca" } } });
    expect(nodeConfig(cm.hn, cm.spec, settings).mesh).toMatchObject({
      tls: { cert: "/etc/hermes/tls/tls.crt", key: "/etc/hermes/tls/tls.key", ca: "/etc/hermes/tls/ca.crt" },
    });
    const off = resolved({ tls: { mode: "Disabled" } });
    expect(nodeConfig(off.hn, off.spec, settings).mesh).toMatchObject({ insecure: true });
    expect(nodeConfig(off.hn, off.spec, settings).mesh).not.toHaveProperty("tls");
  });

  it("renders a ConfigMap whose YAML parses back to the config, with a stable hash", () => {
    const { hn, spec } = resolved();
    const cm = buildConfigMap(hn, spec, settings);
    expect(cm.metadata).toEqual({
      name: "mesh-config",
      namespace: "chat",
      labels: labelsFor("mesh", "config"),
      ownerReferences: owner,
    });
    const text = cm.data!["config.yaml"]!;
    expect(text.startsWith("# Rendered by hermes-operator from HermesNode chat/mesh")).toBe(true);
    expect(parse(text)).toEqual(nodeConfig(hn, spec, settings));
    expect(configHash(text)).toMatch(/^[0-9a-f]{16}$/);
    expect(configHash(text)).toBe(configHash(buildConfigMap(hn, spec, settings).data!["config.yaml"]!));
    const other = resolved({ logLevel: "warn" });
    expect(configHash(buildConfigMap(other.hn, other.spec, settings).data!["config.yaml"]!)).not.toBe(
      configHash(text),
    );
  });
});

describe("PodDisruptionBudget", () => {
  it("allows one voluntary disruption by default, and can be turned off", () => {
    const { hn, spec } = resolved();
    expect(buildDisruptionBudget(hn, spec)).toEqual({
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: {
        name: "mesh",
        namespace: "chat",
        labels: labelsFor("mesh", "node"),
        ownerReferences: owner,
      },
      spec: {
        maxUnavailable: 1,
        selector: { matchLabels: selector },
        unhealthyPodEvictionPolicy: "AlwaysAllow",
      },
    });
    const pct = resolved({ disruptionBudget: { maxUnavailable: "25%" } });
    expect(buildDisruptionBudget(pct.hn, pct.spec)!.spec!.maxUnavailable).toBe("25%");
    const off = resolved({ disruptionBudget: { enabled: false } });
    expect(buildDisruptionBudget(off.hn, off.spec)).toBeUndefined();
  });
});

describe("ServiceMonitor", () => {
  it("scrapes the headless Service's metrics port, with the labels Prometheus selects by", () => {
    const { hn, spec } = resolved({
      metrics: { serviceMonitor: { interval: "15s", labels: { release: "prom" } } },
    });
    expect(buildServiceMonitor(hn, spec)).toEqual({
      apiVersion: "monitoring.coreos.com/v1",
      kind: "ServiceMonitor",
      metadata: {
        name: "mesh",
        namespace: "chat",
        labels: { release: "prom", ...labelsFor("mesh", "metrics") },
        ownerReferences: owner,
      },
      spec: {
        selector: { matchLabels: labelsFor("mesh", "mesh") },
        endpoints: [{ port: "metrics", path: "/metrics", interval: "15s", scheme: "http" }],
        podTargetLabels: ["app.kubernetes.io/instance"],
      },
    });
    const off = resolved({ metrics: { serviceMonitor: { enabled: false } } });
    expect(buildServiceMonitor(off.hn, off.spec)).toBeUndefined();
  });

  it("never lets user labels replace the labels the operator selects by", () => {
    const { hn, spec } = resolved({
      metrics: { serviceMonitor: { labels: { "app.kubernetes.io/managed-by": "me" } } },
    });
    expect(buildServiceMonitor(hn, spec)!.metadata!.labels!["app.kubernetes.io/managed-by"]).toBe(
      "hermes-operator",
    );
  });
});

describe("secrets", () => {
  it("keystore Secret carries the passphrase it is given", () => {
    const s = buildKeystoreSecret(hermesNode(), "correct horse");
    expect(s).toEqual({
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: "mesh-keystore",
        namespace: "chat",
        labels: labelsFor("mesh", "keystore"),
        ownerReferences: owner,
      },
      type: "Opaque",
      data: { passphrase: Buffer.from("correct horse").toString("base64") },
    });
    expect(secretText(s, "passphrase")).toBe("correct horse");
    expect(secretText(s, "missing")).toBeUndefined();
  });

  it("TLS Secret holds each pod's pair, the bundle and the generation", () => {
    const certs = new Map([
      ["mesh-1", { certPem: "C1", keyPem: "K1" }],
      ["mesh-0", { certPem: "C0", keyPem: "K0" }],
    ]);
    const s = buildTlsSecret(hermesNode(), certs, "BUNDLE", 4);
    expect(s.metadata).toEqual({
      name: "mesh-tls",
      namespace: "chat",
      labels: labelsFor("mesh", "tls"),
      annotations: { "hermes.io/tls-generation": "4" },
      ownerReferences: owner,
    });
    expect(s.type).toBe("Opaque");
    expect(Object.keys(s.data!)).toEqual(["ca.crt", "mesh-0.crt", "mesh-0.key", "mesh-1.crt", "mesh-1.key"]);
    expect(secretText(s, "mesh-1.key")).toBe("K1");
    expect(secretText(s, "ca.crt")).toBe("BUNDLE");
  });
});
