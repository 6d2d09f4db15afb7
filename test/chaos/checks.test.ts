import { describe, expect, it } from "vitest";
import { WayLedger } from "./app/ledger.js";
import { decodeMessage, encodeMessage } from "./app/payload.js";
import { FAULT_NAMES } from "./faults.js";
import { findOutages, judgeOutage } from "./outages.js";
import { pairsFor, planFromEnv, roundOrder } from "./plan.js";
import { continuityFailures, integrityFailures, renderTables, summarize, timingFailures } from "./report.js";
import type { RoundResult } from "./round.js";

// The checker's own tests: a chaos run that finds nothing is only worth something if the
// checks can find what they look for.

describe("message bodies", () => {
  it("carry pair, direction and counter under a hash that catches any change", () => {
    const body = encodeMessage({ pair: "p0-1", way: "ab", counter: 42 });
    expect(decodeMessage(body)).toEqual({ pair: "p0-1", way: "ab", counter: 42 });
    const flipped = Uint8Array.from(body);
    flipped[20] = flipped[20]! ^ 1;
    expect(decodeMessage(flipped)).toEqual({ corrupt: "hash mismatch" });
    expect(decodeMessage(new TextEncoder().encode("hello"))).toHaveProperty("corrupt");
  });
});

describe("a direction's ledger", () => {
  const delivered = (ledger: WayLedger, counter: number, at = counter) =>
    ledger.received(encodeMessage({ pair: "p", way: "ab", counter }), at);

  it("counts an acked message that never arrived as lost, a rejected one as not", () => {
    const ledger = new WayLedger("p", "ab");
    const sent = [1, 2, 3, 4].map(() => ledger.next());
    expect(sent.map((m) => m.counter)).toEqual([1, 2, 3, 4]);
    expect(delivered(ledger, 1)).toBe("new");
    for (const m of sent.slice(0, 3)) ledger.acked(m.counter); // 2 and 3 acked, never delivered
    ledger.rejected(4, "chat ended: route_unavailable");
    expect(ledger.pending).toBe(0);
    expect(ledger.tally()).toMatchObject({
      sent: 4,
      acked: 3,
      delivered: 1,
      lost: 2,
      rejected: { "chat ended: route_unavailable": 1 },
      rejectedDelivered: 0,
      unsettled: 0,
    });
  });

  it("counts duplicates, reordering, corruption, rejected-yet-delivered and unsettled sends", () => {
    const ledger = new WayLedger("p", "ab");
    for (let i = 0; i < 5; i++) ledger.next();
    ledger.rejected(1, "x");
    expect([1, 3, 2, 3].map((n) => delivered(ledger, n))).toEqual(["new", "new", "reordered", "duplicate"]);
    expect(ledger.received(encodeMessage({ pair: "q", way: "ab", counter: 4 }), 9)).toBe("corrupt");
    expect(ledger.received(encodeMessage({ pair: "p", way: "ba", counter: 4 }), 9)).toBe("corrupt");
    expect(ledger.tally()).toMatchObject({
      delivered: 3,
      duplicated: 1,
      reordered: 1,
      corrupted: 2,
      rejectedDelivered: 1,
      unsettled: 4,
      deliveries: [1, 3, 2],
    });
  });

  it("starts each round with that round's sends only, and remembers what was delivered before", () => {
    const ledger = new WayLedger("p", "ab");
    ledger.next();
    delivered(ledger, 1);
    ledger.startRound();
    expect(ledger.tally()).toMatchObject({ sent: 0, delivered: 0, duplicated: 0, deliveries: [] });
    expect(ledger.next().counter).toBe(2);
    expect(delivered(ledger, 1)).toBe("duplicate");
    ledger.acked(1); // from the last round: ignored
    expect(ledger.tally()).toMatchObject({ sent: 1, acked: 0, duplicated: 1, unsettled: 1 });
  });
});

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

  it("are blamed on the step injected within them, and judged against its detection + slack", () => {
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
    // An in-flight message may land just after the injection; far from any step, no blame.
    expect(judgeOutage({ from: 1800, to: 3000 }, steps, 1000, 2000)).toMatchObject({ step: 0 });
    expect(judgeOutage({ from: 5000, to: 7000 }, steps, 1000, 2000)).toEqual({
      from: 5000,
      to: 7000,
      late: false,
    });
  });
});

describe("the plan", () => {
  it("gives every fault its turn, in an order and on victims fixed by the seed", () => {
    const o = { seed: 7, nodes: 4, faults: FAULT_NAMES, rounds: FAULT_NAMES.length * 2 };
    const order = roundOrder(o);
    expect(roundOrder(o)).toEqual(order);
    expect(roundOrder({ ...o, seed: 8 })).not.toEqual(order);
    for (const turn of [order.slice(0, FAULT_NAMES.length), order.slice(FAULT_NAMES.length)])
      expect(turn.map((r) => r.fault).sort()).toEqual([...FAULT_NAMES].sort());
    expect(order.every((r) => r.victim >= 0 && r.victim < 4)).toBe(true);
  });

  it("puts a pair on every two nodes and on every node", () => {
    const pairs = pairsFor(4);
    expect(pairs).toHaveLength(10);
    for (let node = 0; node < 4; node++) {
      expect(pairs.filter((p) => p.a === node && p.b === node)).toHaveLength(1);
      expect(pairs.filter((p) => p.a !== p.b && (p.a === node || p.b === node))).toHaveLength(3);
    }
  });

  it("rejects settings it cannot run, naming the flag", () => {
    expect(() => planFromEnv({ HERMES_CHAOS_ROUNDS: "many" })).toThrow(/--rounds \(HERMES_CHAOS_ROUNDS\)/);
    expect(() => planFromEnv({ HERMES_CHAOS_NODES: "2" })).toThrow(/--nodes .* at least 3/);
    expect(() => planFromEnv({ HERMES_CHAOS_FAULTS: "kill9-fast,meteor" })).toThrow(/unknown fault "meteor"/);
    expect(planFromEnv({}).rounds).toBe(FAULT_NAMES.length * 2);
  });
});

describe("the checks and the tables", () => {
  const way = { sent: 10, acked: 10, delivered: 10, lost: 0, duplicated: 0, reordered: 0, corrupted: 0 };
  const round: RoundResult = {
    round: 3,
    fault: "kill9-fast",
    victim: 2,
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
  };

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
