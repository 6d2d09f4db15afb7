import type { KubernetesObject } from "@kubernetes/client-node";
import type { OperatorSettings, ResolvedSpec } from "../api/defaults.js";
import type { HermesNode } from "../api/types.js";
import { dnsFor, namesFor, ownedMeta } from "./meta.js";
import type { CertInfo, SubjectNames } from "./pki.js";

/** Lifetime of the operator's CA: long, because replacing it touches every node. */
export const CA_LIFETIME_MS = 10 * 365 * 24 * 3600_000;

/** The names a node's certificate covers: its own DNS name, both Services, and loopback. */
export function nodeSubjectNames(hn: HermesNode, settings: OperatorSettings, podName: string): SubjectNames {
  const n = namesFor(hn.metadata.name);
  const dns = dnsFor(hn, settings);
  const ns = hn.metadata.namespace;
  return {
    dns: [
      dns.pod(podName),
      `${podName}.${n.headlessService}.${ns}.svc`,
      dns.headless,
      `${n.headlessService}.${ns}.svc`,
      dns.client,
      `${n.clientService}.${ns}.svc`,
      "localhost",
    ],
    ips: ["127.0.0.1", "::1"],
  };
}

/** What to do with the CA: keep it, or make a new one (none yet, unreadable, or nearing expiry). */
export function planCa(
  ca: CertInfo | undefined,
  now: Date,
  leafLifetimeMs: number,
): "keep" | "create" | "renew" {
  if (!ca?.isCa) return "create";
  // Renew while a full leaf lifetime still fits twice, so leaves are never cut short.
  return ca.notAfter.getTime() - now.getTime() < 2 * leafLifetimeMs ? "renew" : "keep";
}

export interface NodeCertPlanInput {
  /** Pods the spec wants: 0..replicas-1. */
  replicas: number;
  /** Pods that still exist (StatefulSet status.replicas); they keep their certificates while they drain. */
  existingPods: number;
  podName: (ordinal: number) => string;
  /** Parsed certificates found in the TLS Secret, by pod name. */
  current: Map<string, CertInfo>;
  ca: CertInfo;
  expectedNames: (podName: string) => SubjectNames;
  now: Date;
  renewBeforeMs: number;
}

export interface NodeCertPlan {
  /** Pods that need a new certificate, with why (for events and logs). */
  issue: { pod: string; reason: "missing" | "expiring" | "wrong-issuer" | "names-changed" }[];
  /** Pods whose certificate stays as it is. */
  keep: string[];
  /** True when a pod already running gets a new certificate: its template annotation changes, so pods roll. */
  replacesInUse: boolean;
}

const sameSet = (a: string[], b: string[]) =>
  a.length === b.length && [...a].sort().join("\n") === [...b].sort().join("\n");

/** Decides which node certificates to (re)issue. Pure: the caller does the crypto. */
export function planNodeCerts(input: NodeCertPlanInput): NodeCertPlan {
  const plan: NodeCertPlan = { issue: [], keep: [], replacesInUse: false };
  const wanted = Math.max(input.replicas, input.existingPods);
  for (let i = 0; i < wanted; i++) {
    const pod = input.podName(i);
    const cert = input.current.get(pod);
    const reason = !cert
      ? "missing"
      : cert.notAfter.getTime() - input.now.getTime() <= input.renewBeforeMs
        ? "expiring"
        : cert.issuer !== input.ca.subject || cert.authorityKeyId !== input.ca.subjectKeyId
          ? "wrong-issuer"
          : !sameSet(cert.dns, input.expectedNames(pod).dns) ||
              !sameSet(cert.ips, input.expectedNames(pod).ips)
            ? "names-changed"
            : undefined;
    if (!reason) {
      plan.keep.push(pod);
      continue;
    }
    // A pod that is going away keeps whatever it has rather than getting a fresh certificate.
    if (i >= input.replicas && cert) {
      plan.keep.push(pod);
      continue;
    }
    plan.issue.push({ pod, reason });
    if (cert && i < input.existingPods) plan.replacesInUse = true;
  }
  return plan;
}

/** When the operator must act next: the earliest leaf's expiry minus renewBefore. */
export function renewalTime(certs: CertInfo[], renewBeforeMs: number): Date | undefined {
  if (certs.length === 0) return undefined;
  const earliest = Math.min(...certs.map((c) => c.notAfter.getTime()));
  return new Date(earliest - renewBeforeMs);
}

/**
 * The trust bundle: the current CA first, then older CAs (and peers' CAs) still valid, without
 * duplicates. Keeping the previous CA during a rotation lets nodes with old and new certificates
 * talk while pods roll.
 */
export function trustBundle(caPems: { pem: string; info: CertInfo | undefined }[], now: Date): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const { pem, info } of caPems) {
    if (!info || info.notAfter.getTime() <= now.getTime()) continue;
    const id = `${info.subject}/${info.serialNumber}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(pem.trim());
  }
  return out.length ? `${out.join("\n")}\n` : "";
}

/** A cert-manager Certificate (cert-manager.io/v1); no typed model exists for it. */
export interface Certificate extends KubernetesObject {
  spec: {
    secretName: string;
    commonName: string;
    dnsNames: string[];
    ipAddresses: string[];
    duration: string;
    renewBefore: string;
    issuerRef: { name: string; kind: string; group: string };
    privateKey: { algorithm: "ECDSA"; size: 256; rotationPolicy: "Always" };
    usages: string[];
    secretTemplate: { labels: Record<string, string> };
  };
}

/**
 * CertManager mode: one Certificate for the whole mesh, its DNS names covering every pod by a
 * wildcard under the headless Service, so scaling needs no new certificate.
 */
export function buildCertificate(
  hn: HermesNode,
  spec: ResolvedSpec,
  settings: OperatorSettings,
): Certificate | undefined {
  if (spec.tls.mode !== "CertManager" || !spec.tls.issuerRef) return undefined;
  const n = namesFor(hn.metadata.name);
  const dns = dnsFor(hn, settings);
  const meta = ownedMeta(hn, n.certificate, "tls");
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: meta,
    spec: {
      secretName: n.certificateSecret,
      commonName: hn.metadata.name,
      dnsNames: [
        `*.${dns.headless}`,
        dns.headless,
        dns.client,
        `${n.clientService}.${hn.metadata.namespace}.svc`,
        "localhost",
      ],
      ipAddresses: ["127.0.0.1", "::1"],
      duration: spec.tls.certificateDuration,
      renewBefore: spec.tls.renewBefore,
      issuerRef: spec.tls.issuerRef,
      privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
      usages: ["digital signature", "server auth", "client auth"],
      // So the operator's Secret informer sees the Secret and maps it back to this HermesNode.
      secretTemplate: { labels: meta.labels ?? {} },
    },
  };
}
