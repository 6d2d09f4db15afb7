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
  connectionIdleMs: 30000,
});
