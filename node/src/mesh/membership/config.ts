/** Membership timers and limits. Defaults follow memberlist's LAN profile. */
export interface MembershipConfig {
  /** Protocol period: one member probed per period (scaled by local health). */
  probeIntervalMs: number;
  /** Wait for a direct ack before asking helpers (scaled by local health). */
  probeTimeoutMs: number;
  /** Helpers asked to ping a silent target on our behalf (k). */
  indirectProbes: number;
  /** Suspicion timeout floor = suspicionMult · max(1, log10 N) · probeInterval. */
  suspicionMult: number;
  /** Suspicion timeout ceiling = suspicionMaxTimeoutMult · floor, used with no confirmations. */
  suspicionMaxTimeoutMult: number;
  /** Each update is piggybacked at most retransmitMult · ceil(log10(N + 1)) times. */
  retransmitMult: number;
  /** Local health multiplier range: timers scale by 1..awarenessMaxMultiplier. */
  awarenessMaxMultiplier: number;
  /** Full state exchange with one random member (scaled up beyond 32 members). */
  pushPullIntervalMs: number;
  /** Dead and left members are kept (and gossiped) this long, then reaped. */
  deadReclaimMs: number;
  /** Most updates piggybacked on one message. */
  maxPiggyback: number;
  /**
   * While updates are queued, push them to gossipNodes random members every gossipIntervalMs
   * (memberlist's gossip loop; silent when there is no news, so steady-state load is probes
   * only). Dead members are included so a wrongly dead node hears of it. 0 nodes disables it.
   */
  gossipIntervalMs: number;
  gossipNodes: number;
  /** How long join() waits for seed replies. */
  syncTimeoutMs: number;
}

export const defaultMembershipConfig: Readonly<MembershipConfig> = Object.freeze({
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectProbes: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  retransmitMult: 4,
  awarenessMaxMultiplier: 8,
  pushPullIntervalMs: 30_000,
  deadReclaimMs: 30_000,
  maxPiggyback: 8,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  syncTimeoutMs: 5000,
});

/** Merges overrides onto the defaults and rejects nonsense with an error naming the key. */
export function resolveMembershipConfig(overrides: Partial<MembershipConfig> = {}): MembershipConfig {
  const cfg: MembershipConfig = { ...defaultMembershipConfig };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!(key in cfg)) throw new RangeError(`membership config: unknown key ${key}`);
    (cfg as unknown as Record<string, number>)[key] = value;
  }
  const positive: (keyof MembershipConfig)[] = [
    "probeIntervalMs",
    "probeTimeoutMs",
    "suspicionMult",
    "suspicionMaxTimeoutMult",
    "retransmitMult",
    "awarenessMaxMultiplier",
    "pushPullIntervalMs",
    "deadReclaimMs",
    "maxPiggyback",
    "gossipIntervalMs",
    "syncTimeoutMs",
  ];
  for (const key of positive) {
    if (!Number.isInteger(cfg[key]) || cfg[key] < 1) {
      throw new RangeError(`membership config: ${key} must be a positive integer, got ${cfg[key]}`);
    }
  }
  for (const key of ["indirectProbes", "gossipNodes"] as const) {
    if (!Number.isInteger(cfg[key]) || cfg[key] < 0) {
      throw new RangeError(`membership config: ${key} must be a non-negative integer, got ${cfg[key]}`);
    }
  }
  // Indirect probes need the rest of the period after the direct timeout.
  if (cfg.probeTimeoutMs >= cfg.probeIntervalMs) {
    throw new RangeError(`membership config: probeTimeoutMs must be below probeIntervalMs`);
  }
  return cfg;
}
