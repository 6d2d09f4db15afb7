import type { RoundResult } from "./round.js";

/**
 * The three promises the suite holds each fault to, each as the list of what broke it (empty
 * when it holds), so a failing test names the rounds, pairs and directions. Pure.
 */

/** Each pair whose chat ended (first reason the SDK gave) or stalled in this round. */
export function endedPairs(round: RoundResult): Map<string, string> {
  const pairs = new Map<string, string>();
  for (const end of [...round.chatEnds].sort((x, y) => x.at - y.at))
    if (!pairs.has(end.pair)) pairs.set(end.pair, end.reason);
  for (const stall of round.stalled) if (!pairs.has(stall.pair)) pairs.set(stall.pair, "stalled");
  return pairs;
}

/** Check 1: no acked message lost, none duplicated, reordered or corrupted. */
export function integrityFailures(rounds: readonly RoundResult[]) {
  return rounds.flatMap((r) =>
    r.ways
      .filter((w) => w.lost + w.duplicated + w.reordered + w.corrupted > 0)
      .map((w) => ({
        round: r.round,
        victim: r.victim,
        pair: w.pair,
        way: w.way,
        lost: w.lost,
        duplicated: w.duplicated,
        reordered: w.reordered,
        corrupted: w.corrupted,
      })),
  );
}

/** Check 2: every chat goes on across the fault: none ended, none stuck. */
export function continuityFailures(rounds: readonly RoundResult[]) {
  return rounds.flatMap((r) =>
    [...endedPairs(r)].map(([pair, why]) => ({
      round: r.round,
      victim: r.victim,
      pair,
      why: why === "stalled" ? `stalled (${r.stalled.find((s) => s.pair === pair)?.why})` : `ended: ${why}`,
    })),
  );
}

/** Check 3: every outage a fault caused is over within the mesh's detection time (or the fault's end) + 2 s. */
export function timingFailures(rounds: readonly RoundResult[]) {
  return rounds.flatMap((r) =>
    r.outages
      .filter((o) => o.late)
      .map((o) => ({
        round: r.round,
        victim: r.victim,
        pair: o.pair,
        way: o.way,
        recoveryMs: o.recoveryMs ?? "never",
        allowedMs: o.allowedMs,
      })),
  );
}
