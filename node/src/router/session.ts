import type { approuter } from "@hermes/proto";
import { TokenBucket } from "../utils/token-bucket.js";

/** Where the router writes a session's frames; the gRPC stream in production, an array in tests. */
export interface SessionSink {
  send(frame: approuter.NodeFrame): void;
  /** Ends the stream. Called once. */
  end(): void;
  /**
   * Asks the peer to open no more streams on this stream's connection (HTTP/2 GOAWAY); the
   * streams open on it go on. Optional: a sink without connections has nothing to do.
   */
  goAway?(): void;
}

export interface SessionLimits {
  messagesPerSecond: number;
  messageBurst: number;
  chatStartsPerMinute: number;
  badFramesPerMinute: number;
  framesPerSecond: number;
}

/**
 * Per-app budgets. They move with the app to its next session, so reconnecting does not refill
 * them: not the messages, nor the frames of every kind, nor the bad frames that close a stream.
 * A stream spends its own until its Connect names the app.
 */
export class AppBudgets {
  readonly messages: TokenBucket;
  readonly chatStarts: TokenBucket;
  /** Every frame spends one. */
  readonly frames: TokenBucket;
  readonly badFrames: TokenBucket;

  constructor(limits: SessionLimits, now: number) {
    this.messages = new TokenBucket(limits.messagesPerSecond, 1000, limits.messageBurst, now);
    this.chatStarts = new TokenBucket(limits.chatStartsPerMinute, 60_000, limits.chatStartsPerMinute, now);
    this.frames = new TokenBucket(limits.framesPerSecond, 1000, limits.framesPerSecond * 2, now);
    this.badFrames = new TokenBucket(limits.badFramesPerMinute, 60_000, limits.badFramesPerMinute, now);
  }
}

/** One app stream: challenged until the app connects, then the app's session, then closed. */
export class Session {
  state: "challenged" | "connected" | "closed" = "challenged";
  appId = "";
  publicKey: Uint8Array = new Uint8Array(0);
  budgets: AppBudgets;
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
  }

  get frames(): TokenBucket {
    return this.budgets.frames;
  }

  get badFrames(): TokenBucket {
    return this.budgets.badFrames;
  }
}
