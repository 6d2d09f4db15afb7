import * as grpc from "@grpc/grpc-js";
import { nodemesh } from "@hermes/proto";
import { afterEach, describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import { TIELINE_HELLO_TIMEOUT_MS } from "../../src/mesh/config.js";
import { EnvelopeSealer } from "../../src/mesh/envelope.js";
import { PeerLinks } from "../../src/mesh/peer-links.js";
import { createLogger } from "../../src/telemetry/index.js";
import { systemClock } from "../../src/utils/clock.js";
import { FakeClock } from "../../src/utils/fake-clock.js";

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

describe("PeerLinks tieline to a peer that never answers its hello", () => {
  it("gives the stream up after TIELINE_HELLO_TIMEOUT_MS, so that it is dialled again", async () => {
    // A real server on loopback that takes the stream and says nothing (a wedged peer).
    const server = new grpc.Server();
    const held: grpc.ServerDuplexStream<unknown, unknown>[] = [];
    server.addService(nodemesh.NodeMeshService, {
      join: () => undefined,
      gossip: () => undefined,
      routeChat: (call: grpc.ServerDuplexStream<unknown, unknown>) => held.push(call),
    } as unknown as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    const clock = new FakeClock();
    const l = new PeerLinks(
      {
        identity: Identity.generate(),
        clock,
        credentialsFor: () => grpc.credentials.createInsecure(),
        logger: createLogger({ level: "silent" }),
      },
      { maxFrameBytes: 1 << 20, maxQueuedFrames: 100, clockSkewMs: 30_000 },
    );
    links.push(l);
    const down: string[] = [];
    l.on("routeDown", (_node, why) => down.push(why));
    const peer = Identity.generate();
    try {
      expect(l.sendRoute(peer.id, `127.0.0.1:${port}`, { body: undefined })).toBe(true);
      await until(() => held.length === 1);
      clock.advance(TIELINE_HELLO_TIMEOUT_MS - 1);
      expect(down).toEqual([]);
      clock.advance(1);
      expect(down).toEqual([`no hello from 127.0.0.1:${port} within ${TIELINE_HELLO_TIMEOUT_MS} ms`]);
      expect(l.isRouteUp(peer.id)).toBe(false);
      expect(l.routeQueue(peer.id)).toBe(0);
    } finally {
      server.forceShutdown();
    }
  });
});

async function until(done: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`not done within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
