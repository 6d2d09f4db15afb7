/** The node's configuration after file, `HERMES_*` environment and flags are merged and validated. */
export interface NodeConfig {
  /** Human-friendly name for logs and metrics; defaults to the host name. */
  nodeName: string;
  /** Where the keystore and persisted state live. */
  dataDir: string;
  listen: {
    /** host:port of the AppRouter gRPC server. */
    app: string;
    /** host:port of the admin HTTP server (/healthz, /readyz, /metrics). */
    admin: string;
  };
  /** host:port apps elsewhere should use to reach this node; defaults to listen.app. */
  advertiseApp: string;
  keystore: {
    /** Keystore file; defaults to <dataDir>/keystore.json. */
    path: string;
    /** Name of the environment variable holding the passphrase. */
    passphraseEnv: string;
    /** File holding the passphrase (first line). Used when the variable is unset. */
    passphraseFile: string;
    /** Argon2id cost for a new keystore. Existing keystores keep the cost they were made with. */
    kdf: { memoryKiB: number; iterations: number; parallelism: number };
    /** How often dirty chat records are sealed to disk. Nothing on the message path writes synchronously. */
    flushIntervalMs: number;
  };
  limits: {
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
  };
  timeouts: {
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
  };
  log: { level: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent" };
}
