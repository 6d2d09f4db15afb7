import { describe, expect, it } from "vitest";
import { FakeClock } from "../../src/utils/fake-clock.js";
import { LogThrottle } from "../../src/utils/log-throttle.js";

describe("log throttle", () => {
  it("lets one line per key per interval through and counts the ones left out", () => {
    const clock = new FakeClock();
    const logs = new LogThrottle(clock, 1000);
    expect(logs.admit("per_address")).toEqual({ suppressed: 0 });
    expect(logs.admit("per_address")).toBeUndefined();
    expect(logs.admit("fd_reserve")).toEqual({ suppressed: 0 });
    expect(logs.admit("per_address")).toBeUndefined();
    clock.advance(999);
    expect(logs.admit("per_address")).toBeUndefined();
    clock.advance(1);
    expect(logs.admit("per_address")).toEqual({ suppressed: 3 });
    expect(logs.admit("per_address")).toBeUndefined();
  });
});
