import type { MembershipConfig } from "./membership/config.js";

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
  /** Connections open at once on the mesh port; a peer needs one. */
  maxConnections: number;
  /** Connections open at once on the mesh port from one address (IPv6: one /64); nodes sharing a host share it. */
  maxConnectionsPerAddress: number;
  /** A mesh connection with no open stream for this long is closed (peers keep their gossip stream open). */
  connectionIdleMs: number;
  /** Time from accepting a mesh connection to a finished TLS handshake; less than connectionIdleMs. */
  tlsHandshakeTimeoutMs: number;
  /** SWIM and Lifeguard timers (docs/membership-tuning.md). */
  membership: MembershipConfig;
}

export const defaultMeshConfig: Readonly<MeshConfig> = Object.freeze({
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
  maxConnections: 4096,
  maxConnectionsPerAddress: 64,
  connectionIdleMs: 30000,
  tlsHandshakeTimeoutMs: 10000,
  // Faster than memberlist's LAN profile (suspicionMult 4, max 6x): nodes of one mesh sit in one
  // cluster, and apps should hear of a dead node within seconds (docs/membership-tuning.md).
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
});

// Timings of the mesh shell that are not worth a knob, with their reason.

/** Refusals are all counted; the log gets one line per refusal code per this interval. */
export const REFUSAL_LOG_INTERVAL_MS = 1000;
/** A lost tieline is re-dialled this often (within PeerLinks' backoff) while its peer is live. */
export const TIELINE_REOPEN_INTERVAL_MS = 100;
/**
 * A tieline whose peer has not answered its hello within this is given up and dialled again:
 * frames written to it meanwhile would otherwise wait, unsent and unrefused, for ever.
 */
export const TIELINE_HELLO_TIMEOUT_MS = 5000;
/** App connects and disconnects within this window travel as one directory delta. */
export const DIRECTORY_DELTA_BATCH_MS = 50;
/** A node is asked for its whole app list at most once per this interval, unless a delta was missed. */
export const SNAPSHOT_REQUEST_INTERVAL_MS = 1000;
/** On a graceful leave, how long queued membership news may take to go out before the mesh stops. */
export const LEAVE_GRACE_MS = 1000;
/** How often a leaving node checks whether its leave has been gossiped. */
export const LEAVE_POLL_MS = 50;
/** After leaving, how long in-flight frames on peers' streams get before the server is cut. */
export const SERVER_DRAIN_MS = 1000;
