import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import { EnvelopeSealer } from "../../src/mesh/envelope.js";
import { PeerLinks } from "../../src/mesh/peer-links.js";
import { createLogger } from "../../src/telemetry/index.js";
import { systemClock } from "../../src/utils/clock.js";

/**
 * PeerLinks dials addresses that other nodes announced. An address grpc-js cannot parse must
 * be refused like an unreachable peer, never thrown: the callers are membership timers and
 * stream handlers, where a throw would take the process down.
 */
const links: PeerLinks[] = [];
afterEach(() => {
  for (const l of links.splice(0)) l.close();
});

function peerLinks(): PeerLinks {
  const l = new PeerLinks(
    {
      identity: Identity.generate(),
      clock: systemClock,
      credentialsFor: () => grpc.credentials.createInsecure(),
      logger: createLogger({ level: "silent" }),
    },
    { maxFrameBytes: 1 << 20, maxQueuedFrames: 100, clockSkewMs: 30_000 },
  );
  links.push(l);
  return l;
}

describe("PeerLinks with an unusable peer address", () => {
  const peer = Identity.generate();
  const envelope = new EnvelopeSealer(peer, "x:1", 1).seal("", 0, { $case: "directoryRequest", value: {} });

  it("refuses gossip to it instead of throwing", () => {
    const l = peerLinks();
    expect(l.sendGossip("", envelope)).toBe(false);
    expect(l.sendGossip("", envelope)).toBe(false);
  });

  it("refuses tieline frames to it and opens nothing", () => {
    const l = peerLinks();
    expect(() => l.ensureRoute(peer.id, "")).not.toThrow();
    expect(l.sendRoute(peer.id, "", { body: undefined })).toBe(false);
    expect(l.isRouteUp(peer.id)).toBe(false);
    expect(l.routeQueue(peer.id)).toBe(0);
  });

  it("rejects a join through it", async () => {
    const l = peerLinks();
    await expect(l.join("", { node: undefined, members: [] }, 1000)).rejects.toThrow(/parse target/);
  });
});
