import type { KubernetesObject, V1Secret, V1StatefulSet } from "@kubernetes/client-node";
import type { OperatorSettings, ResolvedSpec } from "../api/defaults.js";
import type { CertificatesObservation } from "../api/status.js";
import type { HermesNode } from "../api/types.js";
import { parseDuration } from "../api/units.js";
import {
  buildCertificate,
  CA_LIFETIME_MS,
  type Certificate,
  nodeSubjectNames,
  planCa,
  planNodeCerts,
  renewalTime,
  trustBundle,
} from "../desired/certificates.js";
import { ANNOTATIONS, FIELD_MANAGER, namesFor } from "../desired/meta.js";
import {
  type CertAndKey,
  type CertInfo,
  createCa,
  issueLeaf,
  parseCert,
  splitPemBundle,
} from "../desired/pki.js";
import { buildCaSecret, buildTlsSecret, podCertKey, podKeyKey, secretText } from "../desired/secrets.js";
import { ReconcileError } from "../kube/apply.js";
import { isNotFound, type KubeClient } from "../kube/client.js";
import type { Discovery } from "../kube/discovery.js";
import type { EventType } from "../kube/events.js";
import { RESOURCES, resourcePath } from "../kube/resources.js";
import type { OperatorMetrics } from "../telemetry/metrics.js";
import type { OwnedCaches } from "./owned.js";

export interface TlsOutcome {
  observation: CertificatesObservation;
  /** Operator mode: generation of the node certificates, for the pod template. */
  generation?: string;
  /** When to look again (the next renewal). */
  requeueAfterMs?: number;
}

export interface TlsDeps {
  client: KubeClient;
  discovery: Discovery;
  settings: OperatorSettings;
  caches: OwnedCaches;
  metrics: OperatorMetrics;
  now: () => Date;
  applyOwned: <T extends KubernetesObject>(hn: HermesNode, obj: T) => Promise<T>;
  event: (hn: HermesNode, type: EventType, reason: string, note: string) => Promise<void>;
}

/** The mesh's TLS material for each mode of spec.tls.mode (see docs/operator.md#tls). */
export class TlsReconciler {
  constructor(private readonly d: TlsDeps) {}

  async reconcile(hn: HermesNode, spec: ResolvedSpec): Promise<TlsOutcome> {
    switch (spec.tls.mode) {
      case "Disabled":
        return {
          observation: {
            ready: true,
            reason: "TLSDisabled",
            message: "the mesh runs in plain text (spec.tls.mode Disabled); for development only",
          },
        };
      case "CertManager":
        return this.certManager(hn, spec);
      case "Operator":
        return this.operatorIssued(hn, spec);
    }
  }

  private async certManager(hn: HermesNode, spec: ResolvedSpec): Promise<TlsOutcome> {
    if (!(await this.d.discovery.serves(RESOURCES.certificate))) {
      throw new ReconcileError(
        "CertManagerNotInstalled",
        "spec.tls.mode is CertManager but the cert-manager.io/v1 Certificate API is not served: install cert-manager, or use spec.tls.mode Operator",
      );
    }
    const cert = await this.d.applyOwned(hn, buildCertificate(hn, spec, this.d.settings)!);
    const conditions = (
      cert as Certificate & {
        status?: {
          conditions?: { type: string; status: string; message?: string }[];
          notAfter?: string;
          renewalTime?: string;
        };
      }
    ).status;
    const ready = conditions?.conditions?.find((c) => c.type === "Ready");
    const name = cert.metadata?.name;
    return {
      observation:
        ready?.status === "True"
          ? {
              ready: true,
              reason: "Issued",
              message: `cert-manager issued Certificate ${name}`,
              ...(conditions?.notAfter ? { notAfter: new Date(conditions.notAfter) } : {}),
              ...(conditions?.renewalTime ? { renewalTime: new Date(conditions.renewalTime) } : {}),
            }
          : {
              ready: false,
              reason: "CertificateNotReady",
              message: `waiting for cert-manager to issue Certificate ${name}${ready?.message ? `: ${ready.message}` : ""}`,
            },
    };
  }

  /**
   * Operator TLS: a CA per HermesNode and a certificate per pod, renewed before expiry. Both
   * Secrets are read fresh and written with their resourceVersion, so two reconciles (or two
   * operator replicas during a leader hand-over) can never replace each other's CA unseen.
   */
  private async operatorIssued(hn: HermesNode, spec: ResolvedSpec): Promise<TlsOutcome> {
    const now = this.d.now();
    const leafLifetime = parseDuration(spec.tls.certificateDuration);
    const renewBefore = parseDuration(spec.tls.renewBefore);
    const ca = await this.ensureCa(hn, now, leafLifetime);
    const { leaves, generation } = await this.ensureNodeCerts(hn, spec, ca, now, leafLifetime, renewBefore);

    const leafRenewal = renewalTime(leaves, renewBefore)?.getTime() ?? Number.POSITIVE_INFINITY;
    const nextAt = new Date(Math.min(leafRenewal, ca.info.notAfter.getTime() - 2 * leafLifetime));
    const notAfter = leaves.length
      ? new Date(Math.min(...leaves.map((c) => c.notAfter.getTime())))
      : undefined;
    if (notAfter) {
      const labels = { namespace: hn.metadata.namespace, name: hn.metadata.name };
      this.d.metrics.certificateExpiry.set(labels, Math.floor(notAfter.getTime() / 1000));
    }
    return {
      generation: String(generation),
      requeueAfterMs: Math.max(1000, nextAt.getTime() - now.getTime() + 1000),
      observation: {
        ready: true,
        reason: "Issued",
        message: `CA and ${leaves.length} node certificates valid; next renewal ${nextAt.toISOString()}`,
        caNotAfter: ca.info.notAfter,
        ...(notAfter ? { notAfter } : {}),
        renewalTime: nextAt,
      },
    };
  }

  /** The CA: kept, made, or renewed (the old one stays trusted until it expires). */
  private async ensureCa(
    hn: HermesNode,
    now: Date,
    leafLifetime: number,
  ): Promise<{ pair: CertAndKey; info: CertInfo; bundle: string }> {
    const name = namesFor(hn.metadata.name).caSecret;
    const secret = await this.d.client.get<V1Secret>(
      resourcePath(RESOURCES.secret, hn.metadata.namespace, name),
    );
    const [certPem, keyPem] = [secretText(secret, "tls.crt"), secretText(secret, "tls.key")];
    const old = certPem && keyPem ? { certPem, keyPem } : undefined;
    const plan = planCa(parseCert(old?.certPem), now, leafLifetime);
    let pair = old;
    if (plan !== "keep" || !pair) {
      pair = await createCa(
        `${hn.metadata.namespace}/${hn.metadata.name} hermes mesh CA`,
        now,
        CA_LIFETIME_MS,
      );
      const renewed = plan === "renew";
      await this.d.event(
        hn,
        "Normal",
        renewed ? "CARenewed" : "CACreated",
        `${renewed ? "renewed" : "created"} the mesh CA in Secret ${name}`,
      );
    }
    const trusted = [
      pair.certPem,
      ...splitPemBundle(secretText(secret, "ca.crt")),
      ...(old ? [old.certPem] : []),
    ];
    const bundle = trustBundle(
      trusted.map((pem) => ({ pem, info: parseCert(pem) })),
      now,
    );
    const desired = buildCaSecret(hn, pair, bundle);
    if (!secret) await this.d.applyOwned(hn, desired);
    else {
      // Written only if it is still the Secret read above. An apply would create it again had it
      // been deleted meanwhile (a resourceVersion does not stop an apply from creating), bringing
      // back the CA its user deleted to replace it.
      desired.metadata!.resourceVersion = secret.metadata?.resourceVersion ?? "";
      try {
        await this.d.client.mergePatch(
          resourcePath(RESOURCES.secret, hn.metadata.namespace, name),
          desired,
          FIELD_MANAGER,
        );
      } catch (err) {
        if (isNotFound(err)) return this.ensureCa(hn, now, leafLifetime); // deleted: make a new one
        throw err;
      }
    }
    return { pair, info: parseCert(pair.certPem)!, bundle };
  }

  /** Every wanted pod's certificate, kept or (re)issued, with the peers' CAs in the bundle. */
  private async ensureNodeCerts(
    hn: HermesNode,
    spec: ResolvedSpec,
    ca: { pair: CertAndKey; info: CertInfo; bundle: string },
    now: Date,
    leafLifetime: number,
    renewBefore: number,
  ): Promise<{ leaves: CertInfo[]; generation: number }> {
    const ns = hn.metadata.namespace;
    const n = namesFor(hn.metadata.name);
    const secret = await this.d.client.get<V1Secret>(resourcePath(RESOURCES.secret, ns, n.tlsSecret));
    const current = new Map<string, { info: CertInfo; pair: CertAndKey }>();
    for (const key of Object.keys(secret?.data ?? {})) {
      if (!key.endsWith(".crt") || key === "ca.crt") continue;
      const pod = key.slice(0, -".crt".length);
      const [certPem, keyPem] = [secretText(secret, podCertKey(pod)), secretText(secret, podKeyKey(pod))];
      const info = parseCert(certPem);
      if (certPem && keyPem && info) current.set(pod, { info, pair: { certPem, keyPem } });
    }
    const sts = this.d.caches.get("statefulSet", ns, n.statefulSet) as V1StatefulSet | undefined;
    const names = (pod: string) => nodeSubjectNames(hn, this.d.settings, pod);
    const plan = planNodeCerts({
      replicas: spec.replicas,
      existingPods: sts?.status?.replicas ?? 0,
      podName: n.pod,
      current: new Map([...current].map(([pod, c]) => [pod, c.info])),
      ca: ca.info,
      expectedNames: names,
      now,
      renewBeforeMs: renewBefore,
    });
    const pairs = new Map<string, CertAndKey>();
    for (const pod of plan.keep) pairs.set(pod, current.get(pod)!.pair);
    for (const { pod } of plan.issue)
      pairs.set(pod, await issueLeaf(ca.pair, pod, names(pod), now, leafLifetime));
    if (plan.issue.length > 0) {
      const renewed = plan.issue.filter((i) => i.reason !== "missing");
      const note = renewed.length
        ? `renewed node certificates (${renewed.map((i) => `${i.pod}: ${i.reason}`).join(", ")})`
        : `issued node certificates for ${plan.issue.map((i) => i.pod).join(", ")}`;
      await this.d.event(hn, "Normal", renewed.length ? "CertificatesRenewed" : "CertificatesIssued", note);
    }

    const trusted = [...splitPemBundle(ca.bundle), ...(await this.peerCaCerts(hn, spec))];
    const bundle = trustBundle(
      trusted.map((pem) => ({ pem, info: parseCert(pem) })),
      now,
    );
    const previous = Number(secret?.metadata?.annotations?.[ANNOTATIONS.tlsGeneration] ?? "0") || 0;
    const generation = !secret ? 1 : previous + (plan.replacesInUse ? 1 : 0);
    const desired = buildTlsSecret(hn, pairs, bundle, generation);
    if (secret) desired.metadata!.resourceVersion = secret.metadata?.resourceVersion ?? "";
    await this.d.applyOwned(hn, desired);
    return { leaves: [...pairs.values()].map((p) => parseCert(p.certPem)!), generation };
  }

  /** CA certificates of the HermesNodes in spec.mesh.peerNodes, so their nodes are trusted. */
  private async peerCaCerts(hn: HermesNode, spec: ResolvedSpec): Promise<string[]> {
    const pems: string[] = [];
    for (const peer of spec.mesh.peerNodes) {
      const secretName = namesFor(peer.name).caSecret;
      const secret = await this.d.client.get<V1Secret>(
        resourcePath(RESOURCES.secret, peer.namespace, secretName),
      );
      const bundle = splitPemBundle(secretText(secret, "ca.crt") ?? secretText(secret, "tls.crt"));
      if (bundle.length === 0) {
        await this.d.event(
          hn,
          "Warning",
          "PeerCANotFound",
          `spec.mesh.peerNodes: no CA in Secret ${peer.namespace}/${secretName} yet; nodes of ${peer.namespace}/${peer.name} are not trusted until it exists`,
        );
      }
      pems.push(...bundle);
    }
    return pems;
  }
}
