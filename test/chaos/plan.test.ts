import { describe, expect, it } from "vitest";
import { FAULT_NAMES } from "./faults.js";
import { pairsFor, planFromEnv, roundOrder, victimWithApps } from "./plan.js";

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

  it("moves a fault to the next node with apps when the drawn one has none", () => {
    expect(victimWithApps(1, [3, 2, 0, 1])).toBe(1);
    expect(victimWithApps(2, [3, 2, 0, 1])).toBe(3);
    expect(victimWithApps(3, [3, 0, 0, 0])).toBe(0);
  });
});
