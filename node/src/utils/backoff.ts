export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/**
 * Exponential backoff with jitter: `initialMs · 2^attempt`, capped at `maxMs`, then scaled by a
 * random factor in [0.5, 1) so that peers that failed together do not retry together.
 * `attempt` counts from 0.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  return base * (0.5 + random() / 2);
}
