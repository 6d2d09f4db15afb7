import type { V1Secret } from "@kubernetes/client-node";
import type { HermesNode } from "../api/types.js";
import { ANNOTATIONS, namesFor, ownedMeta } from "./meta.js";
import type { CertAndKey } from "./pki.js";

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

/** Reads a Secret's value as text (Secrets carry base64 in `data`). */
export function secretText(secret: V1Secret | undefined, key: string): string | undefined {
  const value = secret?.data?.[key];
  return value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8");
}

/** The keystore passphrase, generated once by the caller and then read back, never regenerated. */
export function buildKeystoreSecret(hn: HermesNode, passphrase: string): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: ownedMeta(hn, namesFor(hn.metadata.name).keystoreSecret, "keystore"),
    type: "Opaque",
    data: { passphrase: b64(passphrase) },
  };
}

/** The operator's CA for this HermesNode; ca.crt holds every CA nodes should still trust. */
export function buildCaSecret(hn: HermesNode, ca: CertAndKey, ownBundle: string): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: ownedMeta(hn, namesFor(hn.metadata.name).caSecret, "ca"),
    type: "kubernetes.io/tls",
    data: { "tls.crt": b64(ca.certPem), "tls.key": b64(ca.keyPem), "ca.crt": b64(ownBundle) },
  };
}

export const podCertKey = (pod: string) => `${pod}.crt`;
export const podKeyKey = (pod: string) => `${pod}.key`;

/**
 * Every pod's own certificate and key in one Secret (<pod>.crt, <pod>.key) plus the trust bundle.
 * One Secret because a StatefulSet's pods share one template and cannot each mount their own
 * Secret; each pod points the node at its files through $(POD_NAME).
 */
export function buildTlsSecret(
  hn: HermesNode,
  certs: Map<string, CertAndKey>,
  bundle: string,
  generation: number,
): V1Secret {
  const data: Record<string, string> = { "ca.crt": b64(bundle) };
  for (const [pod, pair] of [...certs].sort(([a], [b]) => a.localeCompare(b))) {
    data[podCertKey(pod)] = b64(pair.certPem);
    data[podKeyKey(pod)] = b64(pair.keyPem);
  }
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: ownedMeta(hn, namesFor(hn.metadata.name).tlsSecret, "tls", {
      annotations: { [ANNOTATIONS.tlsGeneration]: String(generation) },
    }),
    type: "Opaque",
    data,
  };
}
