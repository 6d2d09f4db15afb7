import type { ResolvedSpec } from "./defaults.js";
import type { HermesNode, NodeConfigOverrides } from "./types.js";
import { parseDuration, parseQuantity } from "./units.js";

/**
 * The node's own defaults for the keys checked together below (node/src/config/defaults.ts; a
 * unit test keeps them equal). A HermesNode may set one side of a pair and leave the other at
 * the default, which the CRD's CEL rules cannot see.
 */
export const NODE_DEFAULTS = {
  "limits.maxFrameBytes": 262144,
  "limits.maxCiphertextBytes": 65536,
  "limits.messagesPerSecond": 200,
  "limits.framesPerSecond": 2000,
  "limits.maxConnections": 100000,
  "limits.maxConnectionsPerAddress": 4096,
  "timeouts.heartbeatIntervalMs": 30000,
  "timeouts.sessionIdleMs": 90000,
  "timeouts.shutdownGraceMs": 10000,
  "mesh.maxConnections": 4096,
  "mesh.maxConnectionsPerAddress": 64,
  "mesh.connectionIdleMs": 30000,
  "mesh.tlsHandshakeTimeoutMs": 10000,
  "mesh.membership.probeIntervalMs": 1000,
  "mesh.membership.probeTimeoutMs": 500,
  "keystore.kdf.memoryKiB": 65536,
  "keystore.kdf.parallelism": 1,
} as const;

type DefaultedKey = keyof typeof NODE_DEFAULTS;

/** What a node needs after shutdownGraceMs to flush and exit. */
const SHUTDOWN_MARGIN_MS = 5000;

function configValue(config: NodeConfigOverrides, path: DefaultedKey): number {
  let node: number | NodeConfigOverrides | undefined = config;
  for (const key of path.split(".")) node = typeof node === "object" ? node[key] : undefined;
  return typeof node === "number" ? node : NODE_DEFAULTS[path];
}

const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Semantic checks beyond the CRD schema: cross-field rules that need the node's defaults, and
 * facts about the operator. Each problem names the field and says what would be valid. An empty
 * list means the spec can be reconciled.
 */
export function validate(hn: HermesNode, spec: ResolvedSpec): string[] {
  const problems: string[] = [];
  const name = hn.metadata.name;
  if (!DNS_LABEL.test(name) || name.length > 40) {
    problems.push(
      `metadata.name "${name}" must be a lowercase DNS label that starts with a letter and has at most 40 characters`,
    );
  }
  if (!spec.image) {
    problems.push("spec.image is required: the operator was started without --default-node-image");
  }

  for (const kind of ["requests", "limits"] as const) {
    for (const [resource, value] of Object.entries(spec.resources[kind])) {
      if (Number.isNaN(parseQuantity(value))) {
        problems.push(`spec.resources.${kind}.${resource} "${value}" is not a Kubernetes quantity`);
      }
    }
  }
  for (const [resource, request] of Object.entries(spec.resources.requests)) {
    const limit = spec.resources.limits[resource];
    if (limit !== undefined && parseQuantity(request) > parseQuantity(limit)) {
      problems.push(
        `spec.resources.requests.${resource} (${request}) exceeds spec.resources.limits.${resource} (${limit})`,
      );
    }
  }
  if (!spec.storage.ephemeral && !(parseQuantity(spec.storage.size) > 0)) {
    problems.push(`spec.storage.size "${spec.storage.size}" must be a positive quantity such as 1Gi`);
  }

  const lifetime = parseDuration(spec.tls.certificateDuration);
  const renewBefore = parseDuration(spec.tls.renewBefore);
  if (Number.isNaN(lifetime) || Number.isNaN(renewBefore)) {
    problems.push(
      "spec.tls.certificateDuration and spec.tls.renewBefore must be durations such as 2160h or 30m",
    );
  } else if (renewBefore >= lifetime) {
    problems.push(
      `spec.tls.renewBefore (${spec.tls.renewBefore}) must be shorter than spec.tls.certificateDuration (${spec.tls.certificateDuration})`,
    );
  }
  if (spec.tls.mode === "CertManager" && !spec.tls.issuerRef) {
    problems.push("spec.tls.issuerRef is required when spec.tls.mode is CertManager");
  }

  const seen = new Set<string>();
  for (const peer of spec.mesh.peerNodes) {
    const id = `${peer.namespace}/${peer.name}`;
    if (peer.name === name && peer.namespace === hn.metadata.namespace) {
      problems.push(
        `spec.mesh.peerNodes lists this HermesNode itself (${id}); its own pods always find each other`,
      );
    } else if (seen.has(id)) {
      problems.push(`spec.mesh.peerNodes lists ${id} twice`);
    }
    seen.add(id);
  }

  const c = spec.config;
  const lessThan = (a: DefaultedKey, b: DefaultedKey) => {
    const [va, vb] = [configValue(c, a), configValue(c, b)];
    if (va >= vb) problems.push(`spec.config.${a} (${va}) must be less than spec.config.${b} (${vb})`);
  };
  lessThan("limits.maxCiphertextBytes", "limits.maxFrameBytes");
  const [frames, messages] = [
    configValue(c, "limits.framesPerSecond"),
    configValue(c, "limits.messagesPerSecond"),
  ];
  if (frames < messages) {
    problems.push(
      `spec.config.limits.framesPerSecond (${frames}) must be at least spec.config.limits.messagesPerSecond (${messages}): every message is a frame`,
    );
  }
  lessThan("timeouts.heartbeatIntervalMs", "timeouts.sessionIdleMs");
  lessThan("mesh.membership.probeTimeoutMs", "mesh.membership.probeIntervalMs");
  lessThan("mesh.tlsHandshakeTimeoutMs", "mesh.connectionIdleMs");
  for (const section of ["limits", "mesh"] as const) {
    const [perAddress, total] = [
      configValue(c, `${section}.maxConnectionsPerAddress`),
      configValue(c, `${section}.maxConnections`),
    ];
    if (perAddress > total) {
      problems.push(
        `spec.config.${section}.maxConnectionsPerAddress (${perAddress}) must not exceed spec.config.${section}.maxConnections (${total})`,
      );
    }
  }
  // The node drains within shutdownGraceMs and needs a few seconds more to close (docs/operating-a-node.md).
  const grace = configValue(c, "timeouts.shutdownGraceMs");
  if (grace + SHUTDOWN_MARGIN_MS > spec.terminationGracePeriodSeconds * 1000) {
    problems.push(
      `spec.config.timeouts.shutdownGraceMs (${grace}) plus 5 s must fit in spec.terminationGracePeriodSeconds ` +
        `(${spec.terminationGracePeriodSeconds}s), or Kubernetes kills nodes before they have drained`,
    );
  }
  const memory = configValue(c, "keystore.kdf.memoryKiB");
  const parallelism = configValue(c, "keystore.kdf.parallelism");
  if (memory < 8 * parallelism) {
    problems.push(
      `spec.config.keystore.kdf.memoryKiB (${memory}) must be at least 8 × keystore.kdf.parallelism (${8 * parallelism}), as Argon2id requires`,
    );
  }
  return problems;
}
