import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { approuter } from "@hermes/proto";
import { type Identity, idMatchesKey } from "../identity/index.js";
import { signConnect } from "../protocol/index.js";
import { type BackoffPolicy, backoffDelay } from "../utils/backoff.js";
import type { Clock } from "../utils/clock.js";
import { NodeError, PeerVerificationError } from "./errors.js";

type AppBody = NonNullable<approuter.AppFrame["body"]>;

/** The node's heartbeat interval is a hint; the app pings at least this rarely. */
const MIN_HEARTBEAT_MS = 1000;
/** HTTP/2 pings on the app's connection, so a node that vanished without closing it is noticed. */
const KEEPALIVE_TIME_MS = 20_000;
const KEEPALIVE_TIMEOUT_MS = 10_000;
/** The app takes frames up to this size (the node's own limit is lower). */
const MAX_RECEIVE_BYTES = 16 * 1024 * 1024;

export interface ConnectionOptions {
  /** host:port of a Hermes node. */
  endpoint: string;
  identity: Identity;
  /** Defaults to plain text (a dev node). */
  credentials?: grpc.ChannelCredentials;
  /** Between attempts after the stream is lost: doubles from initialMs up to maxMs, with jitter. */
  reconnect: BackoffPolicy;
  clock: Clock;
  random?: () => number;
}

interface Request {
  resolve: (frame: approuter.NodeFrame) => void;
  reject: (error: Error) => void;
}

/**
 * One app's stream to a node: it answers the node's challenge, keeps the session alive with
 * heartbeats, reopens the stream with backoff when it breaks (until close()), and matches
 * answers to requests by correlation id. Everything else the node sends goes out as `frame`.
 */
export class Connection extends EventEmitter<{
  connected: [approuter.ConnectAck];
  disconnected: [string];
  frame: [approuter.NodeFrame];
  /** Something to tell the app that is not an answer to anything. */
  problem: [Error];
}> {
  nodeId = "";
  sessionId = "";
  private readonly client: grpc.Client & {
    open(): grpc.ClientDuplexStream<approuter.AppFrame, approuter.NodeFrame>;
  };
  private stream: grpc.ClientDuplexStream<approuter.AppFrame, approuter.NodeFrame> | undefined;
  private connected = false;
  private closed = false;
  private attempt = 0;
  private nextCorrelation = 1;
  private readonly requests = new Map<string, Request>();
  private stopHeartbeat: (() => void) | undefined;
  private cancelReconnect: (() => void) | undefined;

  constructor(private readonly options: ConnectionOptions) {
    super();
    const Client = grpc.makeGenericClientConstructor(approuter.AppRouterService, "AppRouter");
    this.client = new Client(options.endpoint, options.credentials ?? grpc.credentials.createInsecure(), {
      "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
      "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.max_receive_message_length": MAX_RECEIVE_BYTES,
    }) as unknown as typeof this.client;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Opens the stream unless it is open or a reconnect is already scheduled. */
  start(): void {
    if (!this.stream && !this.cancelReconnect) this.openStream();
  }

  /** Writes a frame; false when there is no session to write on (Connect goes before one). */
  write(body: AppBody, correlationId = ""): boolean {
    if (!this.stream || (!this.connected && body.$case !== "connect")) return false;
    this.stream.write({ correlationId, body });
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

  /** Ends the stream for good. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    this.stopHeartbeat?.();
    this.cancelReconnect?.();
    this.failRequests("client closed");
    this.stream?.end();
    this.stream?.cancel();
    this.stream = undefined;
    this.client.close();
  }

  private openStream(): void {
    this.cancelReconnect = undefined;
    if (this.closed) return;
    const stream = this.client.open();
    this.stream = stream;
    stream.on("data", (frame: approuter.NodeFrame) => {
      if (this.stream === stream) this.dispatch(frame);
    });
    const lost = (why: string) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.lost(why);
    };
    stream.on("error", (error: grpc.ServiceError) => lost(error.details || error.message));
    stream.on("end", () => lost("stream ended by the node"));
  }

  private lost(why: string): void {
    const wasConnected = this.connected;
    this.connected = false;
    this.stopHeartbeat?.();
    this.failRequests(`disconnected: ${why}`);
    if (wasConnected) this.emit("disconnected", why);
    if (this.closed) return;
    const delay = backoffDelay(this.attempt, this.options.reconnect, this.options.random);
    this.attempt++;
    this.cancelReconnect = this.options.clock.setTimeout(() => this.openStream(), delay);
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
      default:
        this.emit("frame", frame);
    }
  }

  private answerChallenge(challenge: approuter.Challenge): void {
    if (!idMatchesKey(challenge.nodeId, challenge.nodePublicKey)) {
      this.emit("problem", new PeerVerificationError(`node ID ${challenge.nodeId} does not match its key`));
    }
    this.nodeId = challenge.nodeId;
    this.write({
      $case: "connect",
      value: signConnect(this.options.identity, challenge, this.options.clock.now()),
    });
  }

  private connectAcked(ack: approuter.ConnectAck): void {
    this.connected = true;
    this.attempt = 0;
    this.sessionId = ack.sessionId;
    this.stopHeartbeat?.();
    this.stopHeartbeat = this.options.clock.setInterval(
      () => this.write({ $case: "heartbeat", value: { timestampMs: this.options.clock.now() } }),
      Math.max(MIN_HEARTBEAT_MS, ack.heartbeatIntervalMs),
    );
    this.emit("connected", ack);
  }

  private failRequests(why: string): void {
    for (const request of this.requests.values()) request.reject(new Error(why));
    this.requests.clear();
  }
}
