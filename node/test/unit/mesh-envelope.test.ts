import { nodemesh } from "@hermes/proto";
import { describe, expect, it } from "vitest";
import { Identity, sign } from "../../src/identity/index.js";
import {
  EnvelopeSealer,
  MeshFrameError,
  type OpenOptions,
  openEnvelope,
  type Refusal,
  ReplayGuard,
} from "../../src/mesh/envelope.js";
import { bareEntry, flipped } from "../support/frames.js";

const SKEW = 30_000;
type Body = nodemesh.GossipPayload["body"];
const request: Body = { $case: "directoryRequest", value: {} };

const alice = Identity.generate();
const bob = Identity.generate();
const carol = Identity.generate();

function options(over: Partial<OpenOptions> = {}): OpenOptions {
  return { selfId: bob.id, now: Date.now(), clockSkewMs: SKEW, replay: new ReplayGuard(), ...over };
}

/** A payload with every field chosen by the test, signed by `signer` (alice unless told). */
function handmade(
  over: Partial<nodemesh.GossipPayload> = {},
  signer: Identity = alice,
): nodemesh.GossipEnvelope {
  const payload = nodemesh.GossipPayload.encode({
    senderId: alice.id,
    senderPublicKey: alice.publicKey,
    receiverId: bob.id,
    bootId: 1000,
    seq: 1,
    timestampMs: Date.now(),
    directoryVersion: 7,
    senderAddress: "10.0.0.1:7401",
    body: request,
    ...over,
  }).finish();
  return { payload, signature: sign(signer, "hermes/node-gossip/v1", [payload]) };
}

/** The MeshFrameError openEnvelope throws (fails the test if it does not throw one). */
function refusal(envelope: nodemesh.GossipEnvelope, o: OpenOptions = options()): MeshFrameError {
  try {
    openEnvelope(envelope, o);
  } catch (error) {
    expect(error).toBeInstanceOf(MeshFrameError);
    return error as MeshFrameError;
  }
  throw new Error("the envelope was accepted");
}

function expectRefused(error: MeshFrameError, code: Refusal, names: string[]): void {
  expect(error.refusal).toBe(code);
  expect(error.name).toBe("MeshFrameError");
  for (const name of names) expect(error.message).toContain(name);
}

describe("gossip envelopes: seal and open", () => {
  it("opens what it sealed, with every field intact", () => {
    const sealer = new EnvelopeSealer(alice, "10.0.0.1:7401", 4242);
    const body: Body = {
      $case: "directoryDelta",
      value: {
        nodeId: alice.id,
        fromVersion: 3,
        toVersion: 5,
        added: [bareEntry("a".repeat(32), 17)],
        removed: ["b".repeat(32)],
      },
    };
    const before = Date.now();
    const envelope = sealer.seal(bob.id, 5, body);
    // Across the wire and back.
    const wire = nodemesh.GossipEnvelope.decode(nodemesh.GossipEnvelope.encode(envelope).finish());
    const payload = openEnvelope(wire, options());
    expect(payload).toMatchObject({
      senderId: alice.id,
      receiverId: bob.id,
      bootId: 4242,
      seq: 1,
      directoryVersion: 5,
      senderAddress: "10.0.0.1:7401",
      body,
    });
    expect(Buffer.from(payload.senderPublicKey).equals(Buffer.from(alice.publicKey))).toBe(true);
    expect(payload.timestampMs).toBeGreaterThanOrEqual(before);
    expect(payload.timestampMs).toBeLessThanOrEqual(Date.now());
    expect(sealer.bootId).toBe(4242);
  });

  it("numbers envelopes 1, 2, 3 within a boot and accepts them in order", () => {
    const sealer = new EnvelopeSealer(alice, "a:1", 1);
    const o = options();
    const seqs = [1, 2, 3].map(() => openEnvelope(sealer.seal(bob.id, 0, request), o).seq);
    expect(seqs).toEqual([1, 2, 3]);
  });

  it("accepts an envelope with no receiver (first contact through a bare address) anywhere", () => {
    const sealer = new EnvelopeSealer(alice, "a:1", 1);
    const envelope = sealer.seal("", 0, request);
    expect(openEnvelope(envelope, options({ selfId: bob.id })).senderId).toBe(alice.id);
    expect(openEnvelope(envelope, options({ selfId: carol.id })).senderId).toBe(alice.id);
  });
});

describe("gossip envelopes: refusals", () => {
  it("refuses bytes that do not decode as malformed", () => {
    const garbage = { payload: new Uint8Array([0x0f, 0xff, 0x00]), signature: new Uint8Array(64) };
    const error = refusal(garbage);
    expectRefused(error, "malformed", []);
    expect(error.message).toMatch(/does not decode/);
  });

  it("refuses a payload without a body as malformed, naming the sender", () => {
    expectRefused(refusal(handmade({ body: undefined })), "malformed", [alice.id]);
  });

  it("refuses a sender ID that does not derive from the key carried (id_mismatch)", () => {
    // Signed correctly by alice's key, but claiming carol's ID.
    const envelope = handmade({ senderId: carol.id });
    expectRefused(refusal(envelope), "id_mismatch", [carol.id]);
    // A key of the wrong length is a mismatch too, never a crash.
    expectRefused(refusal(handmade({ senderPublicKey: new Uint8Array(5) })), "id_mismatch", [alice.id]);
  });

  it("refuses a signature by another key (bad_signature), naming the claimed sender", () => {
    expectRefused(refusal(handmade({}, carol)), "bad_signature", [alice.id]);
  });

  it("refuses altered bytes, a flipped signature and an unsigned envelope (bad_signature)", () => {
    const sealer = new EnvelopeSealer(alice, "10.0.0.1:7401", 1);
    const good = sealer.seal(bob.id, 1, request);
    // Change a field and re-encode: the signature no longer covers these bytes.
    const decoded = nodemesh.GossipPayload.decode(good.payload);
    const altered = nodemesh.GossipPayload.encode({ ...decoded, directoryVersion: 999 }).finish();
    expectRefused(refusal({ payload: altered, signature: good.signature }), "bad_signature", [alice.id]);
    // One flipped bit in the sender address (the last bytes before the body are still a valid string).
    const addressAt = Buffer.from(good.payload).indexOf(Buffer.from("10.0.0.1:7401"));
    expect(addressAt).toBeGreaterThan(0);
    const bitFlip = flipped(good.payload, addressAt);
    expectRefused(refusal({ payload: bitFlip, signature: good.signature }), "bad_signature", [alice.id]);
    expectRefused(
      refusal({ payload: good.payload, signature: flipped(good.signature, 10) }),
      "bad_signature",
      [alice.id],
    );
    expectRefused(refusal({ payload: good.payload, signature: new Uint8Array(0) }), "bad_signature", [
      alice.id,
    ]);
  });

  it("refuses an envelope addressed to another node (wrong_receiver), naming sender and receiver", () => {
    const envelope = new EnvelopeSealer(alice, "a:1", 1).seal(carol.id, 0, request);
    expectRefused(refusal(envelope, options({ selfId: bob.id })), "wrong_receiver", [
      alice.id,
      carol.id,
      bob.id,
    ]);
  });

  it("refuses timestamps beyond the allowed skew either way (stale)", () => {
    const envelope = new EnvelopeSealer(alice, "a:1", 1).seal(bob.id, 0, request);
    const sent = nodemesh.GossipPayload.decode(envelope.payload).timestampMs;
    expectRefused(refusal(envelope, options({ now: sent + SKEW + 1 })), "stale", [alice.id]);
    expectRefused(refusal(envelope, options({ now: sent - SKEW - 1 })), "stale", [alice.id]);
    // At the edge of the window it is still good.
    expect(openEnvelope(envelope, options({ now: sent + SKEW })).seq).toBe(1);
    // A payload that never set its timestamp is as old as can be.
    expectRefused(refusal(handmade({ timestampMs: 0 })), "stale", [alice.id]);
  });

  it("refuses the same (boot, seq) twice, an older seq, and an older boot (replayed)", () => {
    const replay = new ReplayGuard();
    const o = options({ replay });
    const sealer = new EnvelopeSealer(alice, "a:1", 2000);
    const first = sealer.seal(bob.id, 0, request);
    const second = sealer.seal(bob.id, 0, request);
    expect(openEnvelope(first, o).seq).toBe(1);
    expectRefused(refusal(first, o), "replayed", [alice.id, "2000/1"]);
    expect(openEnvelope(second, o).seq).toBe(2);
    expectRefused(refusal(first, o), "replayed", [alice.id]);
    // An envelope from an earlier boot of the same node, even with a higher seq.
    expectRefused(refusal(handmade({ bootId: 1999, seq: 50 }), o), "replayed", [alice.id]);
  });

  it("accepts a newer boot starting again at seq 1, then refuses the old boot", () => {
    const o = options();
    const old = new EnvelopeSealer(alice, "a:1", 100);
    for (let i = 0; i < 3; i++) openEnvelope(old.seal(bob.id, 0, request), o);
    const restarted = new EnvelopeSealer(alice, "a:1", 200);
    expect(openEnvelope(restarted.seal(bob.id, 0, request), o)).toMatchObject({ bootId: 200, seq: 1 });
    expectRefused(refusal(old.seal(bob.id, 0, request), o), "replayed", [alice.id]);
  });

  it("keeps sequences per sender: another node's numbers do not interfere", () => {
    const o = options();
    openEnvelope(handmade({ seq: 10 }), o);
    const fromCarol = new EnvelopeSealer(carol, "c:1", 1).seal(bob.id, 0, request);
    expect(openEnvelope(fromCarol, o).senderId).toBe(carol.id);
  });

  it("records nothing for a refused envelope: a forged or stale high seq cannot block the real ones", () => {
    const o = options();
    refusal(handmade({ seq: 100 }, carol), o); // bad signature
    refusal(handmade({ seq: 101, receiverId: carol.id }), o); // wrong receiver
    refusal(handmade({ seq: 102, timestampMs: 1 }), o); // stale
    expect(openEnvelope(handmade({ seq: 1 }), o).seq).toBe(1);
  });
});

describe("ReplayGuard", () => {
  it("forgets a sender, so its next boot's numbering is taken even if lower", () => {
    const guard = new ReplayGuard();
    expect(guard.check(alice.id, 5, 10)).toBeUndefined();
    expect(guard.check(alice.id, 5, 10)).toBe("replayed");
    expect(guard.check(alice.id, 4, 1)).toBe("replayed");
    guard.forget(alice.id);
    expect(guard.check(alice.id, 4, 1)).toBeUndefined();
    expect(guard.check(alice.id, 4, 1)).toBe("replayed");
  });

  it("takes gaps in the sequence (envelopes lost on the way are no reason to refuse later ones)", () => {
    const guard = new ReplayGuard();
    expect(guard.check(alice.id, 1, 1)).toBeUndefined();
    expect(guard.check(alice.id, 1, 5)).toBeUndefined();
    expect(guard.check(alice.id, 1, 3)).toBe("replayed");
  });
});
