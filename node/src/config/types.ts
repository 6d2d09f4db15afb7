import type { MembershipConfig } from "../mesh/membership/config.js";

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
  mesh: MeshConfig;
}

/**
 * Node <-> node. The mesh runs when TLS files are configured, or when `insecure` says to run
 * it in plain text (local development only); otherwise the node is deliberately alone.
 */
export interface MeshConfig {
  /** host:port of the NodeMesh gRPC server. */
  listen: string;
  /** host:port other nodes use to reach this one; defaults to listen (with this host's name for 0.0.0.0). */
  advertise: string;
  /** Static seed nodes, host:port. */
  peers: string[];
  /** DNS discovery: "name:port" (A/AAAA records) or "_service._proto.name" (SRV records); empty for none. */
  dns: string;
  /** DNS server host:port to ask instead of the system resolver (tests, special setups). */
  dnsServer: string;
  /** How often DNS and persisted peers are tried again, until joined and afterwards (to heal partitions). */
  discoveryIntervalMs: number;
  /** Plain-text mesh. Never in production: anyone who reaches the port could join. */
  insecure: boolean;
  /** PEM files, reloaded when they change. */
  tls: { cert: string; key: string; ca: string };
  /** How long a lost tieline stream may take to come back before its chats are torn down. */
  tielineGraceMs: number;
  /** Frames per second a peer node may send on its streams (burst twice that). */
  peerFramesPerSecond: number;
  /** Largest NodeMesh frame accepted, bytes. */
  maxFrameBytes: number;
  /** Frames queued towards one peer before new chats to it are refused (backpressure). */
  maxQueuedFrames: number;
  /** SWIM and Lifeguard timers (docs/membership-tuning.md). */
  membership: MembershipConfig;
}
