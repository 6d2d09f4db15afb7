import { createHash } from "node:crypto";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { stringify } from "yaml";
import type { OperatorSettings, ResolvedSpec } from "../api/defaults.js";
import type { HermesNode, NodeConfigOverrides } from "../api/types.js";
import { dnsFor, namesFor, ownedMeta, PATHS, PORTS } from "./meta.js";

export const CONFIG_KEY = "config.yaml";

/**
 * The node's YAML config shared by every pod. Per-pod values (node name, advertised addresses,
 * the pod's own certificate in Operator TLS mode) come from environment variables instead.
 */
export function nodeConfig(
  hn: HermesNode,
  spec: ResolvedSpec,
  settings: OperatorSettings,
): Record<string, unknown> {
  const dns = dnsFor(hn, settings);
  const peerSeeds = spec.mesh.peerNodes.map(
    (p) => `${namesFor(p.name).headlessService}.${p.namespace}.svc.${settings.clusterDomain}:${PORTS.mesh}`,
  );
  const o = spec.config;
  const section = (key: string) => (o[key] as NodeConfigOverrides | undefined) ?? {};
  const keystore = section("keystore");
  const mesh = section("mesh");
  return {
    dataDir: PATHS.data,
    listen: { app: `0.0.0.0:${PORTS.app}`, admin: `0.0.0.0:${PORTS.admin}` },
    log: { level: spec.logLevel },
    keystore: { ...keystore, passphraseFile: PATHS.passphraseFile },
    ...(o.limits ? { limits: o.limits } : {}),
    ...(o.timeouts ? { timeouts: o.timeouts } : {}),
    mesh: {
      ...mesh,
      listen: `0.0.0.0:${PORTS.mesh}`,
      dns: dns.bootstrapSrv,
      peers: [...spec.mesh.peers, ...peerSeeds],
      ...tlsConfig(spec),
    },
  };
}

function tlsConfig(spec: ResolvedSpec): Record<string, unknown> {
  switch (spec.tls.mode) {
    case "Disabled":
      return { insecure: true };
    case "CertManager":
      return {
        tls: { cert: `${PATHS.tls}/tls.crt`, key: `${PATHS.tls}/tls.key`, ca: `${PATHS.tls}/ca.crt` },
      };
    case "Operator":
      return {}; // each pod's own files, through HERMES_MESH_TLS_* (see statefulset.ts)
  }
}

export function renderNodeConfig(hn: HermesNode, spec: ResolvedSpec, settings: OperatorSettings): string {
  const header = `# Rendered by hermes-operator from HermesNode ${hn.metadata.namespace}/${hn.metadata.name}; edit that, not this.\n`;
  return header + stringify(nodeConfig(hn, spec, settings), { sortMapEntries: true });
}

/** Short digest put on the pod template, so a config change rolls the pods. */
export function configHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

export function buildConfigMap(hn: HermesNode, spec: ResolvedSpec, settings: OperatorSettings): V1ConfigMap {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: ownedMeta(hn, namesFor(hn.metadata.name).configMap, "config"),
    data: { [CONFIG_KEY]: renderNodeConfig(hn, spec, settings) },
  };
}
