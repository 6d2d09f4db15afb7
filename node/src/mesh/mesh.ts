import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import type { nodemesh } from "@hermes/proto";
import type { Logger } from "pino";
import type { Identity } from "../identity/index.js";
import type { ConnectProof } from "../protocol/index.js";
import type { AppLocation } from "../router/locator.js";
import type { Metrics } from "../telemetry/index.js";
import type { Clock } from "../utils/clock.js";
import { ClaimCheck, type ClaimWatch, entryOf } from "./app-claims.js";
import {
  DIRECTORY_DELTA_BATCH_MS,
  LEAVE_GRACE_MS,
  LEAVE_POLL_MS,
  type MeshConfig,
  REFUSAL_LOG_INTERVAL_MS,
  SNAPSHOT_REQUEST_INTERVAL_MS,
  TIELINE_REOPEN_INTERVAL_MS,
} from "./config.js";
import { openDescriptor, signDescriptor } from "./descriptor.js";
import { AppDirectory } from "./directory.js";
import { EnvelopeSealer, MeshFrameError, openEnvelope, type Refusal, ReplayGuard } from "./envelope.js";
import { IsolationWatch } from "./isolation.js";
import {
  isLive,
  type Member,
  type MemberRecord,
  Membership,
  type MembershipEvent,
  type MembershipMessage,
  suspicionMinTimeoutMs,
} from "./membership/index.js";
import { MeshMetrics } from "./mesh-metrics.js";
import { PeerLinks, type PeerLinksPort } from "./peer-links.js";
import { decodeMember, decodeSwim, encodeMember, encodeSwim } from "./swim-codec.js";

/** Whom the mesh talks to and through what. */
export interface MeshComponents {
  identity: Identity;
  clock: Clock;
  /** Credentials to dial a peer address with (mutual TLS, or plain text behind mesh.insecure). */
  credentialsFor: (address: string) => grpc.ChannelCredentials;
  logger: Logger;
  metrics: Metrics;
  /** The outbound streams; by default real gRPC ones (PeerLinks). */
  links?: PeerLinksPort;
}

/** How the mesh is tuned and what it advertises. */
export interface MeshInit {
  config: MeshConfig;
  /** This node's app endpoint, advertised to other nodes and their apps. */
  appEndpoint: string;
  /** Accepted clock skew for signed timestamps. */
  clockSkewMs: number;
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
  /**
   * A proven move: the app connected to another node (after connecting here, if it did), as the
   * app's own signed Connect to that node shows (app-claims.ts).
   */
  appLocated: [string, string, ConnectProof];
  /** A join through a seed address answered (true) or failed or was refused (false). */
  joinAttempted: [string, boolean];
  /** This node's tieline stream to a node is established (again): shared chats compare marks. */
  tielineUp: [string];
  /**
   * True: every other member this node knew is now dead to it (it is cut off, or they all
   * failed). False: it has a live peer again.
   */
  isolated: [boolean];
}> {
  readonly identity: Identity;
  readonly nodeId: string;
  readonly clock: Clock;
  readonly clockSkewMs: number;
  readonly membership: Membership;
  readonly directory: AppDirectory;
  private readonly links: PeerLinksPort;
  private readonly replay = new ReplayGuard();
  private readonly sealer: EnvelopeSealer;
  private readonly metrics: MeshMetrics;
  private readonly logger: Logger;
  private readonly config: MeshConfig;
  private readonly appEndpoint: string;
  /** Cancels, per peer, the grace a broken tieline has to come back. */
  private readonly graceTimers = new Map<string, () => void>();
  /** Cancels, per peer, the re-dialling of a broken tieline. */
  private readonly reopenTimers = new Map<string, () => void>();
  private readonly snapshotAsked = new Map<string, number>();
  /** The boot each peer last spoke from; a new one means it restarted. */
  private readonly boots = new Map<string, number>();
  /** The node found behind each address we joined through (DNS may name it differently). */
  private readonly joinedVia = new Map<string, string>();
  private readonly lastRefusalLog = new Map<Refusal, { at: number; suppressed: number }>();
  /** The apps whose moves this node acts on: its own (the directory knows) and those the router follows. */
  private readonly watch: ClaimWatch;
  private follows: (appId: string) => boolean = () => false;
  private cancelDelta: (() => void) | undefined;
  private cancelIsolationCheck: (() => void) | undefined;
  private joined = false;
  private isolated = false;
  private readonly isolation: IsolationWatch;

  constructor(components: MeshComponents, init: MeshInit) {
    super();
    const { identity, clock } = components;
    this.identity = identity;
    this.nodeId = identity.id;
    this.clock = clock;
    this.clockSkewMs = init.clockSkewMs;
    this.config = init.config;
    this.appEndpoint = init.appEndpoint;
    this.logger = components.logger.child({ component: "mesh" });
    const bootId = clock.now();
    this.sealer = new EnvelopeSealer(identity, init.config.advertise, bootId, () => clock.now());
    this.directory = new AppDirectory(this.nodeId, bootId);
    this.watch = {
      localSince: (appId) => this.directory.localSince(appId),
      follows: (appId) => this.follows(appId),
    };
    this.links =
      components.links ??
      new PeerLinks(
        { identity, clock, credentialsFor: components.credentialsFor, logger: this.logger },
        {
          maxFrameBytes: init.config.maxFrameBytes,
          maxQueuedFrames: init.config.maxQueuedFrames,
          clockSkewMs: init.clockSkewMs,
        },
      );
    this.membership = new Membership({
      id: this.nodeId,
      address: init.config.advertise,
      // A restarted node starts above the incarnation its old (dead) record carried.
      initialIncarnation: Math.floor(bootId / 1000),
      meta: {
        app: init.appEndpoint,
        key: Buffer.from(identity.publicKey).toString("base64"),
        version: init.version,
      },
      config: init.config.membership,
      clock,
      transport: { send: (to, msg) => this.sendSwim(to.address, to.id ?? "", msg) },
    });
    this.metrics = new MeshMetrics(components.metrics, {
      counters: () => this.membership.counters(),
      countByState: () => this.membership.countByState(),
      routingEntries: () => this.directory.size,
      tielines: () => this.membership.members().filter((m) => this.links.isRouteUp(m.id)).length,
    });
    this.membership.onEvent((event) => this.onMembershipEvent(event));
    this.isolation = new IsolationWatch(clock.now(), init.config.membership.probeTimeoutMs);
    this.links.on("routeUp", (nodeId) => {
      this.graceTimers.get(nodeId)?.();
      this.graceTimers.delete(nodeId);
      this.emit("tielineUp", nodeId);
    });
    this.links.on("routeDown", (nodeId, why) => this.tielineDown(nodeId, why));
  }

  // ------------------------------------------------------------------ lifecycle

  start(): void {
    this.membership.start();
    const tickMs = this.config.membership.probeTimeoutMs;
    this.cancelIsolationCheck = this.clock.setInterval(() => this.checkIsolation(), tickMs);
  }

  /** Joins through seed addresses; resolves with how many answered. */
  async join(addresses: string[]): Promise<number> {
    const seeds = addresses.filter((a) => a !== this.config.advertise).map((address) => ({ address }));
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
  async leave(graceMs = LEAVE_GRACE_MS): Promise<void> {
    this.membership.leave();
    const deadline = this.clock.now() + graceMs;
    while (this.membership.pendingBroadcasts() > 0 && this.clock.now() < deadline)
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, LEAVE_POLL_MS));
    this.stop();
  }

  stop(): void {
    this.membership.stop();
    this.cancelDelta?.();
    this.cancelIsolationCheck?.();
    for (const cancel of this.graceTimers.values()) cancel();
    for (const cancel of this.reopenTimers.values()) cancel();
    this.links.close();
  }

  // ------------------------------------------------------------------ for the router

  locate(appId: string): AppLocation | undefined {
    const entry = this.directory.locate(appId);
    if (!entry || entry.nodeId === this.nodeId) return undefined;
    const member = this.membership.member(entry.nodeId);
    if (!member || !isLive(member.state)) return undefined;
    return { nodeId: entry.nodeId, appEndpoint: member.meta.app ?? "" };
  }

  endpoints(): AppLocation[] {
    return this.alivePeers().map((m) => ({ nodeId: m.id, appEndpoint: m.meta.app ?? "" }));
  }

  /** Sends a tieline frame; false when the peer is unknown, gone, or its stream is backed up. */
  sendRoute(nodeId: string, frame: nodemesh.RouteFrame): boolean {
    const member = this.membership.member(nodeId);
    if (!member || !isLive(member.state)) return false;
    return this.links.sendRoute(nodeId, member.address, frame);
  }

  /** True while this node's tieline stream to `nodeId` is established. */
  isTielineUp(nodeId: string): boolean {
    return this.links.isRouteUp(nodeId);
  }

  observeRelayLatency(seconds: number): void {
    this.metrics.relayLatency.observe(Math.max(0, seconds));
  }

  /** An app connected here; its signed Connect goes into this node's directory entries. */
  appConnected(appId: string, proof: ConnectProof): void {
    this.directory.localConnected(entryOf(appId, proof));
    this.scheduleDelta();
  }

  /** Apps besides its own whose moves the router acts on: claims about them need proof. */
  followApps(follows: (appId: string) => boolean): void {
    this.follows = follows;
  }

  appDisconnected(appId: string): void {
    this.directory.localDisconnected(appId);
    this.scheduleDelta();
  }

  // ------------------------------------------------------------------ inbound (from mesh-service.ts)

  answerJoin(request: nodemesh.JoinRequest): nodemesh.JoinResponse {
    const d = openDescriptor(request.node, this.clock.now(), this.clockSkewMs);
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
    const records = this.membership.acceptJoin(members);
    // A joiner may be a restarted node: dial it afresh rather than through a backed-off channel.
    this.links.resetAddress(d.meshEndpoint);
    this.logger.info({ peer: d.nodeId, address: d.meshEndpoint }, "node joined through us");
    return {
      node: this.descriptor(),
      members: records.map(encodeMember),
      directory: this.directory.snapshots(),
    };
  }

  receiveGossip(envelope: nodemesh.GossipEnvelope, via: string): void {
    let payload: nodemesh.GossipPayload;
    try {
      payload = openEnvelope(envelope, {
        selfId: this.nodeId,
        now: this.clock.now(),
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
    this.isolation.heard(this.clock.now());
    if (this.isolated) this.setIsolated(false);
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
          const claims = new ClaimCheck(sender, this.watch);
          const result = this.directory.applyDelta(body.value, claims.admit);
          if (result === "gap") this.askSnapshot(sender, payload.senderAddress, true);
          this.settleClaims(sender, claims, via);
          break;
        }
        case "directoryRequest":
          this.sendGossip(payload.senderAddress, sender, {
            $case: "directorySnapshot",
            value: this.directory.snapshot(),
          });
          break;
        case "directorySnapshot": {
          if (body.value.nodeId !== sender || this.isGone(sender)) break;
          const claims = new ClaimCheck(sender, this.watch);
          this.directory.applySnapshot(body.value, claims.admit);
          this.settleClaims(sender, claims, via);
          break;
        }
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
    const now = this.clock.now();
    const last = this.lastRefusalLog.get(code);
    if (last !== undefined && now - last.at < REFUSAL_LOG_INTERVAL_MS) {
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
    const moved: [string, ClaimCheck][] = [];
    try {
      const response = await this.links.join(
        address,
        { node: this.descriptor(), members: sync.members.map(encodeMember) },
        this.config.membership.syncTimeoutMs,
      );
      const peer = openDescriptor(response.node, this.clock.now(), this.clockSkewMs);
      for (const snapshot of response.directory) {
        if (this.isGone(snapshot.nodeId)) continue;
        const claims = new ClaimCheck(snapshot.nodeId, this.watch);
        for (const entry of snapshot.apps) claims.admit(entry);
        // Lists relayed for other nodes carry no proofs. One that would move an app this node acts
        // on is not taken (no refusal): that node is asked for its own list, proofs included,
        // and would find its version taken already, its list ignored as stale.
        if (claims.refusals.length > 0) {
          this.logger.debug(
            { peer: snapshot.nodeId, seed: address },
            "relayed app list needs proofs: not taken",
          );
        } else if (this.directory.applySnapshot(snapshot)) {
          moved.push([snapshot.nodeId, claims]);
          // Taken: no need to ask the member for it (later changes reach us by anti-entropy).
          this.snapshotAsked.set(snapshot.nodeId, this.clock.now());
        }
      }
      this.membership.handle(address, {
        type: "sync-reply",
        seq: sync.seq,
        members: response.members.map(decodeMember),
      });
      this.metrics.joinAttempts.inc({ result: "ok" });
      this.emit("joinAttempted", address, true);
      this.joined = true;
      this.joinedVia.set(address, peer.nodeId);
      this.logger.info(
        { seed: address, peer: peer.nodeId, members: response.members.length },
        "joined the mesh",
      );
    } catch (error) {
      const refused =
        error instanceof MeshFrameError ||
        (error as grpc.ServiceError).code === grpc.status.PERMISSION_DENIED;
      this.metrics.joinAttempts.inc({ result: refused ? "refused" : "failed" });
      this.emit("joinAttempted", address, false);
      this.logger.warn({ seed: address, err: (error as Error).message }, "join attempt failed");
    }
    // Proven moves in the lists taken, told once the members are known (their versions make the
    // same lists stale when gossip brings them again).
    for (const [nodeId, claims] of moved) this.settleClaims(nodeId, claims, address);
  }

  private descriptor(): nodemesh.SignedDescriptor {
    const me = this.membership.localMember();
    return signDescriptor(
      this.identity,
      {
        meshEndpoint: me.address,
        appEndpoint: this.appEndpoint,
        incarnation: me.incarnation,
        metadata: { ...me.meta },
      },
      this.clock.now(),
    );
  }

  private onMembershipEvent(event: MembershipEvent): void {
    const { member } = event;
    this.metrics.membershipChanges.inc({ event: event.type });
    this.logger.info(
      {
        event: event.type,
        peer: member.id,
        address: member.address,
        state: member.state,
        previous: "previous" in event ? event.previous : undefined,
        incarnation: member.incarnation,
      },
      "membership change",
    );
    if (event.type === "memberJoined") {
      // Once the table has taken in all the message brought (a Join answer brings every
      // member): each dial opens a channel and signs a hello, and the table should not wait for N.
      this.clock.setTimeout(() => {
        if (!this.isLive(member.id)) return;
        this.links.ensureRoute(member.id, member.address);
        this.askSnapshot(member.id, member.address);
      }, 0);
    } else if (event.type === "memberDead" || event.type === "memberLeft") {
      this.nodeGone(member, event.type === "memberDead" ? "dead" : "left");
    }
    // Cut off when the last live peer dies on us (peers that leave say so: that is no cut).
    const alivePeers = this.alivePeers().length;
    if (!this.isolated && alivePeers === 0 && event.type === "memberDead") this.setIsolated(true);
    else if (this.isolated && alivePeers > 0) this.setIsolated(false);
  }

  private nodeGone(member: Member, reason: NodeLostReason): void {
    const apps = this.directory.dropNode(member.id);
    this.links.forget(member.id, member.address);
    this.graceTimers.get(member.id)?.();
    this.graceTimers.delete(member.id);
    this.logger.info({ peer: member.id, reason, routesDropped: apps.length }, "node gone: routes dropped");
    this.emit("nodeLost", member.id, reason);
  }

  /**
   * A broken tieline gets tielineGraceMs to come back; after that the node counts as lost for
   * its chats (they wait for their apps, see Tielines.nodeLost) though it stays a member.
   */
  private tielineDown(nodeId: string, why: string): void {
    this.reopenTieline(nodeId);
    // Reopen attempts that fail again are not news: one warning per outage.
    if (this.graceTimers.has(nodeId)) return this.logger.debug({ peer: nodeId, why }, "tieline still down");
    this.logger.warn({ peer: nodeId, why }, "tieline stream lost");
    const cancel = this.clock.setTimeout(() => {
      this.graceTimers.delete(nodeId);
      if (this.links.isRouteUp(nodeId)) return;
      this.logger.warn({ peer: nodeId }, "tieline did not come back: its chats wait for it");
      this.emit("nodeLost", nodeId, "tieline_lost");
    }, this.config.tielineGraceMs);
    this.graceTimers.set(nodeId, cancel);
  }

  /**
   * After a delta or snapshot from `nodeId` was applied: unproven claims are counted, proven
   * moves go to the router (it closes a stale session and sends the app's chats after it).
   */
  private settleClaims(nodeId: string, claims: ClaimCheck, via: string): void {
    for (const reason of claims.refusals) this.refused("unproven_claim", reason, via);
    for (const { appId, proof } of claims.moved) this.emit("appLocated", appId, nodeId, proof);
  }

  /**
   * Opens the tieline to a live member again as soon as its backoff allows, until it is up or the
   * member is gone. (The failure that took it down has just started that backoff, so an attempt
   * right away would be refused.)
   */
  private reopenTieline(nodeId: string): void {
    if (this.reopenTimers.has(nodeId)) return;
    const cancel = this.clock.setInterval(() => {
      const member = this.membership.member(nodeId);
      if (member && this.isLive(nodeId) && !this.links.isRouteUp(nodeId)) {
        this.links.ensureRoute(nodeId, member.address);
        return;
      }
      cancel();
      this.reopenTimers.delete(nodeId);
    }, TIELINE_REOPEN_INTERVAL_MS);
    this.reopenTimers.set(nodeId, cancel);
  }

  private scheduleDelta(): void {
    if (this.cancelDelta) return;
    this.cancelDelta = this.clock.setTimeout(() => {
      this.cancelDelta = undefined;
      const delta = this.directory.takeDelta();
      if (!delta) return;
      for (const peer of this.alivePeers())
        this.sendGossip(peer.address, peer.id, { $case: "directoryDelta", value: delta });
    }, DIRECTORY_DELTA_BATCH_MS);
  }

  /** Asks a node for its full app list, at most once a second per node unless forced by a gap. */
  private askSnapshot(nodeId: string, address: string, force = false): void {
    const now = this.clock.now();
    const last = this.snapshotAsked.get(nodeId) ?? 0;
    if (!force && now - last < SNAPSHOT_REQUEST_INTERVAL_MS) return;
    this.snapshotAsked.set(nodeId, now);
    this.sendGossip(address, nodeId, { $case: "directoryRequest", value: {} });
  }

  /** Dead or left: its routes were dropped when it went (memberJoined brings them back). */
  private isGone(nodeId: string): boolean {
    const member = this.membership.member(nodeId);
    return member !== undefined && !isLive(member.state);
  }

  private isLive(nodeId: string): boolean {
    const member = this.membership.member(nodeId);
    return member !== undefined && isLive(member.state);
  }

  /**
   * Cut off when no peer was heard for as long as the others take to declare a silent node dead
   * (a probe's timeout and the suspicion that follows).
   */
  private checkIsolation(): void {
    const { probeTimeoutMs, probeIntervalMs, suspicionMult } = this.config.membership;
    const members = this.membership.members();
    const afterMs = probeTimeoutMs + suspicionMinTimeoutMs(suspicionMult, members.length, probeIntervalMs);
    const silent = this.isolation.silent(this.clock.now(), afterMs);
    const livePeers = members.some((m) => m.id !== this.nodeId && isLive(m.state));
    if (silent && livePeers && !this.isolated) this.setIsolated(true);
  }

  private setIsolated(isolated: boolean): void {
    this.isolated = isolated;
    this.membership.setCutOff(isolated);
    if (isolated) this.logger.warn("cut off from every other node of the mesh");
    else this.logger.info("in touch with the mesh again");
    this.emit("isolated", isolated);
  }

  private alivePeers(): Member[] {
    return this.membership.members().filter((m) => m.id !== this.nodeId && m.state === "alive");
  }
}
