import type { Clock } from "../../utils/clock.js";
import { Awareness } from "./awareness.js";
import { BroadcastQueue, retransmitLimit } from "./broadcast-queue.js";
import { type MembershipConfig, resolveMembershipConfig } from "./config.js";
import {
  aliveUpdate,
  type Decision,
  decide,
  type IgnoreReason,
  isLive,
  MemberList,
  recordToUpdate,
  sameMeta,
  toRecord,
} from "./member-list.js";
import { Suspicion, suspicionMinTimeoutMs } from "./suspicion.js";
import type {
  Destination,
  Member,
  MemberRecord,
  MemberState,
  MembershipCounters,
  MembershipEvent,
  MembershipListener,
  MembershipMessage,
  MembershipTransport,
  MemberUpdate,
} from "./types.js";

type Cancel = () => void;

export interface MembershipOptions {
  /** This node's ID (derived from its key by the caller). */
  id: string;
  /** This node's mesh endpoint, "host:port", as others should dial it. */
  address: string;
  meta?: Record<string, string>;
  /**
   * Starting incarnation. A restarted node should pass a persisted or time-based value above
   * the one its previous life reached, so its alive beats the old dead record at once (with 0
   * it still gets back in, by refuting the dead record once a peer tells it about it).
   */
  initialIncarnation?: number;
  config?: Partial<MembershipConfig>;
  clock: Clock;
  transport: MembershipTransport;
  /** Uniform in [0, 1); injectable for reproducible tests. */
  random?: () => number;
}

/** The probe in flight during the current protocol period. */
interface Probe {
  target: string;
  address: string;
  /** Incarnation when the probe started: a refutation that arrives meanwhile wins. */
  incarnation: number;
  seq: number;
  acked: boolean;
  nacks: number;
  expectedNacks: number;
  timer: Cancel | undefined;
}

/** A ping we send for another node's ping-req. */
interface Relay {
  requester: string;
  seq: number;
  nackTimer: Cancel | undefined;
  expiryTimer: Cancel;
}

interface PendingJoin {
  seqs: Set<number>;
  replies: number;
  timer: Cancel;
  resolve: (contacted: number) => void;
}

/**
 * SWIM failure detection and gossip with the Lifeguard refinements, after HashiCorp memberlist.
 * A plain state machine: timers come from the injected clock, messages leave through the
 * transport and arrive through handle(). It never blocks and never touches I/O itself.
 *
 * Each protocol period it pings the next member of a shuffled round-robin; without an ack by
 * the probe timeout it asks k helpers to ping the target too; without any ack by the end of
 * the period it suspects the target. A suspicion becomes a death after a timeout that shrinks
 * with independent confirmations, unless the member refutes it with a higher incarnation. All
 * news rides on probe traffic, each update a bounded number of times, so per-node load stays
 * flat as the cluster grows. A periodic full state exchange heals what gossip missed.
 */
export class Membership {
  readonly id: string;
  readonly address: string;
  readonly config: Readonly<MembershipConfig>;

  private readonly clock: Clock;
  private readonly transport: MembershipTransport;
  private readonly random: () => number;
  private readonly table = new MemberList();
  private readonly broadcasts: BroadcastQueue;
  private readonly awareness: Awareness;
  private readonly suspicions = new Map<string, Suspicion>();
  private readonly reapTimers = new Map<string, Cancel>();
  private readonly relays = new Map<number, Relay>();
  private readonly joins = new Set<PendingJoin>();
  private readonly listeners = new Set<MembershipListener>();
  private readonly stats: MembershipCounters = {
    probesSent: 0,
    indirectProbesSent: 0,
    indirectProbesServed: 0,
    acksReceived: 0,
    nacksReceived: 0,
    suspicionsRaised: 0,
    refutations: 0,
    membersDeclaredDead: 0,
    membersReaped: 0,
    messagesSent: 0,
    messagesReceived: 0,
    updatesSent: 0,
    updatesReceived: 0,
    syncsSent: 0,
    rejected: 0,
  };

  private probeOrder: string[] = [];
  private probeIndex = 0;
  private probe: Probe | undefined;
  /** When the running protocol period should end; a timer much later than this means a stall. */
  private periodDue = 0;
  private probeTimer: Cancel | undefined;
  private pushPullTimer: Cancel | undefined;
  private gossipTimer: Cancel | undefined;
  private seq = 0;
  private seeds: string[] = [];
  private started = false;
  private leaving = false;
  /** This node hears from no one (setCutOff): its own verdicts about others stay local. */
  private cutOff = false;
  private stopped = false;

  constructor(options: MembershipOptions) {
    this.id = options.id;
    this.address = options.address;
    this.config = resolveMembershipConfig(options.config);
    this.clock = options.clock;
    this.transport = options.transport;
    this.random = options.random ?? Math.random;
    this.broadcasts = new BroadcastQueue(this.config.retransmitMult);
    this.awareness = new Awareness(this.config.awarenessMaxMultiplier);
    const incarnation = options.initialIncarnation ?? 0;
    if (!Number.isSafeInteger(incarnation) || incarnation < 0) {
      throw new RangeError(`initialIncarnation must be a non-negative integer, got ${incarnation}`);
    }
    this.table.set({
      id: this.id,
      address: this.address,
      incarnation,
      state: "alive",
      stateChangedAt: this.clock.now(),
      meta: { ...options.meta },
    });
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Starts probing, the gossip loop and periodic push-pull. Idempotent; join() calls it. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    // Random first offsets so nodes started together do not probe in lockstep.
    this.probeTimer = this.clock.setTimeout(
      () => this.protocolPeriod(),
      Math.floor(this.random() * this.config.probeIntervalMs),
    );
    this.schedulePushPull(Math.floor(this.random() * this.config.pushPullIntervalMs));
    if (this.config.gossipNodes > 0) {
      this.scheduleGossip(Math.floor(this.random() * this.config.gossipIntervalMs));
    }
  }

  /**
   * Exchanges full state with each seed (memberlist's join push-pull). Resolves with the number
   * of seeds that answered within syncTimeoutMs. The seeds are remembered: while this node
   * knows no live peer, periodic push-pull goes to them, so a lone node keeps trying to join.
   */
  join(seeds: readonly { address: string; id?: string }[]): Promise<number> {
    if (this.stopped || this.leaving) return Promise.resolve(0);
    this.start();
    const targets = seeds.filter((s) => s.address !== this.address && s.id !== this.id);
    for (const s of targets) if (!this.seeds.includes(s.address)) this.seeds.push(s.address);
    if (targets.length === 0) return Promise.resolve(0);
    return new Promise((resolve) => {
      const pending: PendingJoin = {
        seqs: new Set(),
        replies: 0,
        resolve,
        timer: this.clock.setTimeout(() => this.finishJoin(pending), this.config.syncTimeoutMs),
      };
      this.joins.add(pending);
      for (const s of targets) pending.seqs.add(this.sendSync(s, true));
    });
  }

  /** Stops knocking on a seed while alone (discovery gave its address up: it never answered). */
  forgetSeed(address: string): void {
    this.seeds = this.seeds.filter((seed) => seed !== address);
  }

  /**
   * Answers a join (the seed's side of join()): merges the joiner's state and returns ours for
   * the reply. Whom this made alive (the joiner, or a whole other side after a partition) is
   * announced at once to every other alive member, one message each, instead of waiting for
   * gossip rounds to reach them: a join costs the seed N - 1 small messages, and every member
   * holds the joiner alive one hop after the seed does. The news is queued for gossip as well,
   * in case an announcement is lost.
   */
  acceptJoin(records: readonly MemberRecord[]): MemberRecord[] {
    if (this.stopped) return this.records();
    const news = this.merge(records);
    // After the reply has left: the joiner should hold the member list before the members it
    // is announced to start calling it.
    if (news.length > 0) this.clock.setTimeout(() => this.announce(news), 0);
    return this.records();
  }

  /**
   * Graceful leave: marks this node left, stops probing and pushes the news to as many members
   * as one update is retransmitted to, so others record `left` rather than suspecting a
   * failure. Keep handling inbound messages until pendingBroadcasts() is 0 or a short grace
   * period passes, then stop().
   */
  leave(): void {
    if (this.leaving || this.stopped) return;
    this.leaving = true;
    this.stopProbing();
    const me = this.self();
    const update: MemberUpdate = { type: "dead", id: this.id, incarnation: me.incarnation, from: this.id };
    this.table.set({ ...me, state: "left", stateChangedAt: this.clock.now() });
    this.broadcasts.enqueue(update);
    const peers = this.others((m) => m.state === "alive");
    for (const peer of this.pickRandom(
      peers,
      retransmitLimit(this.config.retransmitMult, peers.length + 1),
    )) {
      this.send(peer, { type: "gossip", updates: this.piggyback(peer.id) });
    }
  }

  /** Stops every timer and ignores further input. Pending join() promises resolve. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopProbing();
    this.gossipTimer?.();
    this.gossipTimer = undefined;
    for (const s of this.suspicions.values()) s.cancel();
    this.suspicions.clear();
    for (const cancel of this.reapTimers.values()) cancel();
    this.reapTimers.clear();
    for (const r of this.relays.values()) this.clearRelay(r);
    this.relays.clear();
    for (const j of [...this.joins]) this.finishJoin(j);
  }

  /**
   * Tells the membership that this node hears from no other (or hears again). While cut off, it
   * still suspects and declares peers dead for itself, but does not gossip those verdicts: once
   * the cut heals they would make the others drop nodes that were alive all along. (Its records
   * still carry them in a sync, where another's "dead" only makes a node suspect and probe.)
   */
  setCutOff(cutOff: boolean): void {
    this.cutOff = cutOff;
  }

  /** Announces new metadata (bumps the incarnation so it overrides the old alive). */
  updateMeta(meta: Record<string, string>): void {
    if (this.leaving || this.stopped) throw new Error("membership: cannot update metadata after leave/stop");
    const me = this.self();
    const next: Member = { ...me, incarnation: me.incarnation + 1, meta: { ...meta } };
    this.table.set(next);
    this.broadcasts.enqueue(aliveUpdate(next));
  }

  // ---- queries -----------------------------------------------------------------------------

  /** Every known member, this node included, in no particular order. */
  members(): Member[] {
    return this.table.all();
  }

  member(id: string): Member | undefined {
    return this.table.get(id);
  }

  localMember(): Member {
    return this.self();
  }

  countByState(): Record<MemberState, number> {
    return this.table.countByState();
  }

  /** Lifeguard local health score: 0 is healthy, timers scale by score + 1. */
  healthScore(): number {
    return this.awareness.score;
  }

  /** Updates still waiting to be piggybacked (flush before exiting after leave()). */
  pendingBroadcasts(): number {
    return this.broadcasts.size;
  }

  counters(): MembershipCounters {
    return { ...this.stats };
  }

  get isLeaving(): boolean {
    return this.leaving;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Subscribes to member events; returns the unsubscribe function. */
  onEvent(listener: MembershipListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- inbound -----------------------------------------------------------------------------

  /** Processes one inbound message; `from` is the sender's mesh address (replies go there). */
  handle(from: string, msg: MembershipMessage): void {
    if (this.stopped) return;
    this.stats.messagesReceived++;
    let staleAccusation = false;
    if ("updates" in msg) {
      this.stats.updatesReceived += msg.updates.length;
      for (const u of msg.updates) {
        if (this.applyUpdate(u) === "stale" && u.id === this.id && u.type !== "alive") staleAccusation = true;
      }
    }
    if (staleAccusation && !this.leaving && !this.broadcasts.has(this.id)) {
      // Someone still suspects an incarnation we already refuted: our refutation died out
      // before reaching everyone, so gossip it again.
      this.broadcasts.enqueue(aliveUpdate(this.self()));
    }
    switch (msg.type) {
      case "ping":
        this.onPing(from, msg, staleAccusation);
        return;
      case "ping-req":
        this.onPingReq(from, msg);
        return;
      case "ack":
        this.onAck(msg.seq);
        return;
      case "nack":
        this.stats.nacksReceived++;
        if (this.probe?.seq === msg.seq) this.probe.nacks++;
        return;
      case "sync": {
        // Reply after merging, so refutations the request triggered travel back at once.
        const members = msg.join ? this.acceptJoin(msg.members) : this.mergeAndList(msg.members);
        this.send({ address: from }, { type: "sync-reply", seq: msg.seq, members });
        return;
      }
      case "sync-reply":
        this.merge(msg.members);
        for (const j of this.joins) {
          if (j.seqs.delete(msg.seq)) {
            j.replies++;
            if (j.seqs.size === 0) this.finishJoin(j);
          }
        }
        return;
      case "gossip":
        return;
    }
  }

  private onPing(from: string, msg: Extract<MembershipMessage, { type: "ping" }>, staleAccusation: boolean) {
    if (msg.target !== this.id) {
      this.stats.rejected++;
      return;
    }
    const extras: MemberUpdate[] = [];
    // The pinger suspects an incarnation of ours it should know is refuted: answer directly.
    if (staleAccusation && !this.leaving) extras.push(aliveUpdate(this.self()));
    // Tell a pinger we think is suspect or dead about it, so it can refute now rather than
    // wait for gossip that may already have died out (the Lifeguard buddy system, extended to
    // dead members so a healed partition closes quickly).
    const source = this.table.get(msg.source);
    if (source && msg.source !== this.id && (source.state === "suspect" || source.state === "dead")) {
      extras.push({ type: source.state, id: source.id, incarnation: source.incarnation, from: this.id });
    }
    this.send(
      { id: msg.source, address: from },
      { type: "ack", seq: msg.seq, updates: this.piggyback(msg.source, extras) },
    );
  }

  private onPingReq(from: string, msg: Extract<MembershipMessage, { type: "ping-req" }>): void {
    if (msg.target === this.id) {
      // We are the target (the requester's direct ping got lost): just ack.
      this.send({ address: from }, { type: "ack", seq: msg.seq, updates: this.piggyback(undefined) });
      return;
    }
    this.stats.indirectProbesServed++;
    const seq = ++this.seq;
    const relay: Relay = {
      requester: from,
      seq: msg.seq,
      nackTimer: undefined,
      expiryTimer: this.clock.setTimeout(() => this.dropRelay(seq), this.config.probeIntervalMs),
    };
    // The nack must reach the requester before its period ends: that leaves it
    // probeInterval - probeTimeout after sending the ping-req, minus network time.
    const nackAfter = Math.min(
      this.config.probeTimeoutMs,
      Math.floor(0.8 * (this.config.probeIntervalMs - this.config.probeTimeoutMs)),
    );
    relay.nackTimer = this.clock.setTimeout(() => {
      relay.nackTimer = undefined;
      this.send(
        { address: relay.requester },
        { type: "nack", seq: relay.seq, updates: this.piggyback(undefined) },
      );
    }, nackAfter);
    this.relays.set(seq, relay);
    this.send(
      { id: msg.target, address: msg.targetAddress },
      { type: "ping", seq, target: msg.target, source: this.id, updates: this.piggyback(msg.target) },
    );
  }

  private onAck(seq: number): void {
    this.stats.acksReceived++;
    const p = this.probe;
    if (p && p.seq === seq) {
      if (p.acked) return;
      p.acked = true;
      p.timer?.();
      p.timer = undefined;
      this.awareness.applyDelta(-1);
      return;
    }
    const relay = this.relays.get(seq);
    if (relay) {
      this.dropRelay(seq);
      this.send(
        { address: relay.requester },
        { type: "ack", seq: relay.seq, updates: this.piggyback(undefined) },
      );
    }
  }

  private dropRelay(seq: number): void {
    const relay = this.relays.get(seq);
    if (!relay) return;
    this.relays.delete(seq);
    this.clearRelay(relay);
  }

  private clearRelay(relay: Relay): void {
    relay.nackTimer?.();
    relay.nackTimer = undefined;
    relay.expiryTimer();
  }

  // ---- probing -----------------------------------------------------------------------------

  /** End the previous probe, start the next; the period stretches with local health. */
  private protocolPeriod(): void {
    this.probeTimer = undefined;
    if (this.stopped || this.leaving) return;
    const now = this.clock.now();
    if (this.periodDue > 0 && now - this.periodDue > this.config.probeIntervalMs) {
      // This process was stalled: the probe's ack may be queued behind this very timer, so an
      // unanswered probe says nothing about its target. Count the stall against ourselves.
      this.abandonProbe();
      this.awareness.applyDelta(1);
    } else {
      this.finishProbe();
    }
    const interval = this.awareness.scale(this.config.probeIntervalMs);
    this.startProbe();
    this.periodDue = now + interval;
    this.probeTimer = this.clock.setTimeout(() => this.protocolPeriod(), interval);
  }

  private abandonProbe(): void {
    this.probe?.timer?.();
    this.probe = undefined;
  }

  private startProbe(): void {
    const target = this.nextProbeTarget();
    if (!target) return;
    const p: Probe = {
      target: target.id,
      address: target.address,
      incarnation: target.incarnation,
      seq: ++this.seq,
      acked: false,
      nacks: 0,
      expectedNacks: 0,
      timer: undefined,
    };
    this.probe = p;
    // A suspect target hears the accusation with the ping, so it can refute right away.
    const extra: MemberUpdate | undefined =
      target.state === "suspect"
        ? { type: "suspect", id: target.id, incarnation: target.incarnation, from: this.id }
        : undefined;
    this.stats.probesSent++;
    this.send(target, {
      type: "ping",
      seq: p.seq,
      target: target.id,
      source: this.id,
      updates: this.piggyback(target.id, extra ? [extra] : []),
    });
    p.timer = this.clock.setTimeout(
      () => this.indirectProbe(p),
      this.awareness.scale(this.config.probeTimeoutMs),
    );
  }

  private indirectProbe(p: Probe): void {
    p.timer = undefined;
    if (this.probe !== p || p.acked) return;
    const helpers = this.pickRandom(
      this.others((m) => m.state === "alive" && m.id !== p.target),
      this.config.indirectProbes,
    );
    p.expectedNacks = helpers.length;
    for (const h of helpers) {
      this.stats.indirectProbesSent++;
      this.send(h, {
        type: "ping-req",
        seq: p.seq,
        target: p.target,
        targetAddress: p.address,
        updates: this.piggyback(h.id),
      });
    }
  }

  /** Called at the end of a period: a probe still without an ack raises a suspicion. */
  private finishProbe(): void {
    const p = this.probe;
    this.probe = undefined;
    if (!p) return;
    p.timer?.();
    if (p.acked) return;
    // Missing nacks mean our own links or CPU are the likelier culprit (Lifeguard). With no
    // helper to tell us, every failed probe counts against us.
    this.awareness.applyDelta(p.expectedNacks > 0 ? p.expectedNacks - p.nacks : 1);
    const target = this.table.get(p.target);
    if (!target || !isLive(target.state)) return;
    this.stats.suspicionsRaised++;
    this.applyUpdate({ type: "suspect", id: p.target, incarnation: p.incarnation, from: this.id });
  }

  private stopProbing(): void {
    this.probeTimer?.();
    this.pushPullTimer?.();
    this.probe?.timer?.();
    this.probeTimer = undefined;
    this.pushPullTimer = undefined;
    this.probe = undefined;
  }

  /**
   * Shuffled round-robin: every live member is probed once per round, which bounds detection
   * time; reshuffling each round keeps the order unpredictable.
   */
  private nextProbeTarget(): Member | undefined {
    let reshuffled = false;
    for (;;) {
      if (this.probeIndex >= this.probeOrder.length) {
        if (reshuffled) return undefined;
        reshuffled = true;
        this.probeOrder = this.shuffle(this.table.ids().filter((id) => id !== this.id));
        this.probeIndex = 0;
        continue;
      }
      const m = this.table.get(this.probeOrder[this.probeIndex++]!);
      if (m && m.id !== this.id && isLive(m.state)) return m;
    }
  }

  /** New members go to a random place among those not yet probed this round. */
  private insertIntoProbeOrder(id: string): void {
    const remaining = this.probeOrder.length - this.probeIndex;
    const at = this.probeIndex + Math.floor(this.random() * (remaining + 1));
    this.probeOrder.splice(at, 0, id);
  }

  private removeFromProbeOrder(id: string): void {
    const at = this.probeOrder.indexOf(id);
    if (at < 0) return;
    this.probeOrder.splice(at, 1);
    if (at < this.probeIndex) this.probeIndex--;
  }

  // ---- gossip ------------------------------------------------------------------------------

  /** Keeps running after leave(), so the leave keeps spreading until stop(). */
  private scheduleGossip(delay: number): void {
    this.gossipTimer = this.clock.setTimeout(() => {
      this.gossipTimer = undefined;
      if (this.stopped) return;
      this.gossip();
      this.scheduleGossip(this.config.gossipIntervalMs);
    }, delay);
  }

  private gossip(): void {
    if (this.broadcasts.size === 0) return;
    const targets = this.pickRandom(
      this.others((m) => m.state !== "left"),
      this.config.gossipNodes,
    );
    for (const t of targets) {
      const updates = this.piggyback(t.id);
      if (updates.length === 0) continue;
      this.send(t, { type: "gossip", updates });
    }
  }

  // ---- push-pull ---------------------------------------------------------------------------

  private schedulePushPull(delay: number): void {
    this.pushPullTimer = this.clock.setTimeout(() => {
      this.pushPullTimer = undefined;
      if (this.stopped || this.leaving) return;
      this.pushPull();
      this.schedulePushPull(pushPullScaleMs(this.config.pushPullIntervalMs, this.table.liveCount()));
    }, delay);
  }

  private pushPull(): void {
    const [peer] = this.pickRandom(
      this.others((m) => m.state === "alive"),
      1,
    );
    if (peer) {
      this.sendSync(peer, false);
    } else if (this.seeds.length > 0) {
      // Alone: keep knocking on the seeds we were given.
      this.sendSync({ address: this.seeds[Math.floor(this.random() * this.seeds.length)]! }, true);
    }
    // Also try one member we think dead (Serf's reconnect): after a partition both sides have
    // written each other off and no probe crosses, so this is what brings them back together.
    const [lost] = this.pickRandom(
      this.others((m) => m.state === "dead"),
      1,
    );
    if (lost) this.sendSync(lost, false);
  }

  private sendSync(to: Destination, join: boolean): number {
    const seq = ++this.seq;
    this.stats.syncsSent++;
    this.send(to, { type: "sync", seq, join, members: this.records() });
    return seq;
  }

  private finishJoin(j: PendingJoin): void {
    if (!this.joins.delete(j)) return;
    j.timer();
    j.resolve(j.replies);
  }

  /**
   * memberlist mergeState: replay each remote record through the normal precedence rules.
   * Returns the alive updates that were news (new members, or members back or changed).
   */
  private merge(records: readonly MemberRecord[]): MemberUpdate[] {
    const news: MemberUpdate[] = [];
    for (const r of records) {
      if (!isValidRecord(r)) {
        this.stats.rejected++;
        continue;
      }
      const u = recordToUpdate(r, this.id);
      if (this.applyUpdate(u) === "apply" && u.type === "alive") news.push(u);
    }
    return news;
  }

  private mergeAndList(records: readonly MemberRecord[]): MemberRecord[] {
    this.merge(records);
    return this.records();
  }

  /** Pushes alive news to every other alive member now; the first maxPiggyback updates go. */
  private announce(news: readonly MemberUpdate[]): void {
    if (this.stopped) return;
    const updates = news.slice(0, this.config.maxPiggyback);
    for (const peer of this.others((m) => m.state === "alive")) {
      const forPeer = updates.filter((u) => u.id !== peer.id);
      if (forPeer.length === 0) continue;
      this.stats.updatesSent += forPeer.length;
      this.send(peer, { type: "gossip", updates: forPeer });
    }
  }

  private records(): MemberRecord[] {
    return this.table.all().map(toRecord);
  }

  // ---- state changes -----------------------------------------------------------------------

  /** Runs `u` through the precedence rules; returns what happened (the reason when ignored). */
  private applyUpdate(u: MemberUpdate): Decision["kind"] | IgnoreReason | "invalid" {
    if (!isValidUpdate(u)) {
      this.stats.rejected++;
      return "invalid";
    }
    const current = this.table.get(u.id);
    const decision = decide(current, u, { selfId: this.id, leaving: this.leaving, now: this.clock.now() });
    switch (decision.kind) {
      case "ignore":
        return decision.reason;
      case "refute":
        this.refute(decision.accused);
        break;
      case "confirm":
        // Re-gossip only news: a confirmation we already counted would just add load.
        if (u.type === "suspect" && this.suspicions.get(u.id)?.confirm(u.from)) this.broadcasts.enqueue(u);
        break;
      case "apply":
        this.commit(current, decision.next, u);
        break;
    }
    return decision.kind;
  }

  private commit(prev: Member | undefined, next: Member, u: MemberUpdate): void {
    this.table.set(next);
    if (next.id === this.id) {
      // Only our own leave lands here; it is queued by leave() itself.
      return;
    }
    if (!prev) this.insertIntoProbeOrder(next.id);
    if (next.state !== "suspect") this.cancelSuspicion(next.id);
    if (isLive(next.state)) this.cancelReap(next.id);
    if (next.state === "suspect" && prev?.state !== "suspect") this.startSuspicion(next, u);
    if (!isLive(next.state) && (!prev || isLive(prev.state))) this.scheduleReap(next.id);
    const ownVerdict = u.type !== "alive" && u.from === this.id;
    if (!(this.cutOff && ownVerdict)) this.broadcasts.enqueue(u);
    this.emitTransition(prev, next);
  }

  private startSuspicion(m: Member, u: MemberUpdate): void {
    const n = this.table.liveCount();
    // Confirmations can only come from members other than us and the suspect. Expecting
    // suspicionMult - 2 makes the timeout hit its floor about two periods early (memberlist).
    let expected = this.config.suspicionMult - 2;
    if (n - 2 < expected) expected = 0;
    const min = suspicionMinTimeoutMs(this.config.suspicionMult, n, this.config.probeIntervalMs);
    const max = this.config.suspicionMaxTimeoutMult * min;
    const from = u.type === "suspect" ? u.from : this.id;
    const suspicion = new Suspicion({
      clock: this.clock,
      from,
      expected,
      minMs: min,
      maxMs: max,
      onTimeout: () => {
        if (this.suspicions.get(m.id) !== suspicion) return;
        this.suspicions.delete(m.id);
        const current = this.table.get(m.id);
        if (current?.state !== "suspect") return;
        this.applyUpdate({ type: "dead", id: m.id, incarnation: current.incarnation, from: this.id });
      },
      lateMs: this.config.probeIntervalMs,
      onLate: () => this.awareness.applyDelta(1), // we were the slow one
    });
    this.suspicions.get(m.id)?.cancel();
    this.suspicions.set(m.id, suspicion);
  }

  private cancelSuspicion(id: string): void {
    const s = this.suspicions.get(id);
    if (!s) return;
    s.cancel();
    this.suspicions.delete(id);
  }

  private scheduleReap(id: string): void {
    this.cancelReap(id);
    this.reapTimers.set(
      id,
      this.clock.setTimeout(() => {
        this.reapTimers.delete(id);
        const m = this.table.get(id);
        if (!m || isLive(m.state)) return;
        this.table.delete(id);
        this.removeFromProbeOrder(id);
        this.stats.membersReaped++;
        this.emit({ type: "memberReaped", member: m });
      }, this.config.deadReclaimMs),
    );
  }

  private cancelReap(id: string): void {
    const t = this.reapTimers.get(id);
    if (t === undefined) return;
    t();
    this.reapTimers.delete(id);
  }

  /** Out-bid an accusation with a higher incarnation and tell everyone. */
  private refute(accused: number): void {
    const me = this.self();
    const incarnation = Math.max(me.incarnation, accused) + 1;
    const next: Member = { ...me, incarnation };
    this.table.set(next);
    this.stats.refutations++;
    // Being accused is a hint that we are the slow one (Lifeguard).
    this.awareness.applyDelta(1);
    this.broadcasts.enqueue(aliveUpdate(next));
  }

  private emitTransition(prev: Member | undefined, next: Member): void {
    if (!prev) {
      this.emit({ type: "memberJoined", member: next });
      return;
    }
    if (prev.state === next.state) {
      if (prev.address !== next.address || !sameMeta(prev.meta, next.meta)) {
        this.emit({ type: "memberUpdated", member: next, previous: prev.state });
      }
      return;
    }
    switch (next.state) {
      case "alive":
        if (!isLive(prev.state)) this.emit({ type: "memberJoined", member: next, previous: prev.state });
        else this.emit({ type: "memberUpdated", member: next, previous: prev.state });
        return;
      case "suspect":
        this.emit({ type: "memberUpdated", member: next, previous: prev.state });
        return;
      case "dead":
        this.stats.membersDeclaredDead++;
        this.emit({ type: "memberDead", member: next, previous: prev.state });
        return;
      case "left":
        this.emit({ type: "memberLeft", member: next, previous: prev.state });
        return;
    }
  }

  private emit(event: MembershipEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  // ---- helpers -----------------------------------------------------------------------------

  private self(): Member {
    return this.table.get(this.id)!;
  }

  private others(filter: (m: Member) => boolean): Member[] {
    return this.table.all().filter((m) => m.id !== this.id && filter(m));
  }

  /**
   * Queued updates for one message, after `extras` that must go along regardless. An alive
   * about the recipient itself is news to nobody, so it does not use up a transmission.
   */
  private piggyback(recipient: string | undefined, extras: MemberUpdate[] = []): MemberUpdate[] {
    const skip =
      recipient === undefined ? undefined : (u: MemberUpdate) => u.type === "alive" && u.id === recipient;
    const queued = this.broadcasts.take(
      this.config.maxPiggyback - extras.length,
      this.table.liveCount(),
      skip,
    );
    const updates = [...extras, ...queued.filter((u) => !extras.some((e) => e.id === u.id))];
    this.stats.updatesSent += updates.length;
    return updates;
  }

  private send(to: Destination, msg: MembershipMessage): void {
    this.stats.messagesSent++;
    this.transport.send(
      to.id === undefined ? { address: to.address } : { id: to.id, address: to.address },
      msg,
    );
  }

  private shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  private pickRandom<T>(items: readonly T[], k: number): T[] {
    return this.shuffle([...items]).slice(0, Math.max(0, k));
  }
}

/**
 * Beyond 32 members push-pull slows down logarithmically, so full syncs (which grow with N)
 * stay a small share of the traffic (memberlist pushPullScale).
 */
export function pushPullScaleMs(intervalMs: number, numMembers: number): number {
  const threshold = 32;
  if (numMembers <= threshold) return intervalMs;
  return intervalMs * (Math.ceil(Math.log2(numMembers) - Math.log2(threshold)) + 1);
}

const isIncarnation = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
const isId = (s: unknown): boolean => typeof s === "string" && s.length > 0;

function isValidUpdate(u: MemberUpdate): boolean {
  if (!u || !isId(u.id) || !isIncarnation(u.incarnation)) return false;
  if (u.type === "alive")
    return typeof u.address === "string" && typeof u.meta === "object" && u.meta !== null;
  return (u.type === "suspect" || u.type === "dead") && isId(u.from);
}

function isValidRecord(r: MemberRecord): boolean {
  return (
    !!r &&
    isId(r.id) &&
    isIncarnation(r.incarnation) &&
    typeof r.address === "string" &&
    ["alive", "suspect", "dead", "left"].includes(r.state) &&
    typeof r.meta === "object" &&
    r.meta !== null
  );
}
