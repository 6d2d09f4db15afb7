import { randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { KubernetesObject, V1Secret, V1StatefulSet } from "@kubernetes/client-node";
import { type OperatorSettings, type ResolvedSpec, resolveSpec } from "../api/defaults.js";
import { computeStatus, statusEvents } from "../api/status.js";
import type { HermesNode, HermesNodeStatus } from "../api/types.js";
import { validate } from "../api/validation.js";
import { buildConfigMap, CONFIG_KEY, configHash } from "../desired/configmap.js";
import { ANNOTATIONS, dnsFor, namesFor, selectorLabels } from "../desired/meta.js";
import { buildDisruptionBudget } from "../desired/pdb.js";
import { buildKeystoreSecret, secretText } from "../desired/secrets.js";
import { buildServiceMonitor } from "../desired/servicemonitor.js";
import { buildClientService, buildHeadlessService } from "../desired/services.js";
import { buildStatefulSet } from "../desired/statefulset.js";
import { type Applier, ReconcileError } from "../kube/apply.js";
import { isConflict, type KubeClient } from "../kube/client.js";
import type { Discovery } from "../kube/discovery.js";
import type { EventRecorder, EventType } from "../kube/events.js";
import { RESOURCES, resourcePath } from "../kube/resources.js";
import type { Logger } from "../telemetry/log.js";
import type { OperatorMetrics } from "../telemetry/metrics.js";
import { judgeMembers, type MemberAnswers, type MemberRecheck, planMemberRecheck } from "./members.js";
import { keyOf, kindOf, type OwnedCaches, type OwnedKind } from "./owned.js";
import { type TlsOutcome, TlsReconciler } from "./tls.js";

/**
 * Reconciles one HermesNode: validates it, applies every owned object (in dependency order:
 * secrets and certificates before the pods that mount them), removes owned objects the spec no
 * longer wants, and writes the status. Safe to stop at any point and run again: every step reads
 * what exists and converges towards the same result.
 */
export class Reconciler {
  private readonly now: () => Date;
  private readonly tls: TlsReconciler;
  /** HermesNodes (namespace/name) whose mesh had not converged at their last reconcile. */
  private readonly memberRechecks = new Map<string, MemberRecheck>();

  constructor(private readonly d: ReconcilerDeps) {
    this.now = d.now ?? (() => new Date());
    this.tls = new TlsReconciler({
      ...d,
      now: this.now,
      applyOwned: (hn, obj) => this.applyOwned(hn, obj),
      event: (hn, type, reason, note) => this.event(hn, type, reason, note),
    });
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    // A fresh read rather than the cache: the previous status and spec must be the latest.
    const hn = await this.d.client.get<HermesNode>(resourcePath(RESOURCES.hermesNode, namespace, name));
    const key = keyOf(namespace, name);
    if (!hn || hn.metadata.deletionTimestamp) {
      this.memberRechecks.delete(key);
      return {}; // owner references take care of the rest
    }
    const spec = resolveSpec(hn, this.d.settings);
    const problems = validate(hn, spec);
    if (problems.length > 0) {
      await this.writeStatus(hn, spec, { problems });
      return { invalid: true };
    }
    let outcome: { sts: V1StatefulSet; tls: TlsOutcome };
    try {
      outcome = await this.converge(hn, spec);
    } catch (err) {
      if (!isConflict(err)) {
        const failure =
          err instanceof ReconcileError
            ? { reason: err.reason, message: err.message }
            : { reason: "ReconcileFailed", message: err instanceof Error ? err.message : String(err) };
        await this.writeStatus(hn, spec, { problems: [], failure }).catch((e) =>
          this.d.log.warn({ err: String(e) }, "could not write status"),
        );
      }
      throw err;
    }
    // Members are informational: a node that cannot be asked fails nothing.
    const answers = outcome.sts.status?.readyReplicas ? await this.d.askMembers(hn).catch(() => []) : [];
    const { members } = judgeMembers(answers);
    const status = await this.writeStatus(hn, spec, {
      problems: [],
      statefulSet: outcome.sts,
      certificates: outcome.tls.observation,
      ...(members !== undefined ? { members } : {}),
    });
    const { recheck, delayMs } = planMemberRecheck(
      this.memberRechecks.get(key),
      answers,
      this.now().getTime(),
    );
    if (recheck) this.memberRechecks.set(key, recheck);
    else this.memberRechecks.delete(key);
    const resync = status.phase === "Running" ? SETTLED_RESYNC_MS : UNSETTLED_RESYNC_MS;
    return { requeueAfterMs: Math.min(resync, outcome.tls.requeueAfterMs ?? resync, delayMs ?? resync) };
  }

  private async converge(
    hn: HermesNode,
    spec: ResolvedSpec,
  ): Promise<{ sts: V1StatefulSet; tls: TlsOutcome }> {
    const { settings } = this.d;
    const n = namesFor(hn.metadata.name);
    const ns = hn.metadata.namespace;

    await this.ensurePassphrase(hn, spec);
    const tls = await this.tls.reconcile(hn, spec);

    const configMap = buildConfigMap(hn, spec, settings);
    await this.applyOwned(hn, configMap);
    await this.applyOwned(hn, buildHeadlessService(hn));
    await this.applyOwned(hn, buildClientService(hn, spec));

    const desired = buildStatefulSet(hn, spec, settings, {
      configHash: configHash(configMap.data?.[CONFIG_KEY] ?? ""),
      ...(tls.generation !== undefined ? { tlsGeneration: tls.generation } : {}),
    });
    const before = this.d.caches.get("statefulSet", ns, n.statefulSet) as V1StatefulSet | undefined;
    const sts = await this.applyOwned(hn, desired);
    await this.announceStatefulSetChanges(hn, before, desired);

    const pdb = buildDisruptionBudget(hn, spec);
    if (pdb) await this.applyOwned(hn, pdb);

    const monitor = buildServiceMonitor(hn, spec);
    let monitorApplied = false;
    if (monitor) {
      if (await this.d.discovery.serves(RESOURCES.serviceMonitor)) {
        await this.applyOwned(hn, monitor);
        monitorApplied = true;
      } else {
        await this.event(
          hn,
          "Normal",
          "ServiceMonitorSkipped",
          "the ServiceMonitor API (monitoring.coreos.com/v1) is not served; install the Prometheus Operator to get one",
        );
      }
    }

    await this.prune(hn, {
      statefulSet: [n.statefulSet],
      service: [n.headlessService, n.clientService],
      configMap: [n.configMap],
      secret: [
        ...(spec.passphrase.generated ? [n.keystoreSecret] : []),
        ...(spec.tls.mode === "Operator" ? [n.caSecret, n.tlsSecret] : []),
      ],
      disruptionBudget: pdb ? [n.disruptionBudget] : [],
      serviceMonitor: monitorApplied ? [n.serviceMonitor] : [],
      certificate: spec.tls.mode === "CertManager" ? [n.certificate] : [],
    });
    return { sts, tls };
  }

  /** Applies an owned object; says so in an event the first time it (re)appears. */
  private async applyOwned<T extends KubernetesObject>(
    hn: HermesNode,
    obj: T,
    opts: { force?: boolean } = {},
  ): Promise<T> {
    const kind = kindOf(obj);
    const existed = kind
      ? this.d.caches.get(kind, hn.metadata.namespace, obj.metadata?.name ?? "")
      : undefined;
    const applied = await this.d.applier.apply(obj, opts);
    // Generation 1 (or none: ConfigMaps, Secrets and Services have no generation) means never updated.
    if (!existed && (applied.metadata?.generation ?? 1) === 1) {
      await this.event(hn, "Normal", "Created", `created ${obj.kind} ${obj.metadata?.name}`);
    }
    return applied;
  }

  private async announceStatefulSetChanges(
    hn: HermesNode,
    before: V1StatefulSet | undefined,
    after: V1StatefulSet,
  ) {
    if (!before) return;
    const from = before.spec?.replicas ?? 0;
    const to = after.spec?.replicas ?? 0;
    if (from !== to) await this.event(hn, "Normal", "Scaling", `scaling from ${from} to ${to} nodes`);
    const oldImage = before.spec?.template.spec?.containers[0]?.image;
    const newImage = after.spec?.template.spec?.containers[0]?.image;
    if (oldImage !== newImage)
      await this.event(hn, "Normal", "RollingUpdate", `rolling nodes from ${oldImage} to ${newImage}`);
    const oldAnn = before.spec?.template.metadata?.annotations ?? {};
    const newAnn = after.spec?.template.metadata?.annotations ?? {};
    if (oldAnn[ANNOTATIONS.configHash] !== newAnn[ANNOTATIONS.configHash]) {
      await this.event(hn, "Normal", "ConfigChanged", "the node config changed; rolling nodes");
    }
  }

  /**
   * The keystore passphrase is generated once and then only ever read back: a new one would lock
   * every node out of its keystore. Read fresh from the API, since the cache may not show a
   * Secret this operator has just written.
   */
  private async ensurePassphrase(hn: HermesNode, spec: ResolvedSpec): Promise<void> {
    const ns = hn.metadata.namespace;
    const path = resourcePath(RESOURCES.secret, ns, spec.passphrase.secretName);
    const existing = await this.d.client.get<V1Secret>(path);
    if (!spec.passphrase.generated) {
      if (!existing) {
        throw new ReconcileError(
          "PassphraseSecretMissing",
          `spec.keystore.passphraseSecretRef: Secret ${ns}/${spec.passphrase.secretName} does not exist`,
        );
      }
      if (secretText(existing, spec.passphrase.key) === undefined) {
        throw new ReconcileError(
          "PassphraseSecretMissing",
          `spec.keystore.passphraseSecretRef: Secret ${ns}/${spec.passphrase.secretName} has no key "${spec.passphrase.key}"`,
        );
      }
      return;
    }
    const passphrase = secretText(existing, "passphrase") || randomBytes(32).toString("base64url");
    const desired = buildKeystoreSecret(hn, passphrase);
    // With a resourceVersion the apply only succeeds against the Secret just read (no lost write);
    // without one it creates it.
    if (existing) desired.metadata!.resourceVersion = existing.metadata?.resourceVersion ?? "";
    await this.applyOwned(hn, desired);
  }

  /** Deletes owned objects (this HermesNode is their controller) the spec no longer wants. */
  private async prune(hn: HermesNode, wanted: Record<OwnedKind, string[]>): Promise<void> {
    for (const [kind, names] of Object.entries(wanted) as [OwnedKind, string[]][]) {
      if (!this.d.caches.has(kind)) continue;
      for (const obj of this.d.caches.list(kind, hn.metadata.namespace)) {
        const controller = obj.metadata?.ownerReferences?.find((r) => r.controller);
        if (controller?.uid !== hn.metadata.uid || names.includes(obj.metadata?.name ?? "")) continue;
        await this.d.applier.delete(obj);
        await this.event(
          hn,
          "Normal",
          "Deleted",
          `deleted ${obj.kind} ${obj.metadata?.name}, which the spec no longer asks for`,
        );
      }
    }
  }

  private async writeStatus(
    hn: HermesNode,
    spec: ResolvedSpec,
    seen: Pick<
      Parameters<typeof computeStatus>[0],
      "problems" | "failure" | "statefulSet" | "certificates" | "members"
    >,
  ): Promise<HermesNodeStatus> {
    const dns = dnsFor(hn, this.d.settings);
    const status = computeStatus({
      hn,
      replicas: spec.replicas,
      image: spec.image,
      now: this.now(),
      selector: Object.entries(selectorLabels(hn.metadata.name))
        .map(([k, v]) => `${k}=${v}`)
        .join(","),
      bootstrap: dns.bootstrapSrv,
      clientService: `${dns.client}:${spec.service.port}`,
      ...seen,
    });
    if (!isDeepStrictEqual(status, hn.status ?? {})) {
      await this.d.applier.applyStatus(hn, status);
      for (const e of statusEvents(hn.status, status)) await this.event(hn, e.type, e.reason, e.note);
    }
    return status;
  }

  private event(hn: HermesNode, type: EventType, reason: string, note: string): Promise<void> {
    return this.d.events.record(hn, type, reason, note);
  }
}

export interface ReconcilerDeps {
  client: KubeClient;
  applier: Applier;
  caches: OwnedCaches;
  discovery: Discovery;
  events: EventRecorder;
  settings: OperatorSettings;
  log: Logger;
  metrics: OperatorMetrics;
  askMembers: (hn: HermesNode) => Promise<MemberAnswers>;
  now?: () => Date;
}

export interface ReconcileResult {
  /** Reconcile again after this long even without events (certificate renewal, members not converged). */
  requeueAfterMs?: number;
  invalid?: boolean;
}

/** How often a settled mesh is looked at again (member count, drift nobody told us about). */
const SETTLED_RESYNC_MS = 5 * 60_000;
/** How often a mesh that is not yet Running is looked at (progress deadline, member count). */
const UNSETTLED_RESYNC_MS = 30_000;
