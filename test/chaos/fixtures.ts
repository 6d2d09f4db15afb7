import type { RoundResult } from "./round.js";

/**
 * A kill9-fast round of the kind the checks must catch: on p0-2 (b to a) 2 acked messages
 * lost and 3 sends stuck; p1-2's chat ended and came back in 2 s; p0-2 never did.
 */
export function brokenRound(): RoundResult {
  const way = { sent: 10, acked: 10, delivered: 10, lost: 0, duplicated: 0, reordered: 0, corrupted: 0 };
  return {
    round: 3,
    fault: "kill9-fast",
    victim: 2,
    drawn: 1,
    appsOnVictim: 4,
    steps: [{ victim: 2, at: 1000, endedAt: 2500 }],
    ways: [
      { pair: "p0-1", way: "ab", ...way, rejected: {}, rejectedDelivered: 0, unsettled: 0 },
      { pair: "p0-2", way: "ba", ...way, lost: 2, rejected: {}, rejectedDelivered: 0, unsettled: 3 },
    ],
    outages: [
      { pair: "p0-2", way: "ba", from: 900, step: 0, allowedMs: 3500, late: true },
      {
        pair: "p1-2",
        way: "ab",
        from: 900,
        to: 3000,
        step: 0,
        recoveryMs: 2000,
        allowedMs: 3500,
        late: false,
      },
    ],
    chatEnds: [
      { pair: "p1-2", app: "p1-2.b", at: 1500, reason: "route_unavailable" },
      { pair: "p1-2", app: "p1-2.a", at: 1600, reason: "deleted_by_peer" },
    ],
    stalled: [{ pair: "p0-2", why: "ba: 3 sends unsettled" }],
    told: [{ app: "p1-2.b", step: 0, ms: 500, kind: "chat-ended" }],
    appErrors: {},
    startedAt: 0,
    durationMs: 1,
    notes: [],
    evidence: [],
  };
}
