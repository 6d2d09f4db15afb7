import { afterAll, describe, expect, it } from "vitest";
import { type LocalCluster, startLocalCluster } from "../../node/dist/cli/local-cluster.js";
import { requireBuild } from "./cli.js";
import { allAlive } from "./mesh-helpers.js";

// Joins over real processes (mutual TLS, loopback), with every other way news could travel
// slowed to minutes: the gossip loop off, a probe (which piggybacks news) every ten minutes
// at a random first offset, push-pull and discovery rounds just as rare. A member can then
// hold a later joiner alive within the wait below only through the seed's announcement, and
// the joiner can hold everyone alive only through the Join answer.
const NEWS_ONLY_BY_JOIN = [
  "--mesh.membership.gossipNodes=0",
  "--mesh.membership.probeIntervalMs=600000",
  "--mesh.membership.probeTimeoutMs=500",
  "--mesh.membership.pushPullIntervalMs=600000",
  "--mesh.discoveryIntervalMs=600000",
];

let cluster: LocalCluster | undefined;

afterAll(async () => {
  await cluster?.stop();
});

describe("joining a mesh of processes", () => {
  it("every member holds each joiner alive from the seed's announcement, the joiner all of them from the Join answer", async () => {
    requireBuild();
    // Node 0 is the seed of the three others; startLocalCluster waits until all hold all alive.
    cluster = await startLocalCluster({ size: 4, flags: NEWS_ONLY_BY_JOIN, timeoutMs: 30_000 });
    const ids = cluster.nodes.map((n) => n.nodeId);
    expect(await allAlive(cluster.nodes, ids)).toBe(true);
    // Node 1 heard of nodes 2 and 3 from node 0 alone: it never joined through anyone after them.
    const heard = cluster.nodes[1]!.logs.filter(
      (l) => l.msg === "membership change" && l.event === "memberJoined",
    );
    expect(heard.map((l) => l.peer).sort()).toEqual([ids[0], ids[2], ids[3]].sort());
  });
});
