import type { approuter } from "@hermes/proto";
import { TokenBucket } from "../utils/token-bucket.js";

/** Where the router writes a session's frames; the gRPC stream in production, an array in tests. */
export interface SessionSink {
  send(frame: approuter.NodeFrame): void;
  /** Ends the stream. Called once. */
  end(): void;
}

export interface SessionLimits {
  messagesPerSecond: number;
  messageBurst: number;
  chatStartsPerMinute: number;
  badFramesPerMinute: number;
  framesPerSecond: number;
}

/** Per-app budgets. They move with the app to its next session, so reconnecting does not refill them. */
export class AppBudgets {
  readonly messages: TokenBucket;
  readonly chatStarts: TokenBucket;

  constructor(limits: SessionLimits, now: number) {
    this.messages = new TokenBucket(limits.messagesPerSecond, 1000, limits.messageBurst, now);
    this.chatStarts = new TokenBucket(limits.chatStartsPerMinute, 60_000, limits.chatStartsPerMinute, now);
  }
}

/** One app stream: challenged until the app connects, then the app's session, then closed. */
export class Session {
  state: "challenged" | "connected" | "closed" = "challenged";
  appId = "";
  publicKey: Uint8Array = new Uint8Array(0);
  budgets: AppBudgets;
  readonly badFrames: TokenBucket;
  /** Every frame the stream sends spends one. */
  readonly frames: TokenBucket;
  lastSeen: number;
  /** The app reads DeliveryBatch frames (Connect.takes_batches). */
  takesBatches = false;
  /** Cancels the deadline to connect by. */
  cancelAuthDeadline: (() => void) | undefined;

  constructor(
    readonly id: string,
    readonly nonce: Uint8Array,
    readonly sink: SessionSink,
    limits: SessionLimits,
    readonly openedAt: number,
    /** The remote host the stream came from (no port); empty when unknown. */
    readonly remoteAddress = "",
  ) {
    this.lastSeen = openedAt;
    this.budgets = new AppBudgets(limits, openedAt);
    this.badFrames = new TokenBucket(limits.badFramesPerMinute, 60_000, limits.badFramesPerMinute, openedAt);
    this.frames = new TokenBucket(limits.framesPerSecond, 1000, limits.framesPerSecond * 2, openedAt);
  }
}
