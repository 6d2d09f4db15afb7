import { nodemesh } from "@hermes/proto";
import { describe, expect, it } from "vitest";
import { Identity, sign } from "../../src/identity/index.js";
import { checkRouteHello, openDescriptor, routeHello, signDescriptor } from "../../src/mesh/descriptor.js";
import { MeshFrameError, type Refusal } from "../../src/mesh/envelope.js";
import { flipped } from "../support/frames.js";

const SKEW = 30_000;
const alice = Identity.generate();
const bob = Identity.generate();
const carol = Identity.generate();

const fields = {
  meshEndpoint: "10.0.0.1:7401",
  appEndpoint: "10.0.0.1:7400",
  incarnation: 1_700_000_123,
  metadata: { app: "10.0.0.1:7400", version: "0.1.0" },
};

function thrown(fn: () => unknown): MeshFrameError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MeshFrameError);
    return error as MeshFrameError;
  }
  throw new Error("it was accepted");
}

function expectRefused(error: MeshFrameError, code: Refusal, names: string[] = []): void {
  expect(error.refusal).toBe(code);
  for (const name of names) expect(error.message).toContain(name);
}

/** A descriptor with every field chosen by the test, signed by `signer`. */
function handmade(
  over: Partial<nodemesh.NodeDescriptor>,
  signer: Identity = alice,
): nodemesh.SignedDescriptor {
  const descriptor = nodemesh.NodeDescriptor.encode({
    nodeId: alice.id,
    publicKey: alice.publicKey,
    timestampMs: Date.now(),
    ...fields,
    ...over,
  }).finish();
  return { descriptor, signature: sign(signer, "hermes/node-join/v1", [descriptor]) };
}

describe("signed node descriptors (Join)", () => {
  it("opens what was signed, across the wire", () => {
    const signed = signDescriptor(alice, fields);
    const wire = nodemesh.SignedDescriptor.decode(nodemesh.SignedDescriptor.encode(signed).finish());
    const d = openDescriptor(wire, Date.now(), SKEW);
    expect(d).toMatchObject({ nodeId: alice.id, ...fields });
    expect(Buffer.from(d.publicKey).equals(Buffer.from(alice.publicKey))).toBe(true);
    expect(Math.abs(d.timestampMs - Date.now())).toBeLessThan(5000);
  });

  it("refuses a missing descriptor and bytes that do not decode (malformed)", () => {
    expectRefused(
      thrown(() => openDescriptor(undefined, Date.now(), SKEW)),
      "malformed",
    );
    const garbage = { descriptor: new Uint8Array([0xff, 0xff, 0xff]), signature: new Uint8Array(64) };
    expect(thrown(() => openDescriptor(garbage, Date.now(), SKEW)).message).toMatch(/does not decode/);
  });

  it("refuses altered bytes and a flipped signature (bad_signature), naming the node", () => {
    const signed = signDescriptor(alice, fields);
    const d = nodemesh.NodeDescriptor.decode(signed.descriptor);
    const moved = nodemesh.NodeDescriptor.encode({ ...d, meshEndpoint: "6.6.6.6:7401" }).finish();
    expectRefused(
      thrown(() => openDescriptor({ descriptor: moved, signature: signed.signature }, Date.now(), SKEW)),
      "bad_signature",
      [alice.id],
    );
    expectRefused(
      thrown(() =>
        openDescriptor(
          { descriptor: signed.descriptor, signature: flipped(signed.signature, 3) },
          Date.now(),
          SKEW,
        ),
      ),
      "bad_signature",
      [alice.id],
    );
  });

  it("refuses a descriptor signed by another key, or whose ID is not its key's", () => {
    expectRefused(
      thrown(() => openDescriptor(handmade({}, carol), Date.now(), SKEW)),
      "bad_signature",
      [alice.id],
    );
    // carol's ID with alice's key, signed by alice: the ID is not derived from the key.
    expectRefused(
      thrown(() => openDescriptor(handmade({ nodeId: carol.id }), Date.now(), SKEW)),
      "id_mismatch",
      [carol.id],
    );
  });

  it("refuses a descriptor older or newer than the skew allows (stale)", () => {
    const signed = signDescriptor(alice, fields);
    const at = nodemesh.NodeDescriptor.decode(signed.descriptor).timestampMs;
    expectRefused(
      thrown(() => openDescriptor(signed, at + SKEW + 1, SKEW)),
      "stale",
      [alice.id],
    );
    expectRefused(
      thrown(() => openDescriptor(signed, at - SKEW - 1, SKEW)),
      "stale",
      [alice.id],
    );
    expect(openDescriptor(signed, at + SKEW, SKEW).nodeId).toBe(alice.id);
  });

  it.each([
    ["empty", ""],
    ["without a port", "10.0.0.1"],
    ["with port 0", "10.0.0.1:0"],
    ["with a bad host", "not a host:7401"],
    ["IPv6 without brackets", "::1:7401"],
  ])(
    "refuses a signed descriptor whose mesh endpoint is %s (malformed), naming the node",
    (_name, meshEndpoint) => {
      const signed = signDescriptor(alice, { ...fields, meshEndpoint });
      const error = thrown(() => openDescriptor(signed, Date.now(), SKEW));
      expectRefused(error, "malformed", [alice.id, "mesh endpoint"]);
    },
  );

  it.each([
    ["a host name", "node-1.hermes.svc:7401"],
    ["IPv6", "[::1]:7401"],
  ])("takes a mesh endpoint with %s", (_name, meshEndpoint) => {
    const signed = signDescriptor(alice, { ...fields, meshEndpoint });
    expect(openDescriptor(signed, Date.now(), SKEW).meshEndpoint).toBe(meshEndpoint);
  });

  it("does not take a signature made for another purpose (domain separation)", () => {
    const descriptor = nodemesh.NodeDescriptor.encode({
      nodeId: alice.id,
      publicKey: alice.publicKey,
      timestampMs: Date.now(),
      ...fields,
    }).finish();
    const gossipSigned = sign(alice, "hermes/node-gossip/v1", [descriptor]);
    expectRefused(
      thrown(() => openDescriptor({ descriptor, signature: gossipSigned }, Date.now(), SKEW)),
      "bad_signature",
    );
  });
});

describe("RouteChat hellos", () => {
  it("checks a hello addressed to this node and returns the sender", () => {
    const hello = routeHello(alice, bob.id);
    const wire = nodemesh.RouteHello.decode(nodemesh.RouteHello.encode(hello).finish());
    expect(checkRouteHello(wire, bob.id, Date.now(), SKEW)).toBe(alice.id);
  });

  it("refuses a hello for another node (wrong_receiver), naming sender and receiver", () => {
    const hello = routeHello(alice, carol.id);
    expectRefused(
      thrown(() => checkRouteHello(hello, bob.id, Date.now(), SKEW)),
      "wrong_receiver",
      [alice.id, carol.id, bob.id],
    );
  });

  it("refuses altered fields (bad_signature): the receiver and the timestamp are signed", () => {
    const hello = routeHello(alice, carol.id);
    // Re-addressed to bob: the receiver check passes, the signature does not.
    expectRefused(
      thrown(() => checkRouteHello({ ...hello, receiverId: bob.id }, bob.id, Date.now(), SKEW)),
      "bad_signature",
      [alice.id],
    );
    const toBob = routeHello(alice, bob.id);
    expectRefused(
      thrown(() =>
        checkRouteHello({ ...toBob, timestampMs: toBob.timestampMs + 1 }, bob.id, Date.now(), SKEW),
      ),
      "bad_signature",
      [alice.id],
    );
    expectRefused(
      thrown(() =>
        checkRouteHello({ ...toBob, signature: flipped(toBob.signature, 7) }, bob.id, Date.now(), SKEW),
      ),
      "bad_signature",
      [alice.id],
    );
    expectRefused(
      thrown(() => checkRouteHello({ ...toBob, signature: new Uint8Array(0) }, bob.id, Date.now(), SKEW)),
      "bad_signature",
      [alice.id],
    );
  });

  it("refuses a hello signed by another key, or claiming an ID that is not its key's", () => {
    const byCarol = routeHello(carol, bob.id);
    // alice's ID and key with carol's signature.
    const forged = { ...byCarol, nodeId: alice.id, publicKey: alice.publicKey };
    expectRefused(
      thrown(() => checkRouteHello(forged, bob.id, Date.now(), SKEW)),
      "bad_signature",
      [alice.id],
    );
    // carol's key claiming alice's ID.
    expectRefused(
      thrown(() => checkRouteHello({ ...byCarol, nodeId: alice.id }, bob.id, Date.now(), SKEW)),
      "id_mismatch",
      [alice.id],
    );
  });

  it("refuses a stale hello, in either direction", () => {
    const hello = routeHello(alice, bob.id);
    expectRefused(
      thrown(() => checkRouteHello(hello, bob.id, hello.timestampMs + SKEW + 1, SKEW)),
      "stale",
      [alice.id],
    );
    expectRefused(
      thrown(() => checkRouteHello(hello, bob.id, hello.timestampMs - SKEW - 1, SKEW)),
      "stale",
      [alice.id],
    );
    expect(checkRouteHello(hello, bob.id, hello.timestampMs + SKEW, SKEW)).toBe(alice.id);
  });
});
