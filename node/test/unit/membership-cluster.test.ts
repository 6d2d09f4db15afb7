import { describe, expect, it } from "vitest";
import {
  defaultMembershipConfig,
  type MemberState,
  suspicionMinTimeoutMs,
} from "../../src/mesh/membership/index.js";
import { type SimNode, Simulation } from "../../src/mesh/membership/testing.js";

const cfg = defaultMembershipConfig;

/** Events of one type that `node` emitted about `subject`. */
const eventsAbout = (node: SimNode, subject: SimNode, type: string) =>
  node.events.filter((e) => e.type === type && e.member.id === subject.id);

const others = (nodes: SimNode[], except: SimNode) => nodes.filter((n) => n !== except);

describe("membership cluster (fake clock, in-memory network)", () => {
  it("5 nodes joining through one seed converge to all-alive", async () => {
    const sim = new Simulation({ seed: 7 });
    const nodes = await sim.startCluster(5);
    const took = sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10 * cfg.probeIntervalMs);
    expect(took).toBeLessThanOrEqual(10 * cfg.probeIntervalMs);
    for (const n of nodes) {
      expect(n.membership.members()).toHaveLength(5);
      // one memberJoined per other node, nothing else
      expect(n.events.map((e) => e.type)).toEqual(Array(4).fill("memberJoined"));
    }
    // and it stays that way
    sim.clock.advance(60_000);
    expect(sim.allSee(nodes, nodes, "alive")).toBe(true);
    expect(nodes.every((n) => n.membership.counters().suspicionsRaised === 0)).toBe(true);
    expect(nodes.every((n) => n.membership.healthScore() === 0)).toBe(true);
  });

  it("a suspected node refutes with a higher incarnation and everyone sees it alive", async () => {
    const sim = new Simulation({ seed: 11 });
    const nodes = await sim.startCluster(5);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10_000);
    const [a, b, , , x] = nodes as [SimNode, SimNode, SimNode, SimNode, SimNode];
    const before = x.membership.localMember().incarnation;
    // b tells a that x is suspect: a starts a suspicion and gossips it, x hears and refutes.
    a.membership.handle(b.address, {
      type: "gossip",
      updates: [{ type: "suspect", id: x.id, incarnation: before, from: b.id }],
    });
    expect(sim.stateOf(a, x)).toBe("suspect");
    expect(eventsAbout(a, x, "memberUpdated").at(-1)).toMatchObject({ previous: "alive" });

    sim.runUntil(() => x.membership.counters().refutations > 0, 5 * cfg.probeIntervalMs);
    const after = x.membership.localMember().incarnation;
    expect(after).toBe(before + 1);
    sim.runUntil(
      () => others(nodes, x).every((n) => n.membership.member(x.id)?.incarnation === after),
      10 * cfg.probeIntervalMs,
    );
    expect(sim.allSee(nodes, [x], "alive")).toBe(true);
    expect(nodes.every((n) => eventsAbout(n, x, "memberDead").length === 0)).toBe(true);
    // back to alive at a: one event per change, alive → suspect → alive
    expect(eventsAbout(a, x, "memberUpdated").map((e) => e.member.state)).toEqual(["suspect", "alive"]);
  });

  it("a slow node whose acks miss the probe timeout but arrive within the period is not suspected", async () => {
    const sim = new Simulation({ seed: 3 });
    const nodes = await sim.startCluster(5);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10_000);
    const slow = nodes[4]!;
    // 300 ms each way: a 600 ms round trip, past the 500 ms probe timeout.
    for (const n of others(nodes, slow)) sim.network.setLink(n.address, slow.address, { delayMs: 300 });
    sim.clock.advance(60_000);
    const probedSlow = others(nodes, slow).reduce(
      (s, n) => s + n.membership.counters().indirectProbesSent,
      0,
    );
    expect(probedSlow).toBeGreaterThan(0); // the direct timeout did fire
    expect(nodes.every((n) => n.membership.counters().suspicionsRaised === 0)).toBe(true);
    expect(sim.allSee(nodes, nodes, "alive")).toBe(true);
  });

  it("indirect probes save a node whose direct link to the prober is broken", async () => {
    const sim = new Simulation({ seed: 5 });
    const nodes = await sim.startCluster(5);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10_000);
    const [a, , , , x] = nodes as [SimNode, SimNode, SimNode, SimNode, SimNode];
    sim.network.block(a.address, x.address);
    sim.clock.advance(60_000);
    expect(a.membership.counters().indirectProbesSent).toBeGreaterThan(0);
    expect(x.membership.counters().indirectProbesSent).toBeGreaterThan(0);
    expect(sim.allSee(nodes, nodes, "alive")).toBe(true);
    expect(nodes.every((n) => n.membership.counters().suspicionsRaised === 0)).toBe(true);
  });

  it("on a lossy network suspicions get refuted and nobody is declared dead", async () => {
    const sim = new Simulation({ seed: 67, network: { dropRate: 0.05, jitterMs: 20 } });
    const nodes = await sim.startCluster(8);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 30_000);
    sim.clock.advance(5 * 60_000);
    expect(nodes.every((n) => n.events.every((e) => e.type !== "memberDead"))).toBe(true);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10_000);
  });

  it("a node frozen for less than the suspicion timeout refutes and is never declared dead", async () => {
    const sim = new Simulation({ seed: 13 });
    const nodes = await sim.startCluster(5);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10_000);
    const frozen = nodes[2]!;
    const minSuspicion = suspicionMinTimeoutMs(cfg.suspicionMult, 5, cfg.probeIntervalMs);
    sim.network.freeze(frozen.address, minSuspicion - cfg.probeIntervalMs);
    sim.clock.advance(60_000);
    // it was noticed...
    const suspected = others(nodes, frozen).some((n) => eventsAbout(n, frozen, "memberUpdated").length > 0);
    expect(suspected).toBe(true);
    expect(frozen.membership.counters().refutations).toBeGreaterThan(0);
    // ...but never declared dead, and everyone sees it alive again
    expect(nodes.every((n) => eventsAbout(n, frozen, "memberDead").length === 0)).toBe(true);
    expect(sim.allSee(nodes, nodes, "alive")).toBe(true);
  });

  it("a partitioned node is declared dead within the bound and rejoins after the partition heals", async () => {
    const sim = new Simulation({ seed: 17 });
    const nodes = await sim.startCluster(5);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10_000);
    const cut = nodes[3]!;
    const rest = others(nodes, cut);
    const n = nodes.length;
    const interval = cfg.probeIntervalMs;
    const minSuspicion = suspicionMinTimeoutMs(cfg.suspicionMult, n, interval);
    // Worst case: a full round before anyone probes it, the failed probe's period, the
    // suspicion timeout with no confirmations at all, and a few periods of gossip.
    const bound = (n - 1) * interval + interval + cfg.suspicionMaxTimeoutMult * minSuspicion + 3 * interval;

    sim.network.partition([cut.address]);
    const detected = sim.runUntil(() => sim.allSee(rest, [cut], "dead"), bound);
    expect(detected).toBeLessThanOrEqual(bound);
    expect(detected).toBeGreaterThanOrEqual(minSuspicion);
    for (const o of rest) expect(eventsAbout(o, cut, "memberDead")).toHaveLength(1);

    sim.network.heal();
    const healed = sim.runUntil(
      () => sim.allSee(nodes, nodes, "alive"),
      cfg.pushPullIntervalMs + 10 * interval,
    );
    expect(healed).toBeLessThanOrEqual(cfg.pushPullIntervalMs + 10 * interval);
    const inc = cut.membership.localMember().incarnation;
    expect(inc).toBeGreaterThan(0);
    for (const o of rest) {
      expect(o.membership.member(cut.id)?.incarnation).toBe(inc);
      expect(eventsAbout(o, cut, "memberJoined").at(-1)).toMatchObject({ previous: "dead" });
    }
    sim.clock.advance(60_000);
    expect(sim.allSee(nodes, nodes, "alive")).toBe(true);
  });

  it("a cut-off node keeps its verdicts to itself: once healed, nobody drops a node that was alive all along", async () => {
    const sim = new Simulation({ seed: 29 });
    const nodes = await sim.startCluster(4);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10_000);
    const cut = nodes[1]!;
    const rest = others(nodes, cut);
    sim.network.partition([cut.address]);
    cut.membership.setCutOff(true); // what the mesh shell says once it hears from no one
    sim.runUntil(() => sim.allSee([cut], rest, "dead") && sim.allSee(rest, [cut], "dead"), 60_000);
    sim.network.heal();
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), cfg.pushPullIntervalMs + 10 * cfg.probeIntervalMs);
    cut.membership.setCutOff(false);
    sim.clock.advance(20_000);
    for (const o of rest)
      for (const r of others(rest, o))
        expect(eventsAbout(o, r, "memberDead"), `${o.id} about ${r.id}`).toEqual([]);
    expect(sim.allSee(nodes, nodes, "alive")).toBe(true);
  });

  it("after a partition long enough to reap each other, the lone side rejoins through its seeds", async () => {
    const sim = new Simulation({ seed: 61 });
    const nodes = await sim.startCluster(4);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10_000);
    const cut = nodes[2]!; // joined through nodes[0], which it keeps as a seed
    const rest = others(nodes, cut);
    sim.network.partition([cut.address]);
    // Both sides declare the other dead, then forget it.
    sim.runUntil(
      () =>
        rest.every((o) => o.membership.member(cut.id) === undefined) && cut.membership.members().length === 1,
      5 * 60_000,
      500,
    );
    sim.network.heal();
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 2 * cfg.pushPullIntervalMs);
    for (const o of rest) expect(eventsAbout(o, cut, "memberReaped")).toHaveLength(1);
  });

  it("graceful leave: others record left, not dead, and raise no suspicion", async () => {
    const sim = new Simulation({ seed: 19 });
    const nodes = await sim.startCluster(5);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10_000);
    const leaver = nodes[1]!;
    const rest = others(nodes, leaver);
    const before = rest.map((o) => o.membership.counters().suspicionsRaised);
    leaver.membership.leave();
    expect(leaver.membership.localMember().state).toBe("left");
    // What the shell does on SIGTERM: leave, flush (bounded), exit.
    sim.runUntil(() => leaver.membership.pendingBroadcasts() === 0, 2000, 10);
    sim.kill(leaver);
    sim.runUntil(() => sim.allSee(rest, [leaver], "left"), 5 * cfg.probeIntervalMs);
    sim.clock.advance(20_000);
    for (const o of rest) {
      expect(eventsAbout(o, leaver, "memberLeft")).toHaveLength(1);
      expect(eventsAbout(o, leaver, "memberDead")).toHaveLength(0);
      expect(eventsAbout(o, leaver, "memberUpdated")).toHaveLength(0);
    }
    expect(rest.map((o) => o.membership.counters().suspicionsRaised)).toEqual(before);
    expect(sim.allSee(rest, rest, "alive")).toBe(true);
  });

  it("dead members are reaped after deadReclaimMs", async () => {
    const sim = new Simulation({ seed: 23 });
    const nodes = await sim.startCluster(4);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10_000);
    const victim = nodes[0]!;
    const rest = others(nodes, victim);
    sim.kill(victim);
    sim.runUntil(() => sim.allSee(rest, [victim], "dead"), 60_000);
    const deadAt = new Map(rest.map((o) => [o, o.membership.member(victim.id)!.stateChangedAt]));
    sim.clock.advance(cfg.deadReclaimMs - 1000);
    expect(rest.every((o) => o.membership.member(victim.id)?.state === "dead")).toBe(true);
    sim.runUntil(() => rest.every((o) => o.membership.member(victim.id) === undefined), 2000);
    for (const o of rest) {
      const reaped = eventsAbout(o, victim, "memberReaped");
      expect(reaped).toHaveLength(1);
      expect(o.membership.members()).toHaveLength(3);
      expect(o.membership.counters().membersReaped).toBe(1);
      // reaped exactly deadReclaimMs after the death was recorded
      expect(reaped[0]!.member.stateChangedAt).toBe(deadAt.get(o));
    }
  });

  it.each([
    ["a persisted higher incarnation", 100],
    ["incarnation 0 (refutes its old record)", 0],
  ])("a dead node that restarts with %s is accepted back", async (_name, initialIncarnation) => {
    const sim = new Simulation({ seed: 29 });
    const nodes = await sim.startCluster(4);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10_000);
    const victim = nodes[3]!;
    const rest = others(nodes, victim);
    sim.kill(victim);
    sim.runUntil(() => sim.allSee(rest, [victim], "dead"), 60_000);

    const reborn = sim.addNode({ id: victim.id, initialIncarnation });
    const joined = reborn.membership.join([{ address: nodes[0]!.address }]);
    sim.clock.advance(100);
    expect(await joined).toBe(1);
    const all = [...rest, reborn];
    sim.runUntil(() => sim.allSee(all, all, "alive"), 10 * cfg.probeIntervalMs);
    const inc = reborn.membership.localMember().incarnation;
    expect(inc).toBeGreaterThanOrEqual(initialIncarnation);
    for (const o of rest) {
      expect(o.membership.member(victim.id)?.incarnation).toBe(inc);
      expect(eventsAbout(o, victim, "memberJoined").at(-1)).toMatchObject({ previous: "dead" });
    }
  });

  it("keeps per-node message rate flat from 5 to 25 nodes", async () => {
    const ratePerNode = async (count: number): Promise<number> => {
      const sim = new Simulation({ seed: 31 });
      const nodes = await sim.startCluster(count);
      sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 30_000);
      const sent = () => nodes.reduce((s, n) => s + n.membership.counters().messagesSent, 0);
      sim.clock.advance(30_000); // let the join gossip settle: measure the steady state
      const start = sent();
      const windowMs = 120_000;
      sim.clock.advance(windowMs);
      expect(sim.allSee(nodes, nodes, "alive")).toBe(true);
      return (sent() - start) / count / (windowMs / 1000);
    };
    const small = await ratePerNode(5);
    const large = await ratePerNode(25);
    expect(small).toBeGreaterThan(1); // at least a ping a second and the acks for others'
    expect(large / small).toBeLessThan(2);
    expect(small / large).toBeLessThan(2);
  });
});

describe("membership details", () => {
  it("emits exactly one event per state change", async () => {
    const sim = new Simulation({ seed: 37 });
    const nodes = await sim.startCluster(3);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10_000);
    const [a, b, x] = nodes as [SimNode, SimNode, SimNode];
    const seen: [string, MemberState | undefined][] = [];
    a.membership.onEvent((e) => {
      if (e.member.id === x.id) seen.push([e.type, "previous" in e ? e.previous : undefined]);
    });
    const inc = a.membership.member(x.id)!.incarnation;
    const gossip = (updates: Parameters<typeof a.membership.handle>[1]) =>
      a.membership.handle(b.address, updates);
    gossip({ type: "gossip", updates: [{ type: "suspect", id: x.id, incarnation: inc, from: b.id }] });
    gossip({ type: "gossip", updates: [{ type: "suspect", id: x.id, incarnation: inc, from: b.id }] });
    gossip({ type: "gossip", updates: [{ type: "dead", id: x.id, incarnation: inc, from: b.id }] });
    gossip({ type: "gossip", updates: [{ type: "dead", id: x.id, incarnation: inc, from: b.id }] });
    gossip({
      type: "gossip",
      updates: [{ type: "alive", id: x.id, address: x.address, incarnation: inc + 1, meta: {} }],
    });
    gossip({
      type: "gossip",
      updates: [{ type: "alive", id: x.id, address: x.address, incarnation: inc + 2, meta: {} }],
    });
    gossip({
      type: "gossip",
      updates: [{ type: "alive", id: x.id, address: x.address, incarnation: inc + 3, meta: { v: "2" } }],
    });
    expect(seen).toEqual([
      ["memberUpdated", "alive"],
      ["memberDead", "suspect"],
      ["memberJoined", "dead"],
      ["memberUpdated", "alive"],
    ]);
  });

  it("spreads metadata changes", async () => {
    const sim = new Simulation({ seed: 41 });
    const nodes = await sim.startCluster(5);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10_000);
    const x = nodes[2]!;
    x.membership.updateMeta({ app: "x:7000" });
    sim.runUntil(
      () => others(nodes, x).every((n) => n.membership.member(x.id)?.meta.app === "x:7000"),
      10 * cfg.probeIntervalMs,
    );
    for (const n of others(nodes, x)) expect(eventsAbout(n, x, "memberUpdated")).toHaveLength(1);
  });

  it("lowers its own health when its probes fail without nacks, not when helpers nack", async () => {
    // The target is really gone: helpers nack, so the prober knows its own links work.
    const sim = new Simulation({ seed: 43 });
    const nodes = await sim.startCluster(5);
    sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 10_000);
    sim.kill(nodes[4]!);
    sim.clock.advance(10_000);
    const rest = nodes.slice(0, 4);
    expect(rest.some((n) => n.membership.counters().nacksReceived > 0)).toBe(true);
    expect(rest.every((n) => n.membership.healthScore() <= 1)).toBe(true);

    // Cut off from everyone: no acks, no nacks, so the node blames itself and slows down.
    const lone = nodes[0]!;
    sim.network.partition([lone.address]);
    const probesBefore = lone.membership.counters().probesSent;
    sim.clock.advance(30_000);
    expect(lone.membership.healthScore()).toBe(cfg.awarenessMaxMultiplier - 1);
    // stretched periods: far fewer than one probe per second
    expect(lone.membership.counters().probesSent - probesBefore).toBeLessThan(15);
    // once it can talk again, successful probes heal it
    sim.network.heal();
    sim.runUntil(() => lone.membership.healthScore() === 0, 120_000);
  });

  it("join resolves with the number of seeds that answered", async () => {
    const sim = new Simulation({ seed: 47 });
    const a = sim.addNode();
    const b = sim.addNode();
    a.membership.start();
    const p = b.membership.join([{ address: a.address }, { address: "nowhere:1" }, { address: b.address }]);
    sim.clock.advance(cfg.syncTimeoutMs);
    expect(await p).toBe(1);
    expect(b.membership.member(a.id)?.state).toBe("alive");
    expect(a.membership.member(b.id)?.state).toBe("alive");
  });

  it("a lone node keeps retrying its seeds until one answers", async () => {
    const sim = new Simulation({ seed: 53 });
    const a = sim.addNode();
    const b = sim.addNode();
    sim.network.block(a.address, b.address);
    a.membership.start();
    expect(
      await (async () => {
        const p = b.membership.join([{ address: a.address }]);
        sim.clock.advance(cfg.syncTimeoutMs);
        return p;
      })(),
    ).toBe(0);
    sim.network.heal();
    sim.runUntil(() => sim.allSee([a, b], [a, b], "alive"), 2 * cfg.pushPullIntervalMs);
  });

  it("ignores pings addressed to another node and malformed updates", async () => {
    const sim = new Simulation({ seed: 59 });
    const [a, b] = (await sim.startCluster(2)) as [SimNode, SimNode];
    const sent = a.membership.counters().messagesSent;
    a.membership.handle(b.address, {
      type: "ping",
      seq: 1,
      target: "someone-else",
      source: b.id,
      updates: [],
    });
    a.membership.handle(b.address, {
      type: "gossip",
      updates: [{ type: "suspect", id: b.id, incarnation: -1, from: a.id }],
    });
    expect(a.membership.counters().messagesSent).toBe(sent);
    expect(a.membership.counters().rejected).toBe(2);
    expect(a.membership.member(b.id)?.state).toBe("alive");
  });
});
