import { describe, expect, it } from "vitest";
import { continuityFailures, integrityFailures, timingFailures } from "./checks.js";
import { brokenRound } from "./fixtures.js";

describe("the checks", () => {
  const round = brokenRound();

  it("name the rounds, pairs and directions that broke each promise", () => {
    expect(integrityFailures([round])).toEqual([
      { round: 3, victim: 2, pair: "p0-2", way: "ba", lost: 2, duplicated: 0, reordered: 0, corrupted: 0 },
    ]);
    expect(continuityFailures([round])).toEqual([
      { round: 3, victim: 2, pair: "p1-2", why: "ended: route_unavailable" },
      { round: 3, victim: 2, pair: "p0-2", why: "stalled (ba: 3 sends unsettled)" },
    ]);
    expect(timingFailures([round])).toEqual([
      { round: 3, victim: 2, pair: "p0-2", way: "ba", recoveryMs: "never", allowedMs: 3500 },
    ]);
  });
});
