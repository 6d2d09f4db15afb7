import { describe, expect, it } from "vitest";
import { brokenRound } from "./fixtures.js";
import { renderTables, summarize } from "./report.js";

describe("the tables", () => {
  const round = brokenRound();

  it("sum each fault's rounds into one row", () => {
    const [summary] = summarize([round, { ...round, round: 4 }], ["kill9-fast"]);
    expect(summary).toMatchObject({
      rounds: 2,
      sent: 40,
      lost: 4,
      unsettled: 6,
      chatsEnded: { route_unavailable: 2, stalled: 2 },
      detectionMs: [undefined, undefined],
      recoveryMs: [undefined, 2000, undefined, 2000],
      late: 2,
    });
    const text = renderTables([summary!]);
    expect(text).toContain("| kill9-fast |");
    expect(text).toContain("4 (route_unavailable 2, stalled 2)");
    expect(text).toContain("2.0 / never");
  });
});
