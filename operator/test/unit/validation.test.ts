import { describe, expect, it } from "vitest";
import { resolveSpec } from "../../src/api/defaults.js";
import type { HermesNodeSpec } from "../../src/api/types.js";
import { validate } from "../../src/api/validation.js";
import { hermesNode, settings } from "./fixtures.js";

const problems = (spec: HermesNodeSpec, name = "mesh", s = settings) => {
  const hn = hermesNode(spec, name);
  return validate(hn, resolveSpec(hn, s));
};

describe("validate", () => {
  it("accepts the defaults and a rich valid spec", () => {
    expect(problems({})).toEqual([]);
    expect(
      problems({
        replicas: 5,
        resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: 2, memory: "1Gi" } },
        tls: { mode: "CertManager", issuerRef: { name: "ca" } },
        mesh: { peerNodes: [{ name: "other" }, { name: "mesh", namespace: "elsewhere" }] },
        config: {
          timeouts: { shutdownGraceMs: 20000 },
          keystore: { kdf: { memoryKiB: 19456, parallelism: 2 } },
        },
      }),
    ).toEqual([]);
  });

  it("names the field and the fix for each problem", () => {
    expect(problems({}, "Mesh_1")).toEqual([
      'metadata.name "Mesh_1" must be a lowercase DNS label that starts with a letter and has at most 40 characters',
    ]);
    expect(problems({}, "mesh", { ...settings, defaultImage: "" })).toEqual([
      "spec.image is required: the operator was started without --default-node-image",
    ]);
    expect(problems({ resources: { requests: { memory: "2Gi" }, limits: { memory: "1Gi" } } })).toEqual([
      "spec.resources.requests.memory (2Gi) exceeds spec.resources.limits.memory (1Gi)",
    ]);
    expect(problems({ resources: { requests: { cpu: "lots" } } })).toEqual([
      'spec.resources.requests.cpu "lots" is not a Kubernetes quantity',
    ]);
    expect(problems({ storage: { size: "0" } })).toEqual([
      'spec.storage.size "0" must be a positive quantity such as 1Gi',
    ]);
    expect(problems({ tls: { certificateDuration: "24h", renewBefore: "48h" } })).toEqual([
      "spec.tls.renewBefore (48h) must be shorter than spec.tls.certificateDuration (24h)",
    ]);
    expect(problems({ tls: { certificateDuration: "90d" } })).toEqual([
      "spec.tls.certificateDuration and spec.tls.renewBefore must be durations such as 2160h or 30m",
    ]);
    expect(problems({ tls: { mode: "CertManager" } })).toEqual([
      "spec.tls.issuerRef is required when spec.tls.mode is CertManager",
    ]);
    expect(
      problems({ mesh: { peerNodes: [{ name: "mesh" }, { name: "b" }, { name: "b", namespace: "chat" }] } }),
    ).toEqual([
      "spec.mesh.peerNodes lists this HermesNode itself (chat/mesh); its own pods always find each other",
      "spec.mesh.peerNodes lists chat/b twice",
    ]);
  });

  it("checks related tunables against the node's defaults when only one side is set", () => {
    expect(problems({ config: { limits: { maxCiphertextBytes: 300000 } } })).toEqual([
      "spec.config.limits.maxCiphertextBytes (300000) must be less than spec.config.limits.maxFrameBytes (262144)",
    ]);
    expect(problems({ config: { limits: { messagesPerSecond: 5000 } } })).toEqual([
      "spec.config.limits.framesPerSecond (2000) must be at least spec.config.limits.messagesPerSecond (5000): every message is a frame",
    ]);
    expect(problems({ config: { timeouts: { sessionIdleMs: 20000 } } })).toEqual([
      "spec.config.timeouts.heartbeatIntervalMs (30000) must be less than spec.config.timeouts.sessionIdleMs (20000)",
    ]);
    expect(problems({ config: { mesh: { membership: { probeIntervalMs: 400 } } } })).toEqual([
      "spec.config.mesh.membership.probeTimeoutMs (500) must be less than spec.config.mesh.membership.probeIntervalMs (400)",
    ]);
    expect(problems({ config: { limits: { maxConnectionsPerAddress: 200000 } } })).toEqual([
      "spec.config.limits.maxConnectionsPerAddress (200000) must not exceed spec.config.limits.maxConnections (100000)",
    ]);
    expect(problems({ config: { mesh: { maxConnections: 32, connectionIdleMs: 5000 } } })).toEqual([
      "spec.config.mesh.tlsHandshakeTimeoutMs (10000) must be less than spec.config.mesh.connectionIdleMs (5000)",
      "spec.config.mesh.maxConnectionsPerAddress (64) must not exceed spec.config.mesh.maxConnections (32)",
    ]);
    expect(problems({ terminationGracePeriodSeconds: 14 })).toEqual([
      "spec.config.timeouts.shutdownGraceMs (10000) plus 5 s must fit in spec.terminationGracePeriodSeconds (14s), or Kubernetes kills nodes before they have drained",
    ]);
    expect(problems({ terminationGracePeriodSeconds: 15 })).toEqual([]);
    expect(problems({ config: { keystore: { kdf: { memoryKiB: 8, parallelism: 2 } } } })).toEqual([
      "spec.config.keystore.kdf.memoryKiB (8) must be at least 8 × keystore.kdf.parallelism (16), as Argon2id requires",
    ]);
  });

  it("reports every problem at once", () => {
    expect(
      problems({ tls: { mode: "CertManager" }, resources: { requests: { cpu: "2" }, limits: { cpu: "1" } } }),
    ).toHaveLength(2);
  });
});
