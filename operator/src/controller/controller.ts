import type { KubernetesObject } from "@kubernetes/client-node";
import type { OperatorSettings } from "../api/defaults.js";
import type { HermesNode } from "../api/types.js";
import { OWNED_SELECTOR } from "../desired/meta.js";
import { Applier } from "../kube/apply.js";
import { ApiError, isConflict, type KubeClient } from "../kube/client.js";
import { Discovery } from "../kube/discovery.js";
import { EventRecorder } from "../kube/events.js";
import { RESOURCES, type Resource } from "../kube/resources.js";
import type { Logger } from "../telemetry/log.js";
import type { OperatorMetrics } from "../telemetry/metrics.js";
import { Informer } from "./informer.js";
import { askMembers } from "./members.js";
import {
  keyOf,
  OPTIONAL,
  OWNED,
  type OwnedCaches,
  type OwnedKind,
  ownerKey,
  peersTrusting,
} from "./owned.js";
import { Reconciler } from "./reconcile.js";
import { WorkQueue } from "./workqueue.js";

export interface ControllerOptions {
  client: KubeClient;
  settings: OperatorSettings;
  log: Logger;
  metrics: OperatorMetrics;
  /** Namespaces to watch; all when empty. */
  namespaces: string[];
  /** Name of this replica, for events. */
  identity: string;
  workers?: number;
  /** Every HermesNode is reconciled at least this often. */
  resyncMs?: number;
  /** How often optional APIs (ServiceMonitor, Certificate) are looked for. */
  discoveryIntervalMs?: number;
  /** Server-side timeout of each watch (then resumed); 5 to 10 minutes at random when unset. */
  watchTimeoutSeconds?: number;
}

/** One informer per watched namespace (or one for all), read as one cache. */
class InformerSet<T extends KubernetesObject> {
  readonly informers: Informer<T>[];

  constructor(make: (namespace?: string) => Informer<T>, namespaces: string[]) {
    this.informers = namespaces.length ? namespaces.map((ns) => make(ns)) : [make()];
  }

  get(namespace: string, name: string): T | undefined {
    for (const inf of this.informers) {
      const hit = inf.get(namespace, name);
      if (hit) return hit;
    }
    return undefined;
  }

  list(namespace?: string): T[] {
    return this.informers.flatMap((inf) => inf.list(namespace));
  }

  start(): void {
    for (const inf of this.informers) inf.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((inf) => inf.stop()));
  }

  hasSynced(): boolean {
    return this.informers.every((inf) => inf.hasSynced());
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.informers.map((inf) => inf.waitForSync()));
  }
}

/**
 * Watches HermesNodes and everything they own, and reconciles each HermesNode whose world changed:
 * informer events become keys in a rate-limited work queue, drained by a few workers (never two
 * on one key). Failed reconciles are retried with exponential backoff; every HermesNode is also
 * reconciled periodically, which repairs drift no event reported.
 */
export class Controller {
  private readonly queue: WorkQueue;
  private readonly hermesNodes: InformerSet<HermesNode>;
  private readonly owned = new Map<OwnedKind, InformerSet<KubernetesObject>>();
  private readonly reconciler: Reconciler;
  private readonly discovery: Discovery;
  private readonly timers: NodeJS.Timeout[] = [];
  private workers: Promise<void>[] = [];
  private running = false;

  constructor(private readonly o: ControllerOptions) {
    this.queue = new WorkQueue({ onDepth: (n) => o.metrics.queueDepth.set(n) });
    this.discovery = new Discovery(o.client);
    this.hermesNodes = new InformerSet(
      (ns) =>
        this.informer<HermesNode>(RESOURCES.hermesNode, ns, undefined, (_t, hn) => {
          this.enqueue(keyOf(hn.metadata.namespace, hn.metadata.name));
        }),
      o.namespaces,
    );
    for (const kind of Object.keys(OWNED) as OwnedKind[]) {
      if (!OPTIONAL.includes(kind)) this.owned.set(kind, this.ownedInformers(kind));
    }
    const caches: OwnedCaches = {
      get: (kind, ns, name) => this.owned.get(kind)?.get(ns, name),
      list: (kind, ns) => this.owned.get(kind)?.list(ns) ?? [],
      has: (kind) => this.owned.has(kind),
    };
    this.reconciler = new Reconciler({
      client: o.client,
      applier: new Applier(o.client),
      caches,
      discovery: this.discovery,
      events: new EventRecorder(o.client, o.identity, o.log),
      settings: o.settings,
      log: o.log,
      metrics: o.metrics,
      askMembers: (hn) => askMembers(o.client, hn),
    });
    o.metrics.phaseSource = () => this.phases();
  }

  private informer<T extends KubernetesObject>(
    resource: Resource,
    namespace: string | undefined,
    labelSelector: string | undefined,
    onEvent: (type: "add" | "update" | "delete", obj: T) => void,
  ): Informer<T> {
    return new Informer<T>({
      client: this.o.client,
      resource,
      ...(namespace ? { namespace } : {}),
      ...(labelSelector ? { labelSelector } : {}),
      log: this.o.log,
      onEvent,
      onRestart: (reason) => this.o.metrics.watchRestarts.inc({ resource: resource.plural, reason }),
      ...(this.o.watchTimeoutSeconds ? { watchTimeoutSeconds: this.o.watchTimeoutSeconds } : {}),
    });
  }

  private ownedInformers(kind: OwnedKind): InformerSet<KubernetesObject> {
    return new InformerSet(
      (ns) =>
        this.informer<KubernetesObject>(OWNED[kind], ns, OWNED_SELECTOR, (_type, obj) => {
          const key = ownerKey(obj);
          if (key) this.enqueue(key);
          // A HermesNode's CA is also trusted by the HermesNodes that list it as a peer.
          if (kind === "secret")
            for (const peer of peersTrusting(obj, this.hermesNodes.list())) this.enqueue(peer);
        }),
      this.o.namespaces,
    );
  }

  private enqueue(key: string): void {
    if (this.running) this.queue.add(key);
  }

  /** True once every cache has synced and workers run. */
  get ready(): boolean {
    return (
      this.running && this.hermesNodes.hasSynced() && [...this.owned.values()].every((s) => s.hasSynced())
    );
  }

  /** Phases of the cached HermesNodes, for the hermes_operator_hermesnodes metric. */
  phases(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const hn of this.hermesNodes.list()) {
      const phase = hn.status?.phase ?? "Unknown";
      counts[phase] = (counts[phase] ?? 0) + 1;
    }
    return counts;
  }

  async start(): Promise<void> {
    this.running = true;
    await this.startOptionalInformers();
    this.hermesNodes.start();
    for (const set of this.owned.values()) set.start();
    await this.hermesNodes.waitForSync();
    await Promise.all([...this.owned.values()].map((s) => s.waitForSync()));
    this.o.log.info(
      {
        hermesNodes: this.hermesNodes.list().length,
        namespaces: this.o.namespaces.length ? this.o.namespaces : "all",
      },
      "caches synced; reconciling",
    );
    for (const hn of this.hermesNodes.list()) this.enqueue(keyOf(hn.metadata.namespace, hn.metadata.name));
    this.workers = Array.from({ length: this.o.workers ?? 2 }, () => this.work());
    const resync = setInterval(
      () => {
        for (const hn of this.hermesNodes.list())
          this.enqueue(keyOf(hn.metadata.namespace, hn.metadata.name));
      },
      this.o.resyncMs ?? 10 * 60_000,
    );
    const rediscover = setInterval(() => {
      this.startOptionalInformers().catch((err) =>
        this.o.log.warn({ err: String(err) }, "API discovery failed"),
      );
    }, this.o.discoveryIntervalMs ?? 60_000);
    this.timers.push(resync, rediscover);
  }

  /** Starts informers for optional kinds whose APIs have appeared (e.g. cert-manager installed later). */
  private async startOptionalInformers(): Promise<void> {
    for (const kind of OPTIONAL) {
      if (this.owned.has(kind) || !(await this.discovery.serves(OWNED[kind]))) continue;
      const set = this.ownedInformers(kind);
      set.start();
      await set.waitForSync();
      this.owned.set(kind, set);
      this.o.log.info({ resource: OWNED[kind].plural }, "API found; watching it");
      for (const hn of this.hermesNodes.list()) this.enqueue(keyOf(hn.metadata.namespace, hn.metadata.name));
    }
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const [namespace, name] = key.split("/") as [string, string];
      const stopTimer = this.o.metrics.reconcileDuration.startTimer();
      try {
        const result = await this.reconciler.reconcile(namespace, name);
        this.queue.forget(key);
        this.o.metrics.reconciles.inc({ result: result.invalid ? "invalid" : "success" });
        if (result.requeueAfterMs) this.queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        const conflict = isConflict(err);
        this.o.metrics.reconciles.inc({ result: conflict ? "conflict" : "error" });
        const cause = (err as { cause?: unknown }).cause ?? err;
        if (cause instanceof ApiError) this.o.metrics.apiErrors.inc({ status: String(cause.status) });
        this.o.metrics.queueRetries.inc();
        const delayMs = this.queue.nextDelay(key);
        this.queue.addAfter(key, delayMs);
        const fields = {
          hermesNode: key,
          err: err instanceof Error ? err.message : String(err),
          retryInMs: delayMs,
        };
        if (conflict) this.o.log.debug(fields, "conflict (someone wrote first); retrying");
        else this.o.log.warn(fields, "reconcile failed; retrying with backoff");
      } finally {
        stopTimer();
        this.queue.done(key);
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.queue.shutDown();
    await Promise.all(this.workers);
    await Promise.all([this.hermesNodes.stop(), ...[...this.owned.values()].map((s) => s.stop())]);
  }
}
