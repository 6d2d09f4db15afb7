import * as grpc from "@grpc/grpc-js";
import { nodemesh } from "@hermes/proto";
import type { Counter } from "prom-client";
import { describe, expect, it } from "vitest";
import { defaultConfig } from "../../src/config/index.js";
import { Identity } from "../../src/identity/index.js";
import { proofOf } from "../../src/mesh/app-claims.js";
import { DIRECTORY_DELTA_BATCH_MS, TIELINE_REOPEN_INTERVAL_MS } from "../../src/mesh/config.js";
import { signDescriptor } from "../../src/mesh/descriptor.js";
import { EnvelopeSealer } from "../../src/mesh/envelope.js";
import { IsolationWatch } from "../../src/mesh/isolation.js";
import { Mesh, type NodeLostReason } from "../../src/mesh/mesh.js";
import { type ConnectProof, verifyConnectProof } from "../../src/protocol/index.js";
import { createLogger, Metrics } from "../../src/telemetry/index.js";
import { FakeClock } from "../../src/utils/fake-clock.js";
import { bareEntry, proofFor, provenEntry } from "../support/frames.js";
import { FakePeerLinks } from "../support/peer-links.js";
import { metricValue } from "../support/router.js";

/** A mesh shell on a fake clock and in-memory links, with one live peer that joined through it. */
function meshWithPeer() {
  const clock = new FakeClock();
  const links = new FakePeerLinks();
  const config = { ...defaultConfig().mesh, advertise: "10.0.0.1:7401", insecure: true };
  const metrics = new Metrics();
  const mesh = new Mesh(
    {
      identity: Identity.generate(),
      clock,
      credentialsFor: () => grpc.credentials.createInsecure(),
      logger: createLogger({ level: "silent" }),
      metrics,
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
  return { clock, links, mesh, peer, config, lost, metrics };
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
    const apps = [Identity.generate(), Identity.generate(), Identity.generate()];
    for (const app of apps) {
      mesh.appConnected(app.id, proofFor(app, mesh.nodeId, clock.now()));
      clock.advance(Math.floor(DIRECTORY_DELTA_BATCH_MS / 4));
    }
    clock.advance(DIRECTORY_DELTA_BATCH_MS);
    const deltas = links.gossip
      .map((g) => nodemesh.GossipPayload.decode(g.envelope.payload).body)
      .filter((body) => body?.$case === "directoryDelta");
    expect(deltas).toHaveLength(1);
    const delta = deltas[0]!.$case === "directoryDelta" ? deltas[0]!.value : undefined;
    expect(delta?.added.map((a) => a.appId).sort()).toEqual(apps.map((a) => a.id).sort());
    // Each with the app's Connect here: the proof another node asks for before it acts on a move.
    for (const entry of delta?.added ?? [])
      expect(verifyConnectProof(entry.appId, proofOf(mesh.nodeId, entry))).toBe(true);
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

/** appLocated events and unproven_claim refusals of a mesh shell. */
function watched(w: ReturnType<typeof meshWithPeer>) {
  const located: [string, string, ConnectProof][] = [];
  w.mesh.on("appLocated", (...args) => located.push(args));
  const refused = () =>
    metricValue(w.metrics.registry.getSingleMetric("hermes_mesh_refused_frames_total") as Counter<string>, {
      code: "unproven_claim",
    });
  return { located, refused };
}
describe("directory claims through the mesh shell", () => {
  /** The peer's signed gossip, as the mesh service hands it over. */
  function fromPeer(w: ReturnType<typeof meshWithPeer>) {
    const sealer = new EnvelopeSealer(w.peer, "10.0.0.2:7401", 1, () => w.clock.now());
    let version = 0;
    return {
      snapshot(apps: nodemesh.AppEntry[]) {
        const value = { nodeId: w.peer.id, version: ++version, apps };
        w.mesh.receiveGossip(
          sealer.seal(w.mesh.nodeId, version, { $case: "directorySnapshot", value }),
          "10.0.0.2",
        );
      },
      delta(added: nodemesh.AppEntry[]) {
        const value = { nodeId: w.peer.id, fromVersion: version, toVersion: version + 1, added, removed: [] };
        version++;
        w.mesh.receiveGossip(
          sealer.seal(w.mesh.nodeId, version, { $case: "directoryDelta", value }),
          "10.0.0.2",
        );
      },
    };
  }

  it("a peer's unproven claim to an app connected here is refused and counted; the app stays here", async () => {
    const w = meshWithPeer();
    const { located, refused } = watched(w);
    const app = Identity.generate();
    w.mesh.appConnected(app.id, proofFor(app, w.mesh.nodeId, w.clock.now()));
    const peer = fromPeer(w);
    peer.snapshot([bareEntry(app.id, w.clock.now() + 1000)]);
    // Signed with the peer's own key, or genuinely the app's but for this node: no better.
    const forged = { ...provenEntry(w.peer, w.peer.id, w.clock.now() + 1000), appId: app.id };
    peer.delta([forged]);
    peer.delta([provenEntry(app, w.mesh.nodeId, w.clock.now() + 1000)]);
    expect(located).toEqual([]);
    expect(await refused()).toBe(3);
    expect(w.mesh.directory.locate(app.id)?.nodeId).toBe(w.mesh.nodeId);
    expect(w.mesh.directory.snapshotOf(w.peer.id)?.apps).toEqual([]);
  });

  it("a proven move, newer than the connect here, is told to the router with its proof", async () => {
    const w = meshWithPeer();
    const { located, refused } = watched(w);
    const app = Identity.generate();
    w.mesh.appConnected(app.id, proofFor(app, w.mesh.nodeId, w.clock.now()));
    const peer = fromPeer(w);
    // A Connect the app made to the peer before it came here moves nothing.
    peer.snapshot([provenEntry(app, w.peer.id, w.clock.now() - 1)]);
    expect(located).toEqual([]);
    const entry = provenEntry(app, w.peer.id, w.clock.now() + 1);
    peer.delta([entry]);
    expect(located).toEqual([[app.id, w.peer.id, proofOf(w.peer.id, entry)]]);
    expect(await refused()).toBe(0);
    // Told once: the same entry in a later snapshot is nothing new.
    peer.snapshot([entry]);
    expect(located).toHaveLength(1);
  });

  it("claims about apps the router's chats follow need the same proof; others are taken unchecked", async () => {
    const w = meshWithPeer();
    const { located, refused } = watched(w);
    const [followed, stranger] = [Identity.generate(), Identity.generate()];
    w.mesh.followApps((appId) => appId === followed.id);
    const peer = fromPeer(w);
    peer.snapshot([bareEntry(followed.id, 5), bareEntry(stranger.id, 5)]);
    expect(await refused()).toBe(1);
    expect(w.mesh.directory.locate(followed.id)).toBeUndefined();
    expect(w.mesh.directory.locate(stranger.id)?.nodeId).toBe(w.peer.id);
    expect(located).toEqual([]);
    const entry = provenEntry(followed, w.peer.id, 6);
    peer.delta([entry]);
    expect(located).toEqual([[followed.id, w.peer.id, proofOf(w.peer.id, entry)]]);
  });
});

describe("directory lists relayed in a JoinResponse", () => {
  it("are not taken when they would move an app this node follows: the node they describe tells its own", async () => {
    const w = meshWithPeer();
    const { located, refused } = watched(w);
    const seed = Identity.generate();
    const third = Identity.generate();
    const [followed, stranger] = [Identity.generate(), Identity.generate()];
    w.mesh.followApps((appId) => appId === followed.id);
    const thirdList = (apps: nodemesh.AppEntry[]) => ({ nodeId: third.id, version: 7, apps });
    w.links.join = async () => ({
      node: signDescriptor(
        seed,
        { meshEndpoint: "10.0.0.9:7401", appEndpoint: "10.0.0.9:7400", incarnation: 1, metadata: {} },
        w.clock.now(),
      ),
      members: [],
      directory: [
        // As relayed: no proofs. The stranger alone would be taken; with the followed app, not.
        thirdList([bareEntry(followed.id, 5), bareEntry(stranger.id, 5)]),
        { nodeId: seed.id, version: 3, apps: [provenEntry(followed, seed.id, 4)] },
      ],
    });
    await w.mesh.join(["10.0.0.9:7401"]);
    expect(w.mesh.directory.knownVersion(third.id)).toBe(0);
    expect(w.mesh.directory.locate(stranger.id)).toBeUndefined();
    // The seed's own list, with its proof, is taken, and its move told.
    expect(w.mesh.directory.knownVersion(seed.id)).toBe(3);
    expect(located.map(([appId, nodeId]) => [appId, nodeId])).toEqual([[followed.id, seed.id]]);
    expect(await refused()).toBe(0);
    // The third node's own list of the same version, proofs included, is then not stale.
    const sealer = new EnvelopeSealer(third, "10.0.0.3:7401", 1, () => w.clock.now());
    const own = thirdList([provenEntry(followed, third.id, 5), bareEntry(stranger.id, 5)]);
    w.mesh.receiveGossip(
      sealer.seal(w.mesh.nodeId, 7, { $case: "directorySnapshot", value: own }),
      "10.0.0.3",
    );
    expect(w.mesh.directory.knownVersion(third.id)).toBe(7);
    expect(w.mesh.directory.locate(followed.id)?.nodeId).toBe(third.id);
    expect(located.map(([, nodeId]) => nodeId)).toEqual([seed.id, third.id]);
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
