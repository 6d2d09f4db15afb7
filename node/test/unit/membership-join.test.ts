import { describe, expect, it } from "vitest";
import { defaultMembershipConfig } from "../../src/mesh/membership/index.js";
import { type SimNode, Simulation } from "../../src/mesh/membership/testing.js";

const cfg = defaultMembershipConfig;
/** One-way delay of every link, ms. */
const DELAY_MS = 5;

/** N - 1 members that all hold each other alive, on a network with DELAY_MS links. */
async function settledMesh(sim: Simulation, size: number): Promise<SimNode[]> {
  const nodes = await sim.startCluster(size - 1);
  sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10 * cfg.probeIntervalMs);
  sim.clock.advance(30_000); // the formation's gossip has died out
  return nodes;
}

/** A new member joins through nodes[0]; returns the fake time until all hold all alive. */
async function timeJoin(sim: Simulation, nodes: SimNode[]): Promise<number> {
  const joiner = sim.addNode();
  const joined = joiner.membership.join([{ address: nodes[0]!.address }]);
  const all = [...nodes, joiner];
  const took = sim.runUntil(() => sim.allSee(all, all, "alive"), 10 * cfg.probeIntervalMs, 1);
  expect(await joined).toBe(1);
  nodes.push(joiner);
  return took;
}

describe("joins (fake clock, in-memory network)", () => {
  for (const size of [25, 50]) {
    it(`a node joining ${size - 1} members is held alive by all within three link delays (N = ${size})`, async () => {
      const sim = new Simulation({ seed: 71, network: { delayMs: DELAY_MS } });
      const nodes = await settledMesh(sim, size);
      // sync to the seed, then its announcement to the others and its reply to the joiner:
      // no gossip round (gossipIntervalMs), let alone a protocol period, is waited for.
      expect(await timeJoin(sim, nodes)).toBeLessThanOrEqual(3 * DELAY_MS);
      expect(await timeJoin(sim, nodes)).toBeLessThanOrEqual(3 * DELAY_MS);
      for (const n of nodes) expect(n.membership.counters().suspicionsRaised).toBe(0);
    });

    it(`${size} members joining one seed at once all hold each other alive within four link delays`, async () => {
      const sim = new Simulation({ seed: 73, network: { delayMs: DELAY_MS } });
      const nodes = await sim.startCluster(size);
      sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10 * cfg.probeIntervalMs, 1);
      // Each joiner hears of those before it in the seed's reply, of those after it in the seed's
      // announcements (startCluster moves time in 10 ms steps, hence four delays, not three).
      expect(sim.clock.now()).toBeLessThanOrEqual(4 * DELAY_MS);
    });
  }

  it("members the seed's announcement missed learn of the joiner from gossip", async () => {
    const sim = new Simulation({ seed: 79, network: { delayMs: DELAY_MS } });
    const nodes = await settledMesh(sim, 10);
    const [seed, ...rest] = nodes as [SimNode, ...SimNode[]];
    const missed = rest.slice(0, 3);
    for (const m of missed) sim.network.block(seed.address, m.address);
    const joiner = sim.addNode();
    const joined = joiner.membership.join([{ address: seed.address }]);
    sim.runUntil(
      () => sim.allSee([seed, ...rest.slice(3), joiner], [joiner], "alive"),
      cfg.probeIntervalMs,
      1,
    );
    expect(missed.every((m) => sim.stateOf(m, joiner) === undefined)).toBe(true);
    const all = [...nodes, joiner];
    sim.runUntil(() => sim.allSee(all, all, "alive"), 2 * cfg.probeIntervalMs, 1);
    expect(await joined).toBe(1);
  });

  it("a seed announces only news: a member that rejoins as it was is not announced again", async () => {
    const sim = new Simulation({ seed: 83, network: { delayMs: DELAY_MS } });
    const nodes = await settledMesh(sim, 5);
    const [seed, member] = nodes as [SimNode, SimNode];
    const before = seed.membership.counters().messagesSent;
    // The same member syncing with join set again: nothing it brings is new to the seed.
    seed.membership.handle(member.address, {
      type: "sync",
      seq: 1,
      join: true,
      members: member.membership.members().map((m) => ({ ...m, meta: { ...m.meta } })),
    });
    expect(seed.membership.counters().messagesSent - before).toBe(1); // the reply alone
  });
});
