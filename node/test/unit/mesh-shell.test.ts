import * as grpc from "@grpc/grpc-js";
import { nodemesh } from "@hermes/proto";
import { describe, expect, it } from "vitest";
import { defaultConfig } from "../../src/config/index.js";
import { Identity } from "../../src/identity/index.js";
import { DIRECTORY_DELTA_BATCH_MS, TIELINE_REOPEN_INTERVAL_MS } from "../../src/mesh/config.js";
import { signDescriptor } from "../../src/mesh/descriptor.js";
import { EnvelopeSealer } from "../../src/mesh/envelope.js";
import { IsolationWatch } from "../../src/mesh/isolation.js";
import { Mesh, type NodeLostReason } from "../../src/mesh/mesh.js";
import { createLogger, Metrics } from "../../src/telemetry/index.js";
import { FakeClock } from "../../src/utils/fake-clock.js";
import { FakePeerLinks } from "../support/peer-links.js";

/** A mesh shell on a fake clock and in-memory links, with one live peer that joined through it. */
function meshWithPeer() {
  const clock = new FakeClock();
  const links = new FakePeerLinks();
  const config = { ...defaultConfig().mesh, advertise: "10.0.0.1:7401", insecure: true };
  const mesh = new Mesh(
    {
      identity: Identity.generate(),
      clock,
      credentialsFor: () => grpc.credentials.createInsecure(),
      logger: createLogger({ level: "silent" }),
      metrics: new Metrics(),
      links,
    },
    { config, appEndpoint: "10.0.0.1:7400", clockSkewMs: 30_000, version: "test" },
  );
  const peer = Identity.generate();
  mesh.answerJoin({
    node: signDescriptor(
      peer,
      { meshEndpoint: "10.0.0.2:7401", appEndpoint: "10.0.0.2:7400", incarnation: 1, metadata: {} },
      clock.now(),
    ),
    members: [],
  });
  clock.advance(0); // the join's deferred work: the tieline dial and the directory request
  const lost: [string, NodeLostReason][] = [];
  mesh.on("nodeLost", (nodeId, reason) => lost.push([nodeId, reason]));
  return { clock, links, mesh, peer, config, lost };
}

describe("mesh shell timers, under a fake clock", () => {
  it("gives a broken tieline tielineGraceMs to come back before its chats are torn down", () => {
    const { clock, links, peer, config, lost } = meshWithPeer();
    links.routeUp(peer.id);
    links.routeDown(peer.id);
    clock.advance(config.tielineGraceMs - 1);
    expect(lost).toEqual([]);
    clock.advance(1);
    expect(lost).toEqual([[peer.id, "tieline_lost"]]);
  });

  it("keeps the chats of a tieline that comes back within the grace", () => {
    const { clock, links, peer, config, lost } = meshWithPeer();
    links.routeDown(peer.id);
    clock.advance(config.tielineGraceMs / 2);
    links.routeUp(peer.id);
    clock.advance(config.tielineGraceMs * 2);
    expect(lost).toEqual([]);
  });

  it("re-dials a broken tieline every reopen interval until it is up", () => {
    const { clock, links, peer } = meshWithPeer();
    links.dials.length = 0;
    links.routeDown(peer.id);
    clock.advance(3 * TIELINE_REOPEN_INTERVAL_MS);
    expect(links.dials).toEqual([peer.id, peer.id, peer.id]);
    links.routeUp(peer.id);
    clock.advance(5 * TIELINE_REOPEN_INTERVAL_MS);
    expect(links.dials).toHaveLength(3);
  });

  it("batches app connects within one window into a single directory delta per peer", () => {
    const { clock, links, mesh } = meshWithPeer();
    links.gossip.length = 0;
    const apps = [Identity.generate().id, Identity.generate().id, Identity.generate().id];
    for (const app of apps) {
      mesh.appConnected(app, clock.now());
      clock.advance(Math.floor(DIRECTORY_DELTA_BATCH_MS / 4));
    }
    clock.advance(DIRECTORY_DELTA_BATCH_MS);
    const deltas = links.gossip
      .map((g) => nodemesh.GossipPayload.decode(g.envelope.payload).body)
      .filter((body) => body?.$case === "directoryDelta");
    expect(deltas).toHaveLength(1);
    const delta = deltas[0]!.$case === "directoryDelta" ? deltas[0]!.value : undefined;
    expect(delta?.added.map((a) => a.appId).sort()).toEqual([...apps].sort());
  });

  it("says when it is cut off from every other node, and when it is back in touch", () => {
    const { mesh, peer } = meshWithPeer();
    const seen: boolean[] = [];
    mesh.on("isolated", (isolated) => seen.push(isolated));
    const incarnation = mesh.membership.member(peer.id)!.incarnation;
    mesh.membership.handle("10.0.0.3:7401", {
      type: "gossip",
      updates: [{ type: "dead", id: peer.id, incarnation, from: "someone" }],
    });
    expect(seen).toEqual([true]);
    mesh.membership.handle("10.0.0.2:7401", {
      type: "gossip",
      updates: [
        { type: "alive", id: peer.id, address: "10.0.0.2:7401", incarnation: incarnation + 1, meta: {} },
      ],
    });
    expect(seen).toEqual([true, false]);
  });

  it("says it is cut off once no peer was heard for a probe timeout and a suspicion, before SWIM declares them dead", () => {
    const { clock, mesh, peer, config } = meshWithPeer();
    const seen: boolean[] = [];
    const peerStates: string[] = [];
    mesh.on("isolated", (isolated) => {
      seen.push(isolated);
      peerStates.push(mesh.membership.member(peer.id)!.state);
    });
    mesh.start();
    const { probeTimeoutMs, probeIntervalMs, suspicionMult } = config.membership;
    // Two members: the suspicion floor is suspicionMult probe intervals.
    const afterMs = probeTimeoutMs + suspicionMult * probeIntervalMs;
    clock.advance(afterMs);
    expect(seen).toEqual([]);
    clock.advance(probeTimeoutMs);
    expect(seen).toEqual([true]);
    expect(peerStates[0]).not.toBe("dead");
    const sealer = new EnvelopeSealer(peer, "10.0.0.2:7401", 1, () => clock.now());
    mesh.receiveGossip(sealer.seal(mesh.nodeId, 0, { $case: "directoryRequest", value: {} }), "10.0.0.2");
    expect(seen).toEqual([true, false]);
    mesh.stop();
  });
});

describe("IsolationWatch", () => {
  it("counts silence from the last thing heard, in ticks", () => {
    const watch = new IsolationWatch(0, 500);
    expect(watch.silent(500, 1000)).toBe(false);
    expect(watch.silent(1000, 1000)).toBe(false);
    expect(watch.silent(1500, 1000)).toBe(true);
    watch.heard(1700);
    expect(watch.silent(2000, 1000)).toBe(false);
  });

  it("does not count a stall of its own process as silence: a late tick starts the count again", () => {
    const watch = new IsolationWatch(0, 500);
    expect(watch.silent(500, 1000)).toBe(false);
    expect(watch.silent(10_500, 1000)).toBe(false);
    expect(watch.silent(11_000, 1000)).toBe(false);
    expect(watch.silent(11_600, 1000)).toBe(true);
  });
});
