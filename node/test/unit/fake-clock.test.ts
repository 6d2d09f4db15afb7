import { describe, expect, it } from "vitest";
import { FakeClock } from "../../src/utils/fake-clock.js";

describe("FakeClock", () => {
  it("runs due timers in time then creation order, including ones scheduled meanwhile", () => {
    const clock = new FakeClock(1000);
    const log: string[] = [];
    clock.setTimeout(() => log.push(`b@${clock.now()}`), 20);
    clock.setTimeout(() => {
      log.push(`a@${clock.now()}`);
      clock.setTimeout(() => log.push(`c@${clock.now()}`), 5);
    }, 10);
    clock.setTimeout(() => log.push(`b2@${clock.now()}`), 20);
    const cancel = clock.setTimeout(() => log.push("never"), 15);
    cancel();
    clock.advance(19);
    expect(log).toEqual(["a@1010", "c@1015"]);
    expect(clock.now()).toBe(1019);
    clock.advance(1);
    expect(log).toEqual(["a@1010", "c@1015", "b@1020", "b2@1020"]);
    expect(clock.pending()).toBe(0);
  });

  it("runs an interval once per period until cancelled, in order with timeouts", () => {
    const clock = new FakeClock(0);
    const log: string[] = [];
    const stop = clock.setInterval(() => log.push(`tick@${clock.now()}`), 100);
    clock.setTimeout(() => log.push(`once@${clock.now()}`), 150);
    clock.advance(350);
    expect(log).toEqual(["tick@100", "once@150", "tick@200", "tick@300"]);
    stop();
    clock.advance(1000);
    expect(log).toHaveLength(4);
    expect(clock.pending()).toBe(0);
  });
});
