import { describe, expect, it } from "vitest";
import { findOutages, judgeOutage } from "./outages.js";

describe("outages", () => {
  const window = { from: 0, to: 10_000 };

  it("are the gaps longer than the threshold, including one still open at the end", () => {
    expect(findOutages([100, 200, 1500, 1600, 8000], window, 1000)).toEqual([
      { from: 200, to: 1500 },
      { from: 1600, to: 8000 },
      { from: 8000 },
    ]);
    expect(
      findOutages([100, 900, 1800, 2700, 3600, 4500, 5400, 6300, 7200, 8100, 9000, 9900], window, 1000),
    ).toEqual([]);
  });

  it("are blamed on the last step injected within them, and judged against its detection + slack", () => {
    const steps = [{ victim: 1, at: 1000, endedAt: 2000, detectedAt: 4000 }];
    // Recovered 1000 + 3000 + 2000 = 6000 is on time; later is late; never is late.
    expect(judgeOutage({ from: 950, to: 6000 }, steps, 1000, 2000)).toMatchObject({
      step: 0,
      recoveryMs: 5000,
      allowedMs: 3000, // the fault ended (2000) before detection: the reference
      late: true,
    });
    expect(judgeOutage({ from: 950, to: 3500 }, steps, 1000, 2000)).toMatchObject({
      recoveryMs: 2500,
      late: false,
    });
    expect(judgeOutage({ from: 950 }, steps, 1000, 2000)).toMatchObject({ step: 0, late: true });
    const detectedFirst = [{ victim: 1, at: 1000, endedAt: 9000, detectedAt: 4000 }];
    expect(judgeOutage({ from: 950, to: 6000 }, detectedFirst, 1000, 2000)).toMatchObject({
      allowedMs: 5000,
      late: false,
    });
    // Steps one after the other (a rolling restart): the last one within the outage is judged.
    const rolling = [
      { victim: 1, at: 1000, endedAt: 1500, detectedAt: 1010 },
      { victim: 2, at: 2000, endedAt: 2500, detectedAt: 2010 },
    ];
    expect(judgeOutage({ from: 1990, to: 3200 }, rolling, 1000, 2000)).toMatchObject({
      step: 1,
      recoveryMs: 1200,
      late: false,
    });
    // An in-flight message may land just after the injection; far from any step, no blame.
    expect(judgeOutage({ from: 1800, to: 3000 }, steps, 1000, 2000)).toMatchObject({ step: 0 });
    expect(judgeOutage({ from: 5000, to: 7000 }, steps, 1000, 2000)).toEqual({
      from: 5000,
      to: 7000,
      late: false,
    });
  });
});
