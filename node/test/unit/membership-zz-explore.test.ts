import { it } from "vitest";
import { Simulation } from "../../src/mesh/membership/testing.js";

it("explore", async () => {
  const seed = 18;
  const sim = new Simulation({ seed });
  const nodes = await sim.startCluster(5);
  sim.runUntil(() => sim.allSee(nodes, nodes, "alive"), 20_000);
  const cut = nodes[seed % 5]!;
  const rest = nodes.filter((n) => n !== cut);
  sim.network.partition([cut.address]);
  sim.runUntil(() => sim.allSee(rest, [cut], "dead"), 60_000);
  sim.network.heal();
  const t0 = sim.clock.now();
  console.log(
    "heal at",
    t0,
    "cut health",
    cut.membership.healthScore(),
    JSON.stringify(cut.membership.members().map((m) => [m.id, m.state, m.incarnation])),
  );
  for (const n of nodes)
    n.membership.onEvent((e) =>
      console.log(sim.clock.now() - t0, n.id, e.type, e.member.id, e.member.state, e.member.incarnation),
    );
  const orig = sim.network.transportFor(cut.address);
  let last = cut.membership.counters();
  sim.runUntil(() => {
    const c = cut.membership.counters();
    if (
      c.probesSent !== last.probesSent ||
      c.refutations !== last.refutations ||
      c.messagesReceived !== last.messagesReceived
    )
      console.log(
        sim.clock.now() - t0,
        "cut counters",
        JSON.stringify({
          p: c.probesSent,
          r: c.refutations,
          rx: c.messagesReceived,
          h: cut.membership.healthScore(),
          inc: cut.membership.localMember().incarnation,
        }),
      );
    last = c;
    return sim.allSee(nodes, nodes, "alive");
  }, 60_000);
});
