import type { V1Lease } from "@kubernetes/client-node";
import type { Logger } from "../telemetry/log.js";
import { isConflict, isNotFound, type KubeClient } from "./client.js";
import { RESOURCES, resourcePath } from "./resources.js";

/** A Lease's spec as it travels in JSON (times as MicroTime strings). */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export const microTime = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");

/** What this candidate last saw of the lease, and when (by its own clock). */
export interface Observation {
  record: string;
  atMs: number;
}

export type LeaseDecision =
  | { action: "wait"; observation: Observation }
  | { action: "write"; spec: LeaseSpec; observation: Observation };

/**
 * Whether to take or renew the lease, as client-go decides it. Expiry is judged by when this
 * candidate saw the record last change, on its own clock, so clock skew between replicas does not
 * matter: a holder that stops renewing is replaced leaseDuration after its last visible renewal.
 */
export function decideLease(
  current: LeaseSpec | undefined,
  identity: string,
  nowMs: number,
  leaseDurationSeconds: number,
  previous: Observation | undefined,
): LeaseDecision {
  const record = JSON.stringify([
    current?.holderIdentity ?? "",
    current?.renewTime ?? "",
    current?.leaseTransitions ?? 0,
  ]);
  const observation = previous?.record === record ? previous : { record, atMs: nowMs };
  const holder = current?.holderIdentity ?? "";
  const duration = (current?.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
  if (holder && holder !== identity && observation.atMs + duration > nowMs)
    return { action: "wait", observation };
  const now = microTime(nowMs);
  const takingOver = holder !== identity;
  return {
    action: "write",
    observation,
    spec: {
      holderIdentity: identity,
      leaseDurationSeconds,
      acquireTime: takingOver || !current?.acquireTime ? now : current.acquireTime,
      renewTime: now,
      leaseTransitions: (current?.leaseTransitions ?? 0) + (takingOver && holder ? 1 : 0),
    },
  };
}

export interface LeaderElectorOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
  leaseDurationSeconds?: number;
  /** A leader that has not renewed for this long steps down (before others may take over). */
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

/**
 * Leader election through a coordination.k8s.io Lease, so only one operator replica reconciles.
 * run() resolves once this replica leads; watchLeadership() resolves when it stops leading (renewals
 * failed for renewDeadline), after which the process should exit and start over as a candidate.
 */
export class LeaderElector {
  private observation?: Observation;
  private leading = false;
  private lastRenewMs = 0;
  private readonly o: Required<LeaderElectorOptions>;

  constructor(options: LeaderElectorOptions) {
    this.o = { leaseDurationSeconds: 15, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...options };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  private get path(): string {
    return resourcePath(RESOURCES.lease, this.o.namespace, this.o.name);
  }

  /** One attempt; true when this replica holds the lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const lease = await this.o.client.get<V1Lease & { spec?: LeaseSpec }>(this.path);
    const decision = decideLease(
      lease?.spec,
      this.o.identity,
      Date.now(),
      this.o.leaseDurationSeconds,
      this.observation,
    );
    this.observation = decision.observation;
    if (decision.action === "wait") return false;
    const body = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: {
        name: this.o.name,
        namespace: this.o.namespace,
        ...(lease ? { resourceVersion: lease.metadata?.resourceVersion } : {}),
      },
      spec: decision.spec,
    };
    try {
      if (lease) await this.o.client.replace(this.path, body, this.o.identity);
      else await this.o.client.create(resourcePath(RESOURCES.lease, this.o.namespace), body, this.o.identity);
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) return false; // someone else wrote first
      throw err;
    }
    if (!lease || lease.spec?.holderIdentity !== this.o.identity) {
      this.o.log.info(
        { lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity },
        "became the leader",
      );
    }
    this.lastRenewMs = Date.now();
    return true;
  }

  /** Retries until this replica leads. Resolves false if the signal aborts first. */
  async run(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      try {
        if (await this.tryAcquireOrRenew()) {
          this.leading = true;
          return true;
        }
      } catch (err) {
        this.o.log.warn({ err: String(err) }, "leader election attempt failed");
      }
      await delay(this.o.retryPeriodMs, signal);
    }
    return false;
  }

  /** Renews every retry period; resolves when leadership is lost or the signal aborts. */
  async watchLeadership(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && this.leading) {
      await delay(this.o.retryPeriodMs, signal);
      if (signal.aborted) break;
      let renewed = false;
      try {
        renewed = await this.tryAcquireOrRenew();
      } catch (err) {
        this.o.log.warn({ err: String(err) }, "lease renewal failed");
      }
      if (!renewed && Date.now() - this.lastRenewMs > this.o.renewDeadlineMs) {
        this.leading = false;
        this.o.log.error({ lease: `${this.o.namespace}/${this.o.name}` }, "lost the leader lease");
      }
    }
  }

  /** Gives the lease up on a clean shutdown so a standby takes over at once. */
  async release(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    const lease = await this.o.client.get<V1Lease & { spec?: LeaseSpec }>(this.path);
    if (lease?.spec?.holderIdentity !== this.o.identity) return;
    const now = microTime(Date.now());
    await this.o.client.replace(
      this.path,
      { ...lease, spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: now } },
      this.o.identity,
    );
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
