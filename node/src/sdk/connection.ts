import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { approuter } from "@hermes/proto";
import { type Identity, idMatchesKey } from "../identity/index.js";
import { appFrameBatchSize, combineAppFrames, encodeAppFrame, signConnect } from "../protocol/index.js";
import { type BackoffPolicy, backoffDelay } from "../utils/backoff.js";
import { Batcher } from "../utils/batcher.js";
import type { Clock } from "../utils/clock.js";
import { NodeError, PeerVerificationError } from "./errors.js";
import { judgeReplaced, type OwnConnect } from "./replaced.js";

type AppBody = NonNullable<approuter.AppFrame["body"]>;

/** The node's heartbeat interval is a hint; the app pings at least this rarely. */
const MIN_HEARTBEAT_MS = 1000;
/** The app takes frames up to this size (the node's own limit is lower). */
const MAX_RECEIVE_BYTES = 16 * 1024 * 1024;
/** Session ends after which the app tries another node first. */
const MOVE_ON = new Set<approuter.SessionCloseReason>([
  approuter.SessionCloseReason.SESSION_CLOSE_REASON_SHUTDOWN,
  approuter.SessionCloseReason.SESSION_CLOSE_REASON_ISOLATED,
]);
/**
 * A node that has not answered an app waiting on it for this long is sent a heartbeat; without
 * an answer within keepalive.timeoutMs the app goes elsewhere (sooner than HTTP/2 pings tell).
 */
const QUIET_PROBE_AFTER_MS = 1000;
/** How often a connected app looks at how long its node has been quiet. */
const QUIET_CHECK_MS = 250;
/** The AppRouter service, with frames to the node written by the hot-path encoder. */
const APP_ROUTER = {
  open: { ...approuter.AppRouterService.open, requestSerialize: encodeAppFrame },
};
/** Endpoints learned from ConnectAck are kept up to this many, beside the configured ones. */
const MAX_LEARNED_ENDPOINTS = 16;
/**
 * The Connects this process made are remembered up to this many: a node that takes a given-up
 * attempt late replaces the session with one of them, which is no takeover.
 */
const MAX_OWN_CONNECTS = 16;

/** One open stream to a node, as the connection uses it: gRPC in production, in memory in tests. */
export interface NodeStream {
  write(frame: approuter.AppFrame): void;
  /** Ends the stream from our side; `lost` is not called for it. */
  close(): void;
}

export interface StreamHandlers {
  frame(frame: approuter.NodeFrame): void;
  /** The stream broke or the node ended it. Called at most once. */
  lost(why: string): void;
}

export type OpenStream = (endpoint: string, handlers: StreamHandlers) => NodeStream;

export interface ConnectionOptions {
  /** host:port of the nodes to try, in order; the first is where the app connects first. */
  endpoints: string[];
  identity: Identity;
  /** Defaults to plain text (a dev node). */
  credentials?: grpc.ChannelCredentials;
  /** Between attempts after the session is lost: doubles from initialMs up to maxMs, with jitter. */
  reconnect: BackoffPolicy;
  /** An attempt that brings no session within this long is given up for the next endpoint. */
  connectTimeoutMs: number;
  /** After the session is lost, how long until `unreachable` when no node takes the app back. */
  unreachableAfterMs: number;
  /** HTTP/2 pings: a node that stops answering is noticed within timeMs + timeoutMs. */
  keepalive: { timeMs: number; timeoutMs: number };
  /** The chats to resume at the node that sent `challenge` (Connect.resume). */
  resume: (nodeId: string, timestampMs: number) => approuter.ChatResume[];
  clock: Clock;
  random?: () => number;
  /** How a stream to an endpoint is opened; defaults to gRPC. */
  open?: OpenStream;
}

interface Request {
  resolve: (frame: approuter.NodeFrame) => void;
  reject: (error: Error) => void;
}

/**
 * An app's session with the mesh: one stream to one node at a time. It answers the node's
 * challenge (stating the chats to resume), keeps the session alive, matches answers to requests
 * by correlation id, and when the stream is lost it fails over: the same endpoint once more
 * (a restarted node, or a Service that now sends it elsewhere) unless the node sent it away or
 * had stopped answering, then the other endpoints it was
 * configured with or told of in ConnectAck, round and round with a bounded, jittered backoff,
 * until close(). When no node takes it back within unreachableAfterMs, it says so.
 */
export class Connection extends EventEmitter<{
  connected: [approuter.ConnectAck];
  disconnected: [string];
  /** No node took the app back within unreachableAfterMs of losing its session. */
  unreachable: [string];
  frame: [approuter.NodeFrame];
  /** Something to tell the app that is not an answer to anything. */
  problem: [Error];
  /** Another holder of the app's key connected after this session (proven): stop, do not fight it. */
  takenOver: [string];
}> {
  nodeId = "";
  sessionId = "";
  /** Where the session is (or is being opened). */
  endpoint: string;
  private readonly endpoints: string[];
  private readonly configured: number;
  private readonly open: OpenStream;
  private readonly clients = new Map<string, grpc.Client>();
  private stream: NodeStream | undefined;
  /** Coalesces messages and acks of one turn into one frame, once the node says it takes batches. */
  private batcher: Batcher<approuter.AppFrame> | undefined;
  private nodeTakesBatches = false;
  private maxFrameBytes = 0;
  private connected = false;
  private closed = false;
  /** Attempts since the last session, which choose the next endpoint and the backoff. */
  private attempt = 0;
  /**
   * The node asked the app to go elsewhere (it stops, or is cut off), or stopped answering: skip
   * it on the next attempt.
   */
  private moveOn = false;
  /** Since when the app has written to the node and heard nothing back (undefined: not waiting). */
  private waitingSince: number | undefined;
  /** When the heartbeat asking a quiet node whether it is there went out. */
  private probedAt: number | undefined;
  /** Gives up the current stream as lost (no-op once it is). */
  private dropStream: ((why: string) => void) | undefined;
  private stopWatch: (() => void) | undefined;
  private lastError = "";
  /** Why the node ended the session with an unproven REPLACED: told as the reason it was lost. */
  private replacedWhy: string | undefined;
  /** The Connects this process signed lately, newest last. */
  private readonly ownConnects: OwnConnect[] = [];
  private nextCorrelation = 1;
  private readonly requests = new Map<string, Request>();
  private stopHeartbeat: (() => void) | undefined;
  private cancelReconnect: (() => void) | undefined;
  private cancelAttempt: (() => void) | undefined;
  private cancelUnreachable: (() => void) | undefined;

  constructor(private readonly options: ConnectionOptions) {
    super();
    if (options.endpoints.length === 0) throw new Error("at least one node endpoint is needed");
    this.endpoints = [...new Set(options.endpoints)];
    this.configured = this.endpoints.length;
    this.endpoint = this.endpoints[0]!;
    this.open = options.open ?? ((endpoint, handlers) => this.openGrpc(endpoint, handlers));
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** The endpoints it knows, configured first. */
  get knownEndpoints(): readonly string[] {
    return this.endpoints;
  }

  /** Opens a session unless one is open or being opened. */
  start(): void {
    if (!this.stream && !this.cancelReconnect && !this.closed) this.openStream();
  }

  /** Writes a frame; false when there is no session to write on (Connect goes before one). */
  write(body: AppBody, correlationId = ""): boolean {
    if (!this.stream || !this.batcher || (!this.connected && body.$case !== "connect")) return false;
    this.waitingSince ??= this.options.clock.now();
    this.batcher.send({ correlationId, body });
    return true;
  }

  /** Sends a frame and resolves with the node's answer to it (an Error answer rejects). */
  request(body: AppBody): Promise<approuter.NodeFrame> {
    const correlationId = `c${this.nextCorrelation++}`;
    return new Promise((resolve, reject) => {
      if (!this.write(body, correlationId)) return reject(new Error("not connected"));
      this.requests.set(correlationId, { resolve, reject });
    });
  }

  /** Ends the session for good. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    this.stopHeartbeat?.();
    this.stopWatch?.();
    this.cancelReconnect?.();
    this.cancelAttempt?.();
    this.cancelUnreachable?.();
    this.failRequests("client closed");
    this.batcher?.drop();
    this.stream?.close();
    this.stream = undefined;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private openStream(): void {
    this.cancelReconnect = undefined;
    this.replacedWhy = undefined;
    if (this.closed) return;
    let done = false;
    const stream = this.open(this.endpoint, {
      frame: (frame) => {
        if (done) return;
        this.waitingSince = undefined;
        this.probedAt = undefined;
        this.dispatch(frame);
      },
      lost: (why) => {
        if (done) return;
        done = true;
        this.lost(this.replacedWhy ?? why);
      },
    });
    this.stream = stream;
    this.nodeTakesBatches = false;
    this.batcher = new Batcher<approuter.AppFrame>({
      write: (frame) => stream.write(frame),
      batchable: (frame) => (this.nodeTakesBatches ? appFrameBatchSize(frame) : undefined),
      combine: combineAppFrames,
      maxBytes: () => this.maxFrameBytes,
    });
    this.dropStream = (why) => {
      if (done) return;
      done = true;
      stream.close();
      this.lost(why);
    };
    this.cancelAttempt = this.options.clock.setTimeout(() => {
      if (!this.connected)
        this.dropStream?.(`no session with ${this.endpoint} within ${this.options.connectTimeoutMs} ms`);
    }, this.options.connectTimeoutMs);
  }

  /** While the app waits on its node: a heartbeat after a quiet second, and on if that goes unanswered. */
  private watchQuiet(): void {
    const now = this.options.clock.now();
    if (this.waitingSince === undefined || now - this.waitingSince < QUIET_PROBE_AFTER_MS) return;
    if (this.probedAt === undefined) {
      this.probedAt = now;
      this.write({ $case: "heartbeat", value: { timestampMs: now } });
    } else if (now - this.probedAt >= this.options.keepalive.timeoutMs) {
      this.dropStream?.(`${this.endpoint} did not answer for ${now - this.waitingSince} ms`);
    }
  }

  private lost(why: string): void {
    const { clock, reconnect, random, unreachableAfterMs } = this.options;
    const wasConnected = this.connected;
    // A node that went quiet on a waiting app (stopped, or cut off from it) is not tried again first.
    if (
      this.waitingSince !== undefined &&
      clock.now() - this.waitingSince >= this.options.keepalive.timeoutMs
    )
      this.moveOn = true;
    this.waitingSince = undefined;
    this.probedAt = undefined;
    this.batcher?.drop();
    this.batcher = undefined;
    this.stream = undefined;
    this.connected = false;
    this.lastError = why;
    this.stopHeartbeat?.();
    this.stopWatch?.();
    this.cancelAttempt?.();
    this.failRequests(`disconnected: ${why}`);
    if (wasConnected) this.emit("disconnected", why);
    if (this.closed) return;
    if (wasConnected || !this.cancelUnreachable) {
      this.cancelUnreachable?.();
      this.cancelUnreachable = clock.setTimeout(() => {
        if (!this.connected && !this.closed) this.emit("unreachable", this.lastError);
      }, unreachableAfterMs);
    }
    // Once more where it was (unless it sent us away), then the next endpoint each time, round and round.
    if (this.attempt > 0 || this.moveOn)
      this.endpoint = this.endpoints[(this.endpoints.indexOf(this.endpoint) + 1) % this.endpoints.length]!;
    this.moveOn = false;
    const delay = backoffDelay(this.attempt, reconnect, random);
    this.attempt++;
    this.cancelReconnect = clock.setTimeout(() => this.openStream(), delay);
  }

  private dispatch(frame: approuter.NodeFrame): void {
    const body = frame.body;
    if (!body) return;
    const request = frame.correlationId ? this.requests.get(frame.correlationId) : undefined;
    if (request) {
      this.requests.delete(frame.correlationId);
      if (body.$case === "error") {
        const e = body.value;
        request.reject(new NodeError(e.code, e.message, e.chatId, e.retryAfterMs));
      } else {
        request.resolve(frame);
      }
      return;
    }
    switch (body.$case) {
      case "challenge":
        return this.answerChallenge(body.value);
      case "connectAck":
        return this.connectAcked(body.value);
      case "sessionClosed": {
        const { reason, detail, replacedBy } = body.value;
        this.moveOn = MOVE_ON.has(reason);
        if (reason === approuter.SessionCloseReason.SESSION_CLOSE_REASON_REPLACED) {
          const verdict = judgeReplaced(replacedBy, this.options.identity, this.ownConnects);
          // Otherwise the stream ends and the app reconnects, with its usual backoff.
          if (verdict.kind === "taken_over") this.emit("takenOver", `${detail} (on node ${verdict.nodeId})`);
          else this.replacedWhy = `session ${verdict.why} (${detail}); reconnecting`;
        }
        this.emit("frame", frame);
        return;
      }
      default:
        this.emit("frame", frame);
    }
  }

  private answerChallenge(challenge: approuter.Challenge): void {
    if (!idMatchesKey(challenge.nodeId, challenge.nodePublicKey)) {
      this.emit("problem", new PeerVerificationError(`node ID ${challenge.nodeId} does not match its key`));
    }
    this.nodeId = challenge.nodeId;
    const timestampMs = this.options.clock.now();
    const resume = this.options.resume(challenge.nodeId, timestampMs);
    const connect = signConnect(this.options.identity, challenge, timestampMs, resume);
    this.ownConnects.push({ signature: connect.signature, timestampMs });
    if (this.ownConnects.length > MAX_OWN_CONNECTS) this.ownConnects.shift();
    this.write({ $case: "connect", value: { ...connect, takesBatches: true } });
  }

  private connectAcked(ack: approuter.ConnectAck): void {
    this.connected = true;
    // A batch stays under the node's frame limit; an older node takes none.
    this.maxFrameBytes = ack.limits?.maxFrameBytes ?? 0;
    this.nodeTakesBatches = ack.takesBatches && this.maxFrameBytes > 0;
    this.attempt = 0;
    this.sessionId = ack.sessionId;
    this.cancelAttempt?.();
    this.cancelUnreachable?.();
    this.cancelUnreachable = undefined;
    this.learn(ack.endpoints.map((e) => e.appEndpoint));
    this.stopHeartbeat?.();
    this.stopHeartbeat = this.options.clock.setInterval(
      () => this.write({ $case: "heartbeat", value: { timestampMs: this.options.clock.now() } }),
      Math.max(MIN_HEARTBEAT_MS, ack.heartbeatIntervalMs),
    );
    this.stopWatch?.();
    this.stopWatch = this.options.clock.setInterval(() => this.watchQuiet(), QUIET_CHECK_MS);
    this.emit("connected", ack);
  }

  /** Other nodes' app endpoints, from ConnectAck: where to fail over to. */
  private learn(endpoints: string[]): void {
    for (const endpoint of endpoints) {
      if (endpoint === "" || this.endpoints.includes(endpoint)) continue;
      if (this.endpoints.length >= this.configured + MAX_LEARNED_ENDPOINTS) break;
      this.endpoints.push(endpoint);
    }
  }

  private failRequests(why: string): void {
    for (const request of this.requests.values()) request.reject(new Error(why));
    this.requests.clear();
  }

  private openGrpc(endpoint: string, handlers: StreamHandlers): NodeStream {
    let client = this.clients.get(endpoint);
    if (!client) {
      const Client = grpc.makeGenericClientConstructor(APP_ROUTER, "AppRouter");
      const { keepalive, reconnect } = this.options;
      client = new Client(endpoint, this.options.credentials ?? grpc.credentials.createInsecure(), {
        "grpc.keepalive_time_ms": keepalive.timeMs,
        "grpc.keepalive_timeout_ms": keepalive.timeoutMs,
        "grpc.keepalive_permit_without_calls": 1,
        "grpc.max_receive_message_length": MAX_RECEIVE_BYTES,
        // The app's own backoff decides when to try again; grpc-js must not stretch it.
        "grpc.initial_reconnect_backoff_ms": reconnect.initialMs,
        "grpc.max_reconnect_backoff_ms": reconnect.maxMs,
        // Each app its own connection: behind one Service address, two apps of one process may
        // land on two different nodes (grpc-js pools subchannels process-wide otherwise).
        "grpc.use_local_subchannel_pool": 1,
      });
      this.clients.set(endpoint, client);
    }
    const call = (
      client as grpc.Client & { open(): grpc.ClientDuplexStream<approuter.AppFrame, approuter.NodeFrame> }
    ).open();
    let closed = false;
    call.on("data", (frame: approuter.NodeFrame) => handlers.frame(frame));
    const lost = (why: string) => {
      if (!closed) handlers.lost(why);
      closed = true;
    };
    call.on("error", (error: grpc.ServiceError) => lost(error.details || error.message));
    call.on("end", () => lost("stream ended by the node"));
    return {
      write: (frame) => call.write(frame),
      close: () => {
        closed = true;
        call.end();
        call.cancel();
      },
      // Not part of NodeStream: breaks the stream as a network fault would (tests use it).
      break: () => call.cancel(),
    } as NodeStream;
  }
}
