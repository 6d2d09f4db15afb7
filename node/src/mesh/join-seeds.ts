/**
 * Seeds joined at once. One answer brings every member, so three are enough for one slow or
 * dead seed not to hold the join back; joining through every address at once (DNS naming
 * every pod, or every peer remembered from before a restart) would make N seeds exchange full
 * state with the joiner and each announce it to every member.
 */
export const JOIN_FANOUT = 3;

export interface JoinSeedsPort {
  /** Joins through one address; resolves once it answered or gave up (never rejects). */
  join(address: string): Promise<unknown>;
  /** True when `address` belongs to a member already held live: no need to join through it. */
  isMember(address: string): boolean;
}

/**
 * Joins through `addresses` in order, at most `fanout` at a time, starting the next as soon as
 * one finishes: no batch waits for its slowest seed. An address whose node has become a live
 * member by its turn (the answers brought it) is skipped; the others are still tried, so the far
 * side of a partition or a new node is reached even when the first seeds answered.
 */
export async function joinSeeds(
  addresses: readonly string[],
  port: JoinSeedsPort,
  fanout = JOIN_FANOUT,
): Promise<void> {
  const queue = [...addresses];
  const inFlight = new Set<Promise<unknown>>();
  const launch = () => {
    while (inFlight.size < fanout && queue.length > 0) {
      const address = queue.shift()!;
      if (port.isMember(address)) continue;
      const attempt: Promise<unknown> = port.join(address).finally(() => inFlight.delete(attempt));
      inFlight.add(attempt);
    }
  };
  launch();
  while (inFlight.size > 0) {
    await Promise.race(inFlight);
    launch();
  }
}
