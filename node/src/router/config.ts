/** What the router refuses beyond, per app and per node. Every refusal is a clear error and a metric. */
export interface RouterLimits {
  /** Largest gRPC frame the app server takes at all (bytes); larger ones end the stream. */
  maxFrameBytes: number;
  /** Largest chat message ciphertext (bytes); larger ones get FRAME_TOO_LARGE. */
  maxCiphertextBytes: number;
  messagesPerSecond: number;
  messageBurst: number;
  chatStartsPerMinute: number;
  maxChatsPerApp: number;
  maxSessions: number;
  /** Bad frames tolerated per session per minute before the node closes it. */
  badFramesPerMinute: number;
  /**
   * Frames of any kind a session may send per second (bursts twice that). Beyond it each frame is
   * refused with RATE_LIMITED and spends the bad-frame budget, so a flood closes the session. At
   * least messagesPerSecond (every message is a frame); the default leaves room for acks.
   */
  framesPerSecond: number;
  /** A chat direction may have this many messages relayed and not yet acknowledged; beyond, RATE_LIMITED. */
  maxInFlightPerChat: number;
  /** Offers waiting for one app's answer at most; more get RATE_LIMITED (a flood of fresh identities). */
  maxPendingOffersPerApp: number;
  /** Bytes queued towards one app (written, not yet taken by its connection); beyond, the stream is closed. */
  maxQueuedBytesPerSession: number;
  /** Bytes queued towards all apps; beyond, the stream holding most is closed. */
  maxQueuedBytes: number;
  /** Streams open and not yet authenticated, at most; more are closed at once. */
  maxUnauthenticatedSessions: number;
  /**
   * Connects per second per remote address (bursts twice that), spent at the door: a new
   * connection takes one, and waits unread while there is none. A Connect beyond it anyway
   * gets RATE_LIMITED before any signature check.
   */
  connectsPerSecondPerAddress: number;
  /** Failed connects per minute per remote address; beyond, its connects are refused unchecked until the budget refills. */
  connectFailuresPerMinutePerAddress: number;
  /**
   * Streams per minute per remote address cut for not reading what they were sent
   * (maxQueuedBytesPerSession); beyond, its connects are refused unchecked until the budget refills.
   */
  slowReaderCutsPerMinutePerAddress: number;
  /** Connections open at once on the app port; more are refused (an app needs one). */
  maxConnections: number;
  /** Connections open at once on the app port from one address (IPv6: one /64). Apps behind one NAT share it. */
  maxConnectionsPerAddress: number;
  /**
   * File descriptors kept out of reach of accepted connections (app and mesh ports together), for
   * the admin port, the keystore, outbound mesh connections and DNS: connections may use at most
   * the soft RLIMIT_NOFILE minus this.
   */
  reservedFileDescriptors: number;
}

/** The router's timers. */
export interface RouterTimeouts {
  sessionIdleMs: number;
  chatIdleMs: number;
  /** How long a chat offer waits for the target's answer. */
  offerTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** How often idle sessions and chats are swept. */
  sweepIntervalMs: number;
  /** Accepted clock skew for signed timestamps. */
  clockSkewMs: number;
  /** How long SIGTERM waits for sessions to close and the keystore to flush. */
  shutdownGraceMs: number;
  /** A stream must connect within this long of opening, whatever it sends meanwhile. */
  authenticateWithinMs: number;
  /** An app-port connection with no open stream for this long is closed (apps keep one stream open). */
  connectionIdleMs: number;
}

export const defaultRouterLimits: Readonly<RouterLimits> = Object.freeze({
  maxFrameBytes: 262144,
  maxCiphertextBytes: 65536,
  messagesPerSecond: 200,
  messageBurst: 400,
  chatStartsPerMinute: 30,
  maxChatsPerApp: 256,
  maxSessions: 100000,
  badFramesPerMinute: 30,
  framesPerSecond: 2000,
  maxInFlightPerChat: 256,
  maxPendingOffersPerApp: 32,
  maxQueuedBytesPerSession: 4 * 1024 * 1024,
  maxQueuedBytes: 256 * 1024 * 1024,
  maxUnauthenticatedSessions: 1000,
  connectsPerSecondPerAddress: 20,
  connectFailuresPerMinutePerAddress: 30,
  slowReaderCutsPerMinutePerAddress: 10,
  maxConnections: 100000,
  maxConnectionsPerAddress: 4096,
  reservedFileDescriptors: 64,
});

export const defaultRouterTimeouts: Readonly<RouterTimeouts> = Object.freeze({
  sessionIdleMs: 90000,
  chatIdleMs: 1800000,
  offerTimeoutMs: 60000,
  heartbeatIntervalMs: 30000,
  sweepIntervalMs: 5000,
  clockSkewMs: 300000,
  shutdownGraceMs: 10000,
  authenticateWithinMs: 10000,
  connectionIdleMs: 30000,
});
