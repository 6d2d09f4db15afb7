import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { nodemesh } from "@hermes/proto";
import type { Logger } from "pino";
import type { Identity } from "../identity/index.js";
import { combineRouteFrames, encodeRouteFrame, routeFrameBatchSize } from "../protocol/index.js";
import { backoffDelay } from "../utils/backoff.js";
import { Batcher } from "../utils/batcher.js";
import type { Clock } from "../utils/clock.js";
import { TIELINE_HELLO_TIMEOUT_MS } from "./config.js";
import { checkRouteHello, routeHello } from "./descriptor.js";

/** The NodeMesh client, with tieline frames written by the hot-path encoder. */
const NodeMeshClient = grpc.makeGenericClientConstructor(
  {
    ...nodemesh.NodeMeshService,
    routeChat: { ...nodemesh.NodeMeshService.routeChat, requestSerialize: encodeRouteFrame },
  },
  "hermes.nodemesh.v1.NodeMesh",
) as unknown as typeof nodemesh.NodeMeshClient;
type GossipCall = grpc.ClientDuplexStream<nodemesh.GossipEnvelope, nodemesh.GossipEnvelope>;
type RouteCall = grpc.ClientDuplexStream<nodemesh.RouteFrame, nodemesh.RouteFrame>;

export interface PeerLinksComponents {
  identity: Identity;
  clock: Clock;
  /** Credentials to dial an address with (peers dialled by IP skip the hostname check, not the CA). */
  credentialsFor: (address: string) => grpc.ChannelCredentials;
  logger: Logger;
}

export interface PeerLinksInit {
  maxFrameBytes: number;
  /** Frames buffered on one outbound stream before it counts as stalled. */
  maxQueuedFrames: number;
  clockSkewMs: number;
}

/**
 * HTTP/2 pings on idle node-to-node connections: a peer that vanished without closing its
 * socket is noticed within time + timeout, well before SWIM's suspicion runs out on a busy mesh.
 */
const KEEPALIVE_TIME_MS = 10_000;
const KEEPALIVE_TIMEOUT_MS = 5_000;
/** SWIM probes every second: a peer that is back should not wait long for grpc-js to redial. */
const CHANNEL_RECONNECT_BACKOFF = { initialMs: 100, maxMs: 2_000 };
/** Our own streams: 100 ms doubling to 10 s, jittered so a restarted peer is not hit by everyone at once. */
const STREAM_BACKOFF = { initialMs: 100, maxMs: 10_000 };

/** gRPC channel options for long-lived node-to-node streams. */
export function meshChannelOptions(maxFrameBytes: number): grpc.ChannelOptions {
  return {
    "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
    "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.initial_reconnect_backoff_ms": CHANNEL_RECONNECT_BACKOFF.initialMs,
    "grpc.max_reconnect_backoff_ms": CHANNEL_RECONNECT_BACKOFF.maxMs,
    "grpc.max_receive_message_length": maxFrameBytes,
    "grpc.max_send_message_length": maxFrameBytes,
  };
}

interface Backoff {
  failures: number;
  until: number;
}

interface RouteLink {
  nodeId: string;
  address: string;
  call: RouteCall;
  up: boolean;
  /** Relays and acks of one turn go as one frame once the peer's hello says it takes batches. */
  batcher: Batcher<nodemesh.RouteFrame>;
  peerTakesBatches: boolean;
}

export interface PeerLinkEvents {
  /** A tieline stream to nodeId is established (the peer answered our hello with its own). */
  routeUp: [string];
  /** A tieline stream to nodeId broke. */
  routeDown: [string, string];
}

/** What the mesh uses of its outbound streams; unit tests put an in-memory double in its place. */
export interface PeerLinksPort extends EventEmitter<PeerLinkEvents> {
  join(address: string, request: nodemesh.JoinRequest, timeoutMs: number): Promise<nodemesh.JoinResponse>;
  sendGossip(address: string, envelope: nodemesh.GossipEnvelope): boolean;
  isRouteUp(nodeId: string): boolean;
  sendRoute(nodeId: string, address: string, frame: nodemesh.RouteFrame): boolean;
  ensureRoute(nodeId: string, address: string): void;
  resetAddress(address: string): void;
  forget(nodeId: string, address?: string): void;
  close(): void;
}

/**
 * This node's outbound streams: one Gossip stream per peer address and one RouteChat stream per
 * peer node, opened on first use and reopened with exponential backoff when they break. A
 * frame for a peer whose stream is down is dropped (gossip tolerates loss) or refused (the
 * caller tells the app). Inbound streams are the server's business (mesh-service.ts).
 */
export class PeerLinks extends EventEmitter<PeerLinkEvents> implements PeerLinksPort {
  private readonly clients = new Map<string, nodemesh.NodeMeshClient>();
  private readonly gossip = new Map<string, GossipCall>();
  private readonly routes = new Map<string, RouteLink>();
  private readonly backoff = new Map<string, Backoff>();
  private closed = false;

  constructor(
    private readonly components: PeerLinksComponents,
    private readonly init: PeerLinksInit,
  ) {
    super();
  }

  // ------------------------------------------------------------------ Join

  join(address: string, request: nodemesh.JoinRequest, timeoutMs: number): Promise<nodemesh.JoinResponse> {
    return new Promise((resolve, reject) => {
      this.client(address).join(
        request,
        new grpc.Metadata(),
        { deadline: this.components.clock.now() + timeoutMs },
        (error, response) => (error ? reject(error) : resolve(response)),
      );
    });
  }

  // ------------------------------------------------------------------ Gossip

  /** Fire and forget; false when the stream to `address` is down or stalled. */
  sendGossip(address: string, envelope: nodemesh.GossipEnvelope): boolean {
    if (this.closed) return false;
    let call = this.gossip.get(address);
    if (!call) {
      if (this.inBackoff(`gossip ${address}`)) return false;
      const client = this.usableClient(address);
      if (!client) return false;
      call = client.gossip();
      const opened = call;
      this.gossip.set(address, opened);
      opened.on("data", () => {}); // peers answer on their own streams
      const lost = (why: string) => {
        if (this.gossip.get(address) !== opened) return;
        this.gossip.delete(address);
        this.failed(`gossip ${address}`);
        this.components.logger.debug({ peer: address, why }, "gossip stream lost");
      };
      opened.on("error", (e: grpc.ServiceError) => lost(e.details || e.message));
      opened.on("end", () => lost("ended by peer"));
    }
    if (call.writableLength > this.init.maxQueuedFrames) {
      call.cancel();
      return false;
    }
    call.write(envelope, () => this.succeeded(`gossip ${address}`));
    return true;
  }

  // ------------------------------------------------------------------ RouteChat

  isRouteUp(nodeId: string): boolean {
    return this.routes.get(nodeId)?.up === true;
  }

  /** Frames waiting on the stream to nodeId: the backpressure signal for new traffic. */
  routeQueue(nodeId: string): number {
    return this.routes.get(nodeId)?.call.writableLength ?? 0;
  }

  /**
   * Writes a tieline frame to nodeId at address, opening the stream if needed (frames written
   * before the peer's hello are buffered by the stream). False when the stream is stalled or
   * in backoff.
   */
  sendRoute(nodeId: string, address: string, frame: nodemesh.RouteFrame): boolean {
    if (this.closed) return false;
    let link = this.routes.get(nodeId);
    if (link && link.address !== address) {
      link.batcher.drop();
      link.call.cancel();
      link = undefined;
    }
    if (!link) {
      if (this.inBackoff(`route ${nodeId}`)) return false;
      link = this.openRoute(nodeId, address);
      if (!link) return false;
    }
    if (link.call.writableLength > this.init.maxQueuedFrames) return false;
    link.batcher.send(frame);
    return true;
  }

  /** Opens the tieline stream to a peer ahead of traffic, so it is up when the first chat starts. */
  ensureRoute(nodeId: string, address: string): void {
    if (!this.routes.has(nodeId) && !this.inBackoff(`route ${nodeId}`) && !this.closed)
      this.openRoute(nodeId, address);
  }

  private openRoute(nodeId: string, address: string): RouteLink | undefined {
    const client = this.usableClient(address);
    if (!client) return undefined;
    const call = client.routeChat();
    const link = { nodeId, address, call, up: false, peerTakesBatches: false } as RouteLink;
    link.batcher = new Batcher<nodemesh.RouteFrame>({
      write: (frame) => call.write(frame),
      batchable: (frame) => (link.peerTakesBatches ? routeFrameBatchSize(frame) : undefined),
      combine: combineRouteFrames,
      maxBytes: () => this.init.maxFrameBytes,
    });
    this.routes.set(nodeId, link);
    const { identity, clock, logger } = this.components;
    call.write({ body: { $case: "hello", value: routeHello(identity, nodeId, clock.now()) } });
    const cancelHelloTimer = clock.setTimeout(() => {
      if (link.up || this.routes.get(nodeId) !== link) return;
      lost(`no hello from ${address} within ${TIELINE_HELLO_TIMEOUT_MS} ms`);
      call.cancel();
    }, TIELINE_HELLO_TIMEOUT_MS);
    call.on("data", (frame: nodemesh.RouteFrame) => {
      if (link.up || frame.body?.$case !== "hello") return;
      cancelHelloTimer();
      try {
        const peer = checkRouteHello(frame.body.value, identity.id, clock.now(), this.init.clockSkewMs);
        if (peer !== nodeId) throw new Error(`expected node ${nodeId}, ${address} is ${peer}`);
      } catch (error) {
        logger.warn({ peer: nodeId, address, err: String(error) }, "tieline peer failed verification");
        call.cancel();
        return;
      }
      link.up = true;
      link.peerTakesBatches = frame.body.value.takesBatches;
      this.succeeded(`route ${nodeId}`);
      this.emit("routeUp", nodeId);
    });
    const lost = (why: string) => {
      cancelHelloTimer();
      link.batcher.drop();
      if (this.routes.get(nodeId) !== link) return;
      this.routes.delete(nodeId);
      this.failed(`route ${nodeId}`);
      this.emit("routeDown", nodeId, why);
    };
    call.on("error", (e: grpc.ServiceError) => lost(e.details || e.message));
    call.on("end", () => lost("ended by peer"));
    return link;
  }

  /**
   * Forgets everything about an address: its channel (and grpc-js's reconnect backoff, which
   * would otherwise keep failing calls to a restarted peer for seconds), streams and backoff.
   */
  resetAddress(address: string): void {
    const client = this.clients.get(address);
    // Only a channel that is failing (and so backing off) is replaced; one that is connecting or
    // up is left alone, with its streams.
    if (client?.getChannel().getConnectivityState(false) !== grpc.connectivityState.TRANSIENT_FAILURE) return;
    // Its streams fail with the channel; their owners see routeDown and reopen on a fresh one.
    this.clients.delete(address);
    this.backoff.delete(`gossip ${address}`);
    for (const link of this.routes.values())
      if (link.address === address) this.backoff.delete(`route ${link.nodeId}`);
    client.close();
  }

  /** Closes the streams to a node that is dead or gone. */
  forget(nodeId: string, address?: string): void {
    const link = this.routes.get(nodeId);
    if (link) {
      this.routes.delete(nodeId);
      link.batcher.drop();
      link.call.cancel();
    }
    this.backoff.delete(`route ${nodeId}`);
    if (address) {
      this.gossip.get(address)?.cancel();
      this.gossip.delete(address);
    }
  }

  close(): void {
    this.closed = true;
    for (const link of this.routes.values()) {
      link.batcher.flush();
      link.call.end();
    }
    for (const call of this.gossip.values()) call.end();
    this.routes.clear();
    this.gossip.clear();
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private client(address: string): nodemesh.NodeMeshClient {
    let client = this.clients.get(address);
    if (!client) {
      client = new NodeMeshClient(
        address,
        this.components.credentialsFor(address),
        meshChannelOptions(this.init.maxFrameBytes),
      );
      this.clients.set(address, client);
    }
    return client;
  }

  /**
   * The client for an address, or undefined when grpc-js cannot use it (addresses come from
   * peers: an unusable one must not throw out of a membership timer or a stream handler).
   */
  private usableClient(address: string): nodemesh.NodeMeshClient | undefined {
    try {
      return this.client(address);
    } catch (error) {
      this.components.logger.warn({ peer: address, err: String(error) }, "peer address is not usable");
      return undefined;
    }
  }

  private inBackoff(key: string): boolean {
    const b = this.backoff.get(key);
    return b !== undefined && this.components.clock.now() < b.until;
  }

  private failed(key: string): void {
    const b = this.backoff.get(key) ?? { failures: 0, until: 0 };
    b.until = this.components.clock.now() + backoffDelay(b.failures, STREAM_BACKOFF);
    b.failures++;
    this.backoff.set(key, b);
  }

  private succeeded(key: string): void {
    this.backoff.delete(key);
  }
}
