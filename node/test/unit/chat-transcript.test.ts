import { readFileSync } from "node:fs";
import { beforeAll, expect, it } from "vitest";
import { Identity, signingPayload } from "../../src/identity/index.js";
import {
  acceptFields,
  checkReady,
  connectFields,
  offerFields,
  readyOf,
  resumeFields,
  type SignedOffer,
  signAccept,
  signConnect,
  signOffer,
  signResume,
  verifyAccept,
  verifyConnect,
  verifyOffer,
  verifyResume,
} from "../../src/protocol/index.js";
import { deriveChatKeys, open, seal } from "../../src/sdk/e2e.js";
import { describeEachBackend } from "../support/crypto-backends.js";
import { flipped } from "../support/frames.js";

/**
 * The published test vectors (docs/vectors/chat-transcript.json, explained in
 * docs/approuter-protocol.md): another client checks itself against the same bytes, and these
 * tests prove that the one transcript module signs exactly what the protocol always signed, on
 * both crypto backends.
 */
const vectors = JSON.parse(
  readFileSync(new URL("../../../docs/vectors/chat-transcript.json", import.meta.url), "utf8"),
) as {
  inputs: {
    [key in
      | "initiatorSecretKey"
      | "initiatorPublicKey"
      | "initiatorAppId"
      | "targetSecretKey"
      | "targetPublicKey"
      | "targetAppId"
      | "nodeSecretKey"
      | "nodePublicKey"
      | "nodeId"
      | "challengeNonce"
      | "chatId"
      | "initiatorEphemeralSecretKey"
      | "initiatorEphemeralKey"
      | "targetEphemeralSecretKey"
      | "targetEphemeralKey"]: string;
  } & {
    connectTimestampMs: number;
    offerTimestampMs: number;
    acceptTimestampMs: number;
    resumeDelivered: number;
    resumeAckedByPeer: number;
    resumeTimestampMs: number;
  };
  connect: { label: string; payload: string; signature: string };
  offer: { label: string; payload: string; signature: string };
  accept: { label: string; payload: string; signature: string };
  resume: { label: string; payload: string; signature: string };
  chatKeys: {
    initiatorToTarget: string;
    targetToInitiator: string;
    message: { seq: number; plaintext: string; ciphertext: string };
  };
};
const v = vectors.inputs;
const bytes = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

// Made in beforeAll, on the backend under test.
let initiator: Identity;
let target: Identity;
let node: Identity;
const initiatorEphemeralKey = bytes(v.initiatorEphemeralKey);
const targetEphemeralKey = bytes(v.targetEphemeralKey);

function theOffer(): SignedOffer {
  const start = signOffer(initiator, {
    chatId: v.chatId,
    targetAppId: target.id,
    ephemeralKey: initiatorEphemeralKey,
    timestampMs: v.offerTimestampMs,
  });
  return { ...start, initiatorAppId: initiator.id, initiatorPublicKey: initiator.publicKey };
}

describeEachBackend("chat transcript test vectors", () => {
  beforeAll(() => {
    initiator = Identity.fromSecretKey(bytes(v.initiatorSecretKey));
    target = Identity.fromSecretKey(bytes(v.targetSecretKey));
    node = Identity.fromSecretKey(bytes(v.nodeSecretKey));
  });

  it("derive the published identities and IDs", () => {
    expect([hex(initiator.publicKey), initiator.id]).toEqual([v.initiatorPublicKey, v.initiatorAppId]);
    expect([hex(target.publicKey), target.id]).toEqual([v.targetPublicKey, v.targetAppId]);
    expect([hex(node.publicKey), node.id]).toEqual([v.nodePublicKey, v.nodeId]);
  });

  it("connect: the app signs the published payload and the node verifies it", () => {
    const nonce = bytes(v.challengeNonce);
    const fields = connectFields(node.id, initiator.id, nonce, v.connectTimestampMs);
    expect(hex(signingPayload("hermes/app-connect/v1", fields))).toBe(vectors.connect.payload);
    const connect = signConnect(initiator, { nodeId: node.id, nonce }, v.connectTimestampMs);
    expect(hex(connect.signature)).toBe(vectors.connect.signature);
    expect(verifyConnect(node.id, initiator.id, connect)).toBe(true);
    expect(verifyConnect(target.id, initiator.id, connect)).toBe(false); // signed for another node
  });

  it("offer: the initiator signs the published payload", () => {
    const offer = theOffer();
    expect(hex(signingPayload("hermes/chat-offer/v1", offerFields(offer)))).toBe(vectors.offer.payload);
    expect(hex(offer.signature)).toBe(vectors.offer.signature);
    expect(verifyOffer(offer)).toBe(true);
    expect(verifyOffer({ ...offer, targetAppId: node.id })).toBe(false);
  });

  it("accept: the target signs the published payload, binding both ephemeral keys", () => {
    const offer = theOffer();
    const fields = acceptFields(offer, targetEphemeralKey, v.acceptTimestampMs);
    expect(hex(signingPayload("hermes/chat-accept/v1", fields))).toBe(vectors.accept.payload);
    const accept = signAccept(target, offer, targetEphemeralKey, v.acceptTimestampMs);
    expect(hex(accept.signature)).toBe(vectors.accept.signature);
    expect(verifyAccept(offer, target.publicKey, accept)).toBe(true);
    expect(verifyAccept({ ...offer, ephemeralKey: targetEphemeralKey }, target.publicKey, accept)).toBe(
      false,
    );
  });

  it("ready: the whole transcript checks, and any field changed after signing does not", () => {
    const offer = theOffer();
    const accept = signAccept(target, offer, targetEphemeralKey, v.acceptTimestampMs);
    const ready = readyOf(offer, target.publicKey, accept);
    expect(checkReady(ready)).toBeUndefined();
    expect(checkReady({ ...ready, offerTimestampMs: ready.offerTimestampMs + 1 })).toMatch(
      /initiator's signature/,
    );
    expect(checkReady({ ...ready, targetEphemeralKey: flipped(targetEphemeralKey) })).toMatch(
      /target's signature/,
    );
    expect(checkReady({ ...ready, targetPublicKey: initiator.publicKey })).toMatch(/does not match its key/);
  });

  it("resume: the app states its marks for a node in the published payload, and no other node takes it", () => {
    const offer = theOffer();
    const ready = readyOf(
      offer,
      target.publicKey,
      signAccept(target, offer, targetEphemeralKey, v.acceptTimestampMs),
    );
    const marks = { ready, delivered: v.resumeDelivered, ackedByPeer: v.resumeAckedByPeer };
    const resume = signResume(initiator, node.id, marks, v.resumeTimestampMs);
    const fields = resumeFields(node.id, initiator.id, resume);
    expect(hex(signingPayload("hermes/chat-resume/v1", fields))).toBe(vectors.resume.payload);
    expect(hex(resume.signature)).toBe(vectors.resume.signature);
    expect(verifyResume(resume, node.id, initiator.id, initiator.publicKey)).toBe(true);
    expect(verifyResume(resume, target.id, initiator.id, initiator.publicKey)).toBe(false);
    expect(
      verifyResume(
        { ...resume, delivered: resume.delivered + 1 },
        node.id,
        initiator.id,
        initiator.publicKey,
      ),
    ).toBe(false);
  });

  it("chat keys: HKDF over the transcript gives the published keys and ciphertext", () => {
    const transcript = {
      chatId: v.chatId,
      initiatorAppId: initiator.id,
      targetAppId: target.id,
      initiatorEphemeralKey,
      targetEphemeralKey,
    };
    const ofInitiator = deriveChatKeys(transcript, "initiator", bytes(v.initiatorEphemeralSecretKey));
    const ofTarget = deriveChatKeys(transcript, "target", bytes(v.targetEphemeralSecretKey));
    expect(hex(ofInitiator.send)).toBe(vectors.chatKeys.initiatorToTarget);
    expect(hex(ofInitiator.receive)).toBe(vectors.chatKeys.targetToInitiator);
    expect(ofTarget).toEqual({ send: ofInitiator.receive, receive: ofInitiator.send });
    const { seq, plaintext, ciphertext } = vectors.chatKeys.message;
    expect(hex(seal(ofInitiator.send, v.chatId, seq, new TextEncoder().encode(plaintext)))).toBe(ciphertext);
    expect(new TextDecoder().decode(open(ofTarget.receive, v.chatId, seq, bytes(ciphertext)))).toBe(
      plaintext,
    );
  });
});
