import { EventEmitter } from "node:events";
import type * as grpc from "@grpc/grpc-js";
import type { nodemesh } from "@hermes/proto";
import type { Logger } from "pino";
import type { MeshConfig } from "../config/types.js";
import type { Identity } from "../identity/index.js";
import type { AppLocation } from "../router/locator.js";
import type { Metrics } from "../telemetry/index.js";
import { openDescriptor, signDescriptor } from "./descriptor.js";
import { AppDirectory } from "./directory.js";
import { EnvelopeSealer, MeshFrameError, openEnvelope, type Refusal, ReplayGuard } from "./envelope.js";
import {
  type Member,
  type MemberRecord,
  Membership,
  type MembershipMessage,
  systemClock,
} from "./membership/index.js";
import { MeshMetrics } from "./mesh-metrics.js";
import { PeerLinks } from "./peer-links.js";
import { decodeMember, decodeSwim, encodeMember, encodeSwim } from "./swim-codec.js";

export interface MeshOptions {
  identity: Identity;
  config: MeshConfig;
  /** This node's app endpoint, advertised to other nodes and their apps. */
  appEndpoint: string;
  clockSkewMs: number;
  credentialsFor: (address: string) => grpc.ChannelCredentials;
  logger: Logger;
  metrics: Metrics;
  version: string;
}

/** Why the chats with a node must go. */
export type NodeLostReason = "dead" | "left" | "tieline_lost";

/**
 * The mesh: SWIM membership, the app directory and the tieline streams, around one identity.
 * Its state machines are pure (membership/, directory.ts); this class is the glue and the I/O.
 * The router talks to it through locate()/sendRoute() and hears back through events.
 */
export class Mesh extends EventEmitter<{
  routeFrame: [string, nodemesh.RouteFrame];
  nodeLost: [string, NodeLostReason];
  /** An app connected to another node after (or without) connecting here: it moved there. */
  appMoved: [string, string];
}> {
  readonly identity: Identity;
  readonly nodeId: string;
  readonly clockSkewMs: number;
  readonly membership: Membership;
  readonly directory: AppDirectory;
  private readonly links: PeerLinks;
  private readonly replay = new ReplayGuard();
  private readonly sealer: EnvelopeSealer;
  private readonly metrics: MeshMetrics;
  private readonly logger: Logger;
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private readonly reopenTimers = new Map<string, NodeJS.Timeout>();
  private readonly snapshotAsked = new Map<string, number>();
  /** The boot each peer last spoke from; a new one means it restarted. */
  private readonly boots = new Map<string, number>();
  /** The node found behind each address we joined through (DNS may name it differently). */
  private readonly joinedVia = new Map<string, string>();
  private readonly lastRefusalLog = new Map<Refusal, { at: number; suppressed: number }>();
  private deltaTimer: NodeJS.Timeout | undefined;
  private joined = false;

  constructor(private readonly o: MeshOptions) {
    super();
    this.identity = o.identity;
    this.nodeId = o.identity.id;
    this.clockSkewMs = o.clockSkewMs;
    this.logger = o.logger.child({ component: "mesh" });
    const bootId = Date.now();
    this.sealer = new EnvelopeSealer(o.identity, o.config.advertise, bootId);
    this.directory = new AppDirectory(this.nodeId, bootId);
    this.links = new PeerLinks({
      identity: o.identity,
      credentialsFor: o.credentialsFor,
      maxFrameBytes: o.config.maxFrameBytes,
      maxQueuedFrames: o.config.maxQueuedFrames,
      clockSkewMs: o.clockSkewMs,
      logger: this.logger,
    });
    this.membership = new Membership({
      id: this.nodeId,
      address: o.config.advertise,
      // A restarted node starts above the incarnation its old (dead) record carried.
      initialIncarnation: Math.floor(bootId / 1000),
      meta: {
        app: o.appEndpoint,
        key: Buffer.from(o.identity.publicKey).toString("base64"),
        version: o.version,
      },
      config: o.config.membership,
      clock: systemClock,
      transport: { send: (to, msg) => this.sendSwim(to.address, to.id ?? "", msg) },
    });
    this.metrics = new MeshMetrics(o.metrics, {
      counters: () => this.membership.counters(),
      countByState: () => this.membership.countByState(),
      routingEntries: () => this.directory.size,
      tielines: () => this.membership.members().filter((m) => this.links.isRouteUp(m.id)).length,
    });
    this.membership.onEvent((event) =>
      this.onMembershipEvent(event.type, event.member, "previous" in event ? event.previous : undefined),
    );
    this.links.on("routeUp", (nodeId) => {
      clearTimeout(this.graceTimers.get(nodeId));
      this.graceTimers.delete(nodeId);
    });
    this.links.on("routeDown", (nodeId, why) => this.tielineDown(nodeId, why));
  }

  // ------------------------------------------------------------------ lifecycle

  start(): void {
    this.membership.start();
  }

  /** Joins through seed addresses; resolves with how many answered. */
  async join(addresses: string[]): Promise<number> {
    const seeds = addresses.filter((a) => a !== this.o.config.advertise).map((address) => ({ address }));
    if (seeds.length === 0) return 0;
    const answered = await this.membership.join(seeds);
    if (answered > 0) this.joined = true;
    return answered;
  }

  /** True when `address` (as discovery names it) leads to a node that is a live member. */
  knowsAddress(address: string): boolean {
    const id = this.joinedVia.get(address);
    return id !== undefined && this.isLive(id);
  }

  /** Ready when joined, or when deliberately alone (no seeds to join). */
  get isJoined(): boolean {
    return this.joined || this.alivePeers().length > 0;
  }

  /** Graceful leave: tell the others, give the news a moment to spread, then stop. */
  async leave(graceMs = 1000): Promise<void> {
    this.membership.leave();
    const deadline = Date.now() + graceMs;
    while (this.membership.pendingBroadcasts() > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    this.stop();
  }

  stop(): void {
    this.membership.stop();
    clearTimeout(this.deltaTimer);
    for (const timer of this.graceTimers.values()) clearTimeout(timer);
    for (const timer of this.reopenTimers.values()) clearInterval(timer);
    this.links.close();
  }

  // ------------------------------------------------------------------ for the router

  locate(appId: string): AppLocation | undefined {
    const entry = this.directory.locate(appId);
    if (!entry || entry.nodeId === this.nodeId) return undefined;
    const member = this.membership.member(entry.nodeId);
    if (!member || member.state === "dead" || member.state === "left") return undefined;
    return { nodeId: entry.nodeId, appEndpoint: member.meta.app ?? "" };
  }

  endpoints(): AppLocation[] {
    return this.alivePeers().map((m) => ({ nodeId: m.id, appEndpoint: m.meta.app ?? "" }));
  }

  /** Sends a tieline frame; false when the peer is unknown, gone, or its stream is backed up. */
  sendRoute(nodeId: string, frame: nodemesh.RouteFrame): boolean {
    const member = this.membership.member(nodeId);
    if (!member || member.state === "dead" || member.state === "left") return false;
    return this.links.sendRoute(nodeId, member.address, frame);
  }

  observeRelayLatency(seconds: number): void {
    this.metrics.relayLatency.observe(Math.max(0, seconds));
  }

  appConnected(appId: string, atMs: number): void {
    this.directory.localConnected(appId, atMs);
    this.scheduleDelta();
  }

  appDisconnected(appId: string): void {
    this.directory.localDisconnected(appId);
    this.scheduleDelta();
  }

  /** Members for /mesh/members. */
  memberView(): object[] {
    const counts = this.directory.counts();
    return this.membership.members().map((m) => ({
      nodeId: m.id,
      self: m.id === this.nodeId,
      address: m.address,
      appEndpoint: m.meta.app ?? "",
      state: m.state,
      incarnation: m.incarnation,
      stateChangedAt: new Date(m.stateChangedAt).toISOString(),
      apps: counts.get(m.id) ?? 0,
      tieline: m.id === this.nodeId ? null : this.links.isRouteUp(m.id),
    }));
  }

  /** The routing table for /mesh/routes. */
  routeView(): object {
    return {
      nodeId: this.nodeId,
      nodes: this.directory.snapshots().map((s) => ({
        nodeId: s.nodeId,
        version: s.version,
        apps: s.apps.map((a) => ({ appId: a.appId, connectedAt: new Date(a.connectedAtMs).toISOString() })),
      })),
    };
  }

  // ------------------------------------------------------------------ inbound (from mesh-service.ts)

  answerJoin(request: nodemesh.JoinRequest): nodemesh.JoinResponse {
    const d = openDescriptor(request.node, Date.now(), this.clockSkewMs);
    const members: MemberRecord[] = request.members.map(decodeMember);
    if (!members.some((m) => m.id === d.nodeId)) {
      members.push({
        id: d.nodeId,
        address: d.meshEndpoint,
        incarnation: d.incarnation,
        state: "alive",
        meta: { ...d.metadata },
      });
    }
    // Merging as a sync reply that answers no join of ours: the table takes the members in.
    this.membership.handle(d.meshEndpoint, { type: "sync-reply", seq: -1, members });
    // A joiner may be a restarted node: dial it afresh rather than through a backed-off channel.
    this.links.resetAddress(d.meshEndpoint);
    this.logger.info({ peer: d.nodeId, address: d.meshEndpoint }, "node joined through us");
    return {
      node: this.descriptor(),
      members: this.records().map(encodeMember),
      directory: this.directory.snapshots(),
    };
  }

  receiveGossip(envelope: nodemesh.GossipEnvelope, via: string): void {
    let payload: nodemesh.GossipPayload;
    try {
      payload = openEnvelope(envelope, {
        selfId: this.nodeId,
        now: Date.now(),
        clockSkewMs: this.clockSkewMs,
        replay: this.replay,
      });
    } catch (error) {
      if (error instanceof MeshFrameError) return this.refused(error.refusal, error.message, via);
      throw error;
    }
    const bytes = envelope.payload.length + envelope.signature.length;
    this.metrics.gossipBytes.inc({ direction: "received" }, bytes);
    this.metrics.gossipMessages.inc({ direction: "received" });
    const sender = payload.senderId;
    const body = payload.body!;
    const boot = this.boots.get(sender);
    if (boot !== payload.bootId) {
      // The sender (re)started: reach it afresh instead of through a channel still backing off.
      if (boot !== undefined) this.links.resetAddress(payload.senderAddress);
      this.boots.set(sender, payload.bootId);
    }
    try {
      switch (body.$case) {
        case "swim":
          this.membership.handle(payload.senderAddress, decodeSwim(body.value));
          break;
        case "directoryDelta": {
          if (body.value.nodeId !== sender) {
            return this.refused(
              "id_mismatch",
              `${sender} sent a directory delta for ${body.value.nodeId}`,
              via,
            );
          }
          if (this.isGone(sender)) break; // its routes were dropped; late news must not revive them
          const result = this.directory.applyDelta(body.value);
          if (result === "gap") this.askSnapshot(sender, payload.senderAddress, true);
          if (result === "applied") this.checkMoved(sender, body.value.added);
          break;
        }
        case "directoryRequest":
          this.sendGossip(payload.senderAddress, sender, {
            $case: "directorySnapshot",
            value: this.directory.snapshot(),
          });
          break;
        case "directorySnapshot":
          if (
            body.value.nodeId === sender &&
            !this.isGone(sender) &&
            this.directory.applySnapshot(body.value)
          ) {
            this.checkMoved(sender, body.value.apps);
          }
          break;
      }
    } catch (error) {
      return this.refused("malformed", `${body.$case} from ${sender}: ${(error as Error).message}`, via);
    }
    // Anti-entropy: every envelope carries its sender's directory version.
    if (payload.directoryVersion > this.directory.knownVersion(sender) && this.isLive(sender)) {
      this.askSnapshot(sender, payload.senderAddress);
    }
  }

  receiveRoute(fromNodeId: string, frame: nodemesh.RouteFrame): void {
    this.emit("routeFrame", fromNodeId, frame);
  }

  refused(code: Refusal, message: string, peer: string): void {
    this.metrics.refusedFrames.inc({ code });
    // Every refusal is counted; the log gets one line per code per second, so a flood of bad
    // frames does not become a flood of log lines.
    const now = Date.now();
    const last = this.lastRefusalLog.get(code);
    if (last !== undefined && now - last.at < 1000) {
      last.suppressed++;
      return;
    }
    this.logger.warn(
      { code, peer, reason: message, suppressed: last?.suppressed ?? 0 },
      "mesh frame refused",
    );
    this.lastRefusalLog.set(code, { at: now, suppressed: 0 });
  }

  // ------------------------------------------------------------------ internals

  private sendSwim(address: string, receiverId: string, msg: MembershipMessage): void {
    if (msg.type === "sync" && msg.join) {
      void this.joinThrough(address, msg);
      return;
    }
    this.sendGossip(address, receiverId, { $case: "swim", value: encodeSwim(msg) });
  }

  private sendGossip(address: string, receiverId: string, body: nodemesh.GossipPayload["body"]): void {
    const envelope = this.sealer.seal(receiverId, this.directory.version, body);
    if (this.links.sendGossip(address, envelope)) {
      this.metrics.gossipBytes.inc(
        { direction: "sent" },
        envelope.payload.length + envelope.signature.length,
      );
      this.metrics.gossipMessages.inc({ direction: "sent" });
    }
  }

  /** A SWIM join goes over the Join RPC: signed descriptor out, members and directory back. */
  private async joinThrough(
    address: string,
    sync: Extract<MembershipMessage, { type: "sync" }>,
  ): Promise<void> {
    try {
      const response = await this.links.join(
        address,
        { node: this.descriptor(), members: sync.members.map(encodeMember) },
        this.o.config.membership.syncTimeoutMs,
      );
      const peer = openDescriptor(response.node, Date.now(), this.clockSkewMs);
      for (const snapshot of response.directory)
        if (!this.isGone(snapshot.nodeId)) this.directory.applySnapshot(snapshot);
      this.membership.handle(address, {
        type: "sync-reply",
        seq: sync.seq,
        members: response.members.map(decodeMember),
      });
      this.metrics.joinAttempts.inc({ result: "ok" });
      this.joined = true;
      this.joinedVia.set(address, peer.nodeId);
      this.logger.info(
        { seed: address, peer: peer.nodeId, members: response.members.length },
        "joined the mesh",
      );
    } catch (error) {
      const refused = error instanceof MeshFrameError || (error as grpc.ServiceError).code === 7;
      this.metrics.joinAttempts.inc({ result: refused ? "refused" : "failed" });
      this.logger.warn({ seed: address, err: (error as Error).message }, "join attempt failed");
    }
  }

  private descriptor(): nodemesh.SignedDescriptor {
    const me = this.membership.localMember();
    return signDescriptor(this.identity, {
      meshEndpoint: me.address,
      appEndpoint: this.o.appEndpoint,
      incarnation: me.incarnation,
      metadata: { ...me.meta },
    });
  }

  private records(): MemberRecord[] {
    return this.membership.members().map((m) => ({
      id: m.id,
      address: m.address,
      incarnation: m.incarnation,
      state: m.state,
      meta: { ...m.meta },
    }));
  }

  private onMembershipEvent(type: string, member: Member, previous?: string): void {
    this.metrics.membershipChanges.inc({ event: type });
    this.logger.info(
      {
        event: type,
        peer: member.id,
        address: member.address,
        state: member.state,
        previous,
        incarnation: member.incarnation,
      },
      "membership change",
    );
    if (type === "memberJoined") {
      this.links.ensureRoute(member.id, member.address);
      this.askSnapshot(member.id, member.address);
    } else if (type === "memberDead" || type === "memberLeft") {
      this.nodeGone(member, type === "memberDead" ? "dead" : "left");
    }
  }

  private nodeGone(member: Member, reason: NodeLostReason): void {
    const apps = this.directory.dropNode(member.id);
    this.links.forget(member.id, member.address);
    clearTimeout(this.graceTimers.get(member.id));
    this.graceTimers.delete(member.id);
    this.logger.info({ peer: member.id, reason, routesDropped: apps.length }, "node gone: routes dropped");
    this.emit("nodeLost", member.id, reason);
  }

  /** A broken tieline gets tielineGraceMs to come back before its chats are torn down. */
  private tielineDown(nodeId: string, why: string): void {
    this.reopenTieline(nodeId);
    // Reopen attempts that fail again are not news: one warning per outage.
    if (this.graceTimers.has(nodeId)) return this.logger.debug({ peer: nodeId, why }, "tieline still down");
    this.logger.warn({ peer: nodeId, why }, "tieline stream lost");
    const timer = setTimeout(() => {
      this.graceTimers.delete(nodeId);
      if (this.links.isRouteUp(nodeId)) return;
      this.logger.warn({ peer: nodeId }, "tieline did not come back: tearing its chats down");
      this.emit("nodeLost", nodeId, "tieline_lost");
    }, this.o.config.tielineGraceMs);
    timer.unref();
    this.graceTimers.set(nodeId, timer);
  }

  /**
   * An app now on `nodeId` that is not connected here, or connected here earlier, has moved
   * there: the router drops a stale session and the chats it kept for it.
   */
  private checkMoved(nodeId: string, entries: nodemesh.AppEntry[]): void {
    for (const entry of entries) {
      const here = this.directory.localSince(entry.appId);
      if (here === undefined || entry.connectedAtMs > here) this.emit("appMoved", entry.appId, nodeId);
    }
  }

  /**
   * Opens the tieline to a live member again as soon as its backoff allows, until it is up or the
   * member is gone. (The failure that took it down has just started that backoff, so an attempt
   * right away would be refused.)
   */
  private reopenTieline(nodeId: string): void {
    if (this.reopenTimers.has(nodeId)) return;
    const timer = setInterval(() => {
      const member = this.membership.member(nodeId);
      if (member && this.isLive(nodeId) && !this.links.isRouteUp(nodeId)) {
        this.links.ensureRoute(nodeId, member.address);
        return;
      }
      clearInterval(timer);
      this.reopenTimers.delete(nodeId);
    }, 100);
    timer.unref();
    this.reopenTimers.set(nodeId, timer);
  }

  private scheduleDelta(): void {
    if (this.deltaTimer) return;
    // Batch bursts of connects into one delta; 50 ms keeps routing fresh.
    this.deltaTimer = setTimeout(() => {
      this.deltaTimer = undefined;
      const delta = this.directory.takeDelta();
      if (!delta) return;
      for (const peer of this.alivePeers())
        this.sendGossip(peer.address, peer.id, { $case: "directoryDelta", value: delta });
    }, 50);
    this.deltaTimer.unref();
  }

  /** Asks a node for its full app list, at most once a second per node unless forced by a gap. */
  private askSnapshot(nodeId: string, address: string, force = false): void {
    const last = this.snapshotAsked.get(nodeId) ?? 0;
    if (!force && Date.now() - last < 1000) return;
    this.snapshotAsked.set(nodeId, Date.now());
    this.sendGossip(address, nodeId, { $case: "directoryRequest", value: {} });
  }

  /** Dead or left: its routes were dropped when it went (memberJoined brings them back). */
  private isGone(nodeId: string): boolean {
    const state = this.membership.member(nodeId)?.state;
    return state === "dead" || state === "left";
  }

  private isLive(nodeId: string): boolean {
    const m = this.membership.member(nodeId);
    return m !== undefined && (m.state === "alive" || m.state === "suspect");
  }

  private alivePeers(): Member[] {
    return this.membership.members().filter((m) => m.id !== this.nodeId && m.state === "alive");
  }
}
