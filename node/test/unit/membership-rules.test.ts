import { describe, expect, it } from "vitest";
import {
  Awareness,
  BroadcastQueue,
  type Decision,
  decide,
  defaultMembershipConfig,
  type Member,
  type MemberState,
  type MemberUpdate,
  pushPullScaleMs,
  resolveMembershipConfig,
  retransmitLimit,
  Suspicion,
  suspicionMinTimeoutMs,
  suspicionTimeoutMs,
} from "../../src/mesh/membership/index.js";
import { FakeClock } from "../../src/utils/fake-clock.js";

const SELF = "self";
const X = "x";

function member(id: string, state: MemberState, incarnation: number, address = `${id}:1`): Member {
  return { id, address, incarnation, state, stateChangedAt: 0, meta: { zone: "a" } };
}
const alive = (id: string, incarnation: number, address = `${id}:1`, meta = { zone: "a" }): MemberUpdate => ({
  type: "alive",
  id,
  address,
  incarnation,
  meta,
});
const suspect = (id: string, incarnation: number, from = "peer"): MemberUpdate => ({
  type: "suspect",
  id,
  incarnation,
  from,
});
const dead = (id: string, incarnation: number, from = "peer"): MemberUpdate => ({
  type: "dead",
  id,
  incarnation,
  from,
});

/** Decision kind plus the resulting state/incarnation or the refuted/ignored detail. */
function summarize(d: Decision): string {
  switch (d.kind) {
    case "apply":
      return `apply ${d.next.state}@${d.next.incarnation}`;
    case "refute":
      return `refute >${d.accused}`;
    case "ignore":
      return `ignore ${d.reason}`;
    case "confirm":
      return "confirm";
  }
}

describe("membership precedence rules (decide)", () => {
  const cases: [string, Member | undefined, MemberUpdate, string, boolean?][] = [
    // alive
    ["alive about an unknown member adds it", undefined, alive(X, 0), "apply alive@0"],
    ["alive with a higher incarnation refreshes", member(X, "alive", 1), alive(X, 2), "apply alive@2"],
    ["alive with the same incarnation is nothing new", member(X, "alive", 1), alive(X, 1), "ignore stale"],
    ["alive with a lower incarnation is stale", member(X, "alive", 3), alive(X, 2), "ignore stale"],
    ["alive overrides suspect only when higher", member(X, "suspect", 2), alive(X, 2), "ignore stale"],
    [
      "alive refutes suspect with a higher incarnation",
      member(X, "suspect", 2),
      alive(X, 3),
      "apply alive@3",
    ],
    ["alive cannot beat dead at the same incarnation", member(X, "dead", 4), alive(X, 4), "ignore stale"],
    ["a dead member rejoins with a higher incarnation", member(X, "dead", 4), alive(X, 5), "apply alive@5"],
    ["a left member rejoins with a higher incarnation", member(X, "left", 4), alive(X, 5), "apply alive@5"],
    [
      "alive with a new address and a higher incarnation moves the member",
      member(X, "alive", 1),
      alive(X, 2, "x:2"),
      "apply alive@2",
    ],
    // suspect
    ["suspect about an unknown member is ignored", undefined, suspect(X, 0), "ignore unknown"],
    [
      "suspect overrides alive at the same incarnation",
      member(X, "alive", 2),
      suspect(X, 2),
      "apply suspect@2",
    ],
    [
      "suspect overrides alive at a higher incarnation",
      member(X, "alive", 2),
      suspect(X, 3),
      "apply suspect@3",
    ],
    ["suspect with a lower incarnation is stale", member(X, "alive", 2), suspect(X, 1), "ignore stale"],
    ["suspect about a suspect is a confirmation", member(X, "suspect", 2), suspect(X, 2), "confirm"],
    ["suspect about a dead member is moot", member(X, "dead", 2), suspect(X, 2), "ignore not-alive"],
    ["suspect about a left member is moot", member(X, "left", 2), suspect(X, 3), "ignore not-alive"],
    // dead / left
    ["dead about an unknown member is ignored", undefined, dead(X, 0), "ignore unknown"],
    ["dead overrides alive at the same incarnation", member(X, "alive", 2), dead(X, 2), "apply dead@2"],
    ["dead overrides suspect at the same incarnation", member(X, "suspect", 2), dead(X, 2), "apply dead@2"],
    ["dead with a lower incarnation is stale", member(X, "suspect", 2), dead(X, 1), "ignore stale"],
    ["dead about a dead member changes nothing", member(X, "dead", 2), dead(X, 3), "ignore already-dead"],
    ["a dead sent by the member itself is a leave", member(X, "alive", 2), dead(X, 2, X), "apply left@2"],
    ["a leave overrides suspect", member(X, "suspect", 2), dead(X, 2, X), "apply left@2"],
    ["a leave after death changes nothing", member(X, "dead", 2), dead(X, 2, X), "ignore already-dead"],
    // about ourselves
    ["suspect about us is refuted", member(SELF, "alive", 3), suspect(SELF, 3), "refute >3"],
    [
      "suspect about us with a higher incarnation is refuted",
      member(SELF, "alive", 3),
      suspect(SELF, 7),
      "refute >7",
    ],
    ["stale suspect about us is ignored", member(SELF, "alive", 3), suspect(SELF, 2), "ignore stale"],
    ["dead about us is refuted", member(SELF, "alive", 3), dead(SELF, 3), "refute >3"],
    [
      "our own leave from a previous life is refuted",
      member(SELF, "alive", 3),
      dead(SELF, 3, SELF),
      "refute >3",
    ],
    [
      "an alive matching us is nothing new",
      member(SELF, "alive", 3),
      alive(SELF, 3, "self:1"),
      "ignore same",
    ],
    [
      "an alive about us with other metadata is refuted",
      member(SELF, "alive", 3),
      alive(SELF, 3, "self:1", { zone: "b" }),
      "refute >3",
    ],
    [
      "an alive about us from a later life is refuted",
      member(SELF, "alive", 3),
      alive(SELF, 9, "self:9"),
      "refute >9",
    ],
    [
      "after leaving, alive about us is ignored",
      member(SELF, "left", 3),
      alive(SELF, 4),
      "ignore leaving",
      true,
    ],
    [
      "after leaving, dead about us changes nothing",
      member(SELF, "left", 3),
      dead(SELF, 3),
      "ignore already-dead",
      true,
    ],
  ];

  it.each(cases)("%s", (_name, current, update, expected, leaving = false) => {
    expect(summarize(decide(current, update, { selfId: SELF, leaving, now: 42 }))).toBe(expected);
  });

  it("stamps stateChangedAt only on state changes", () => {
    const ctx = { selfId: SELF, leaving: false, now: 100 };
    const refreshed = decide({ ...member(X, "alive", 1), stateChangedAt: 7 }, alive(X, 2), ctx);
    expect(refreshed.kind === "apply" && refreshed.next.stateChangedAt).toBe(7);
    const suspected = decide({ ...member(X, "alive", 1), stateChangedAt: 7 }, suspect(X, 1), ctx);
    expect(suspected.kind === "apply" && suspected.next.stateChangedAt).toBe(100);
  });
});

describe("broadcast queue", () => {
  const u = (id: string, incarnation = 0) => alive(id, incarnation);

  it("retransmits each update retransmitMult·ceil(log10(N+1)) times", () => {
    expect(retransmitLimit(4, 1)).toBe(4);
    expect(retransmitLimit(4, 9)).toBe(4);
    expect(retransmitLimit(4, 10)).toBe(8);
    expect(retransmitLimit(4, 99)).toBe(8);
    expect(retransmitLimit(4, 100)).toBe(12);
    for (const n of [5, 25, 200]) {
      const q = new BroadcastQueue(4);
      q.enqueue(u("a"));
      let sent = 0;
      while (q.take(8, n).length > 0) sent++;
      expect(sent).toBe(retransmitLimit(4, n));
      expect(q.size).toBe(0);
    }
  });

  it("replaces an older update about the same member and restarts its count", () => {
    const q = new BroadcastQueue(4);
    q.enqueue(u("a", 1));
    q.take(8, 5);
    q.take(8, 5);
    q.enqueue(suspect("a", 1));
    expect(q.size).toBe(1);
    expect(q.pending()).toEqual([suspect("a", 1)]);
    let sent = 0;
    while (q.take(8, 5).length > 0) sent++;
    expect(sent).toBe(4);
  });

  it("hands out least-transmitted first, newest first among equals, at most max per message", () => {
    const q = new BroadcastQueue(4);
    q.enqueue(u("old"));
    q.take(8, 5); // "old" now has one transmission
    q.enqueue(u("mid"));
    q.enqueue(u("new"));
    expect(q.take(2, 5).map((x) => x.id)).toEqual(["new", "mid"]);
    // all three now have one transmission: newest first again
    expect(q.take(8, 5).map((x) => x.id)).toEqual(["new", "mid", "old"]);
    expect(q.take(0, 5)).toEqual([]);
  });
});

describe("suspicion", () => {
  it("scales the floor with log10 N, never below one multiple", () => {
    expect(suspicionMinTimeoutMs(4, 1, 1000)).toBe(4000);
    expect(suspicionMinTimeoutMs(4, 5, 1000)).toBe(4000);
    expect(suspicionMinTimeoutMs(4, 100, 1000)).toBe(8000);
    expect(suspicionMinTimeoutMs(4, 1000, 500)).toBe(6000);
  });

  it("shrinks with confirmations and floors at min", () => {
    const min = 4000;
    const max = 24_000;
    const k = 3;
    const timeouts = [0, 1, 2, 3, 4, 10].map((c) => suspicionTimeoutMs(c, k, min, max));
    expect(timeouts[0]).toBe(max);
    for (let i = 1; i < 4; i++) expect(timeouts[i]!).toBeLessThan(timeouts[i - 1]!);
    expect(timeouts[3]).toBe(min);
    expect(timeouts[4]).toBe(min);
    expect(timeouts[5]).toBe(min);
    // Lifeguard's formula at C=1, K=3: max - (max-min)·log 2 / log 4 = max - (max-min)/2.
    expect(timeouts[1]).toBe(14_000);
    // No confirmations expected: min from the start.
    expect(suspicionTimeoutMs(0, 0, min, max)).toBe(min);
  });

  it("fires at max without confirmations, earlier with them, once per peer, never synchronously", () => {
    const clock = new FakeClock(0);
    const fired: number[] = [];
    const lone = new Suspicion({
      clock,
      from: "a",
      expected: 2,
      minMs: 1000,
      maxMs: 6000,
      onTimeout: () => fired.push(clock.now()),
    });
    clock.advance(5999);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([6000]);
    expect(lone.confirm("b")).toBe(false); // already fired

    const start = clock.now();
    const s = new Suspicion({
      clock,
      from: "a",
      expected: 2,
      minMs: 1000,
      maxMs: 6000,
      onTimeout: () => fired.push(clock.now() - start),
    });
    expect(s.confirm("a")).toBe(false); // the accuser does not confirm itself
    clock.advance(500);
    expect(s.confirm("b")).toBe(true);
    expect(s.confirm("b")).toBe(false);
    expect(s.deadline - start).toBe(suspicionTimeoutMs(1, 2, 1000, 6000));
    clock.advance(1500); // now 2000 ms in: past min, so the second confirmation ends it
    expect(s.confirm("c")).toBe(true);
    expect(fired).toHaveLength(1); // scheduled, not run inside confirm()
    clock.advance(0);
    expect(fired).toEqual([6000, 2000]);
    expect(s.confirm("d")).toBe(false);
  });

  it("cancel stops the timer", () => {
    const clock = new FakeClock(0);
    let fired = false;
    const s = new Suspicion({
      clock,
      from: "a",
      expected: 0,
      minMs: 1000,
      maxMs: 6000,
      onTimeout: () => {
        fired = true;
      },
    });
    s.cancel();
    clock.advance(10_000);
    expect(fired).toBe(false);
  });
});

describe("awareness and config", () => {
  it("keeps the score within 0..max-1 and scales timers by score+1", () => {
    const a = new Awareness(8);
    expect(a.scale(500)).toBe(500);
    a.applyDelta(-1);
    expect(a.score).toBe(0);
    a.applyDelta(3);
    expect(a.scale(1000)).toBe(4000);
    a.applyDelta(100);
    expect(a.score).toBe(7);
    expect(a.scale(1000)).toBe(8000);
    a.applyDelta(-2);
    expect(a.score).toBe(5);
  });

  it("resolves defaults and rejects bad values by name", () => {
    expect(resolveMembershipConfig()).toEqual(defaultMembershipConfig);
    expect(resolveMembershipConfig({ probeIntervalMs: 200, probeTimeoutMs: 100 }).probeIntervalMs).toBe(200);
    expect(() => resolveMembershipConfig({ probeTimeoutMs: 1000 })).toThrow(/probeTimeoutMs/);
    expect(() => resolveMembershipConfig({ maxPiggyback: 0 })).toThrow(/maxPiggyback/);
    expect(() => resolveMembershipConfig({ indirectProbes: -1 })).toThrow(/indirectProbes/);
    expect(() => resolveMembershipConfig({ bogus: 1 } as never)).toThrow(/bogus/);
  });

  it("slows push-pull logarithmically beyond 32 members", () => {
    expect(pushPullScaleMs(30_000, 32)).toBe(30_000);
    expect(pushPullScaleMs(30_000, 33)).toBe(60_000);
    expect(pushPullScaleMs(30_000, 64)).toBe(60_000);
    expect(pushPullScaleMs(30_000, 65)).toBe(90_000);
  });
});
