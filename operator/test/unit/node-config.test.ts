import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../node/src/config/load.js";
import { resolveSpec } from "../../src/api/defaults.js";
import type { HermesNodeSpec } from "../../src/api/types.js";
import { renderNodeConfig } from "../../src/desired/configmap.js";
import { buildStatefulSet } from "../../src/desired/statefulset.js";
import { hermesNode, settings } from "./fixtures.js";

/**
 * What a pod's node would load: the rendered config.yaml plus the container's environment, with
 * $(POD_NAME) expanded as the kubelet does, through the node's own config loader.
 */
function loadAsPod(spec: HermesNodeSpec, podName = "mesh-1") {
  const hn = hermesNode(spec);
  const resolved = resolveSpec(hn, settings);
  const file = join(mkdtempSync(join(tmpdir(), "hermes-op-config-")), "config.yaml");
  writeFileSync(file, renderNodeConfig(hn, resolved, settings));
  const sts = buildStatefulSet(hn, resolved, settings, { configHash: "x", tlsGeneration: "1" });
  // HERMES_DATA_DIR comes from the node image (Dockerfile.node).
  const env: Record<string, string> = { POD_NAME: podName, HERMES_DATA_DIR: "/var/lib/hermes" };
  for (const e of sts.spec!.template.spec!.containers[0]!.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value.replace(/\$\(POD_NAME\)/g, podName);
  }
  env.HERMES_CONFIG = file; // the mounted path, here
  return loadConfig({ argv: ["--config", file], env, cwd: "/" });
}

describe("the node accepts what the operator renders", () => {
  it("Operator TLS: per-pod certificate, SRV bootstrap, advertised pod DNS names", () => {
    const config = loadAsPod({});
    expect(config.nodeName).toBe("mesh-1");
    expect(config.dataDir).toBe("/var/lib/hermes");
    expect(config.keystore.passphraseFile).toBe("/etc/hermes/keystore/passphrase");
    expect(config.advertiseApp).toBe("mesh-1.mesh-mesh.chat.svc.cluster.local:7400");
    expect(config.mesh).toMatchObject({
      listen: "0.0.0.0:7401",
      advertise: "mesh-1.mesh-mesh.chat.svc.cluster.local:7401",
      dns: "_mesh._tcp.mesh-mesh.chat.svc.cluster.local",
      insecure: false,
      tls: {
        cert: "/etc/hermes/tls/mesh-1.crt",
        key: "/etc/hermes/tls/mesh-1.key",
        ca: "/etc/hermes/tls/ca.crt",
      },
    });
  });

  it("CertManager TLS, Disabled TLS, peers and every kind of tunable", () => {
    expect(loadAsPod({ tls: { mode: "CertManager", issuerRef: { name: "ca" } } }).mesh.tls.cert).toBe(
      "/etc/hermes/tls/tls.crt",
    );
    expect(loadAsPod({ tls: { mode: "Disabled" } }).mesh.insecure).toBe(true);
    const config = loadAsPod({
      logLevel: "debug",
      mesh: { peers: ["edge.example.com:7401"], peerNodes: [{ name: "other", namespace: "eu" }] },
      config: {
        limits: { maxSessions: 10 },
        timeouts: { chatIdleMs: 1000 },
        keystore: { flushIntervalMs: 500, kdf: { memoryKiB: 19456, iterations: 2 } },
        mesh: { tielineGraceMs: 1000, membership: { probeIntervalMs: 2000, gossipNodes: 0 } },
      },
    });
    expect(config.log.level).toBe("debug");
    expect(config.mesh.peers).toEqual(["edge.example.com:7401", "other-mesh.eu.svc.cluster.local:7401"]);
    expect(config.limits.maxSessions).toBe(10);
    expect(config.keystore.kdf).toMatchObject({ memoryKiB: 19456, iterations: 2 });
    expect(config.mesh.membership).toMatchObject({ probeIntervalMs: 2000, gossipNodes: 0 });
  });
});
