import type { MeshConfig } from "../mesh/config.js";
import type { RouterLimits, RouterTimeouts } from "../router/config.js";

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
  limits: RouterLimits;
  timeouts: RouterTimeouts;
  log: { level: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent" };
  mesh: MeshConfig;
}
