import { describe, expect, it } from "vitest";
import { Suspicion } from "../../src/mesh/membership/index.js";
import type { Clock } from "../../src/utils/clock.js";

/** A clock whose timers run only when the test says, as late as it likes: a stalled process. */
class StallableClock implements Clock {
  time = 0;
  private next = 1;
  readonly timers = new Map<number, { fn: () => void; due: number }>();
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): () => void {
    const id = this.next++;
    this.timers.set(id, { fn, due: this.time + ms });
    return () => this.timers.delete(id);
  }
  setInterval(): () => void {
    throw new Error("not used by Suspicion");
  }
  /** Jumps to `at` and runs every timer due by then, whatever its lag. */
  runUntil(at: number): void {
    this.time = at;
    for (const [id, t] of [...this.timers]) {
      if (t.due <= at && this.timers.delete(id)) t.fn();
    }
  }
}

describe("suspicion timers after a stall", () => {
  it("fire on time when the process keeps up", () => {
    const clock = new StallableClock();
    const dead: number[] = [];
    new Suspicion({
      clock,
      from: "a",
      expected: 0,
      minMs: 2000,
      maxMs: 8000,
      onTimeout: (c) => dead.push(c),
      lateMs: 1000,
      onLate: () => dead.push(-1),
    });
    clock.runUntil(2000);
    expect(dead).toEqual([0]);
  });

  it("defer the verdict once when they fire late, so queued refutations are heard first", () => {
    const clock = new StallableClock();
    const events: string[] = [];
    const s = new Suspicion({
      clock,
      from: "a",
      expected: 0,
      minMs: 2000,
      maxMs: 8000,
      onTimeout: () => events.push("dead"),
      lateMs: 1000,
      onLate: (lag) => events.push(`late ${lag}`),
    });
    clock.runUntil(6000); // stalled for 4 s past the deadline
    expect(events).toEqual(["late 4000"]);
    s.cancel(); // the refutation that waited in the queue arrives
    clock.runUntil(8000);
    expect(events).toEqual(["late 4000"]);
  });

  it("still declare death after the deferral when nothing refutes", () => {
    const clock = new StallableClock();
    const events: string[] = [];
    new Suspicion({
      clock,
      from: "a",
      expected: 0,
      minMs: 2000,
      maxMs: 8000,
      onTimeout: () => events.push("dead"),
      lateMs: 1000,
      onLate: () => events.push("late"),
    });
    clock.runUntil(6000);
    clock.runUntil(7000);
    expect(events).toEqual(["late", "dead"]);
  });
});
