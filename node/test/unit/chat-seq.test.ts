import { describe, expect, it } from "vitest";
import { applyAck, type Direction, judgeSeq, newDirection, rewind, rewindTo } from "../../src/router/chat.js";

function dir(acked: number, forwarded: number): Direction {
  return { acked, forwarded, sentAt: new Map() };
}

describe("judgeSeq", () => {
  it.each([
    // acked, forwarded, seq, verdict
    [0, 0, 1, { kind: "forward" }],
    [0, 0, 0, { kind: "out_of_order", expected: 1 }],
    [0, 0, 2, { kind: "out_of_order", expected: 1 }],
    [2, 5, 6, { kind: "forward" }],
    [2, 5, 7, { kind: "out_of_order", expected: 6 }],
    [2, 5, 1, { kind: "reack", seq: 2 }],
    [2, 5, 2, { kind: "reack", seq: 2 }],
    [2, 5, 3, { kind: "in_flight" }],
    [2, 5, 5, { kind: "in_flight" }],
    [2, 5, 0, { kind: "out_of_order", expected: 6 }],
    [5, 5, 5, { kind: "reack", seq: 5 }],
    [5, 5, 6, { kind: "forward" }],
  ])("acked=%i forwarded=%i seq=%i → %o", (acked, forwarded, seq, verdict) => {
    expect(judgeSeq(dir(acked, forwarded), seq)).toEqual(verdict);
  });
});

describe("applyAck", () => {
  it("is cumulative and observes the latency of every message it covers", () => {
    const d = newDirection();
    for (const [seq, at] of [
      [1, 1000],
      [2, 1100],
      [3, 1200],
    ] as const) {
      d.forwarded = seq;
      d.sentAt.set(seq, at);
    }
    const seen: number[] = [];
    expect(applyAck(d, 2, 1500, (s) => seen.push(s))).toBe(true);
    expect(d.acked).toBe(2);
    expect(seen).toEqual([0.5, 0.4]);
    expect([...d.sentAt.keys()]).toEqual([3]);
    expect(applyAck(d, 3, 1300, (s) => seen.push(s))).toBe(true);
    expect(seen).toEqual([0.5, 0.4, 0.1]);
    expect(d.sentAt.size).toBe(0);
  });

  it("ignores an ack that adds nothing or goes beyond what was forwarded", () => {
    const d = dir(2, 4);
    const observe = (): void => {
      throw new Error("must not observe");
    };
    expect(applyAck(d, 2, 0, observe)).toBe(false);
    expect(applyAck(d, 1, 0, observe)).toBe(false);
    expect(applyAck(d, 5, 0, observe)).toBe(false);
    expect(d).toEqual(dir(2, 4));
  });

  it("skips seqs that were not timed", () => {
    const d = dir(0, 3);
    d.sentAt.set(3, 0);
    const seen: number[] = [];
    expect(applyAck(d, 3, 2000, (s) => seen.push(s))).toBe(true);
    expect(seen).toEqual([2]);
  });
});

describe("rewind", () => {
  it("forgets what was forwarded beyond the last ack", () => {
    const d = dir(2, 5);
    d.sentAt.set(3, 1).set(4, 2).set(5, 3);
    rewind(d);
    expect(d).toEqual(dir(2, 2));
    expect(judgeSeq(d, 3)).toEqual({ kind: "forward" });
  });

  it("starts a direction at its acked mark", () => {
    expect(newDirection(7)).toEqual(dir(7, 7));
  });
});

describe("rewindTo", () => {
  it("moves the forwarded mark back to where the far side expects, forgetting later timings", () => {
    const d = dir(2, 6);
    d.sentAt.set(3, 1).set(4, 2).set(5, 3).set(6, 4);
    rewindTo(d, 4);
    expect(d.forwarded).toBe(4);
    expect([...d.sentAt.keys()]).toEqual([3, 4]);
  });

  it("never goes below the ack mark or forward", () => {
    const d = dir(2, 6);
    rewindTo(d, 1);
    expect(d).toEqual(dir(2, 6));
    rewindTo(d, 6);
    expect(d).toEqual(dir(2, 6));
  });
});
