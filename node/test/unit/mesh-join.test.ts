import * as grpc from "@grpc/grpc-js";
import { nodemesh } from "@hermes/proto";
import { describe, expect, it } from "vitest";
import { defaultConfig } from "../../src/config/index.js";
import { Identity } from "../../src/identity/index.js";
import type { MembershipMessage } from "../../src/mesh/membership/index.js";
import { Mesh } from "../../src/mesh/mesh.js";
import { decodeSwim } from "../../src/mesh/swim-codec.js";
import { createLogger, Metrics } from "../../src/telemetry/index.js";
import { FakeClock } from "../../src/utils/fake-clock.js";
import { FakePeerLinks } from "../support/peer-links.js";

/** Mesh shells on one fake clock whose Join calls reach each other in memory. */
function meshes(count: number) {
  const clock = new FakeClock();
  const byAddress = new Map<string, Mesh>();
  const nodes = Array.from({ length: count }, (_, i) => {
    const links = new FakePeerLinks();
    const address = `10.0.0.${i + 1}:7401`;
    links.answerJoin = (to, request) => byAddress.get(to)!.answerJoin(request);
    const mesh = new Mesh(
      {
        identity: Identity.generate(),
        clock,
        credentialsFor: () => grpc.credentials.createInsecure(),
        logger: createLogger({ level: "silent" }),
        metrics: new Metrics(),
        links,
      },
      {
        config: { ...defaultConfig().mesh, advertise: address, insecure: true },
        appEndpoint: `10.0.0.${i + 1}:7400`,
        clockSkewMs: 30_000,
        version: "test",
      },
    );
    byAddress.set(address, mesh);
    return { mesh, links, address };
  });
  return { clock, nodes };
}

const gossipUpdates = (msg: MembershipMessage) => (msg.type === "gossip" ? msg.updates : []);

/** The bodies of the gossip envelopes `links` sent to `address`. */
const bodiesTo = (links: FakePeerLinks, address: string) =>
  links.gossip
    .filter((g) => g.address === address)
    .map((g) => nodemesh.GossipPayload.decode(g.envelope.payload).body!);

describe("joining through the mesh shell (fake clock, in-memory Join)", () => {
  it("the joiner gets every member and their directories from the Join answer, and the seed announces it", async () => {
    const { clock, nodes } = meshes(3);
    const [seed, member, joiner] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
    expect(await member.mesh.join([seed.address])).toBe(1);
    clock.advance(0);
    seed.links.gossip.length = 0;

    expect(await joiner.mesh.join([seed.address])).toBe(1);
    const ids = [seed, member].map((n) => n.mesh.nodeId);
    for (const id of ids) expect(joiner.mesh.membership.member(id)?.state).toBe("alive");
    // The tielines are dialled after the whole answer is taken in, not one per member on the way.
    expect(joiner.links.dials).toEqual([]);
    clock.advance(0);
    expect(joiner.links.dials.sort()).toEqual([...ids].sort());
    // The seed's directory came with the answer, so the joiner does not ask for it; the member's
    // did not (these links deliver no gossip, so the seed never got it), so it asks the member.
    const asked = (n: typeof seed) =>
      bodiesTo(joiner.links, n.address).filter((b) => b.$case === "directoryRequest").length;
    expect(asked(seed)).toBe(0);
    expect(asked(member)).toBe(1);
    // The seed told the member about the joiner directly, with no gossip round in between.
    const announced = bodiesTo(seed.links, member.address).flatMap((b) =>
      b.$case === "swim" ? gossipUpdates(decodeSwim(b.value)) : [],
    );
    expect(announced).toContainEqual(expect.objectContaining({ type: "alive", id: joiner.mesh.nodeId }));
  });
});
