import { hostname } from "node:os";
import type { NodeConfig } from "./types.js";

/** A standalone dev node that starts with no config at all. Empty strings mean "derive at load time". */
export function defaultConfig(): NodeConfig {
  return {
    nodeName: hostname(),
    dataDir: "./hermes-data",
    listen: { app: "0.0.0.0:7400", admin: "0.0.0.0:7402" },
    advertiseApp: "",
    keystore: {
      path: "",
      passphraseEnv: "HERMES_KEYSTORE_PASSPHRASE",
      passphraseFile: "",
      kdf: { memoryKiB: 65536, iterations: 3, parallelism: 1 },
      flushIntervalMs: 1000,
    },
    limits: {
      maxFrameBytes: 262144,
      maxCiphertextBytes: 65536,
      messagesPerSecond: 200,
      messageBurst: 400,
      chatStartsPerMinute: 30,
      maxChatsPerApp: 256,
      maxSessions: 100000,
      badFramesPerMinute: 30,
    },
    timeouts: {
      sessionIdleMs: 90000,
      chatIdleMs: 1800000,
      offerTimeoutMs: 60000,
      heartbeatIntervalMs: 30000,
      sweepIntervalMs: 5000,
      clockSkewMs: 300000,
      shutdownGraceMs: 10000,
    },
    log: { level: "info" },
    mesh: {
      listen: "0.0.0.0:7401",
      advertise: "",
      peers: [],
      dns: "",
      dnsServer: "",
      discoveryIntervalMs: 10000,
      insecure: false,
      tls: { cert: "", key: "", ca: "" },
      tielineGraceMs: 5000,
      peerFramesPerSecond: 50000,
      maxFrameBytes: 1048576,
      maxQueuedFrames: 20000,
      membership: {
        probeIntervalMs: 1000,
        probeTimeoutMs: 500,
        indirectProbes: 3,
        suspicionMult: 2,
        suspicionMaxTimeoutMult: 4,
        retransmitMult: 4,
        awarenessMaxMultiplier: 8,
        pushPullIntervalMs: 30000,
        deadReclaimMs: 30000,
        maxPiggyback: 8,
        gossipIntervalMs: 200,
        gossipNodes: 3,
        syncTimeoutMs: 5000,
      },
    },
  };
}
