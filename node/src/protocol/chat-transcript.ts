import type { approuter } from "@hermes/proto";
import { type Field, type Identity, idMatchesKey, sign, verify } from "../identity/index.js";

/**
 * Every signed field list of the app protocol, in one place for both ends: the node checks what
 * apps sign, and the SDK signs and checks the peer's half of the chat transcript itself (the
 * node is not trusted for it). A field list written twice could drift apart and fail only as a
 * silent "signature does not verify"; here each is written once. docs/approuter-protocol.md
 * gives the byte encoding and test vectors.
 */

const CONNECT = "hermes/app-connect/v1";
const OFFER = "hermes/chat-offer/v1";
const ACCEPT = "hermes/chat-accept/v1";
const RESUME = "hermes/chat-resume/v1";

/** A chat offer as the initiator signed it, with the key that checks it. */
export interface SignedOffer {
  chatId: string;
  initiatorAppId: string;
  initiatorPublicKey: Uint8Array;
  targetAppId: string;
  /** The initiator's X25519 ephemeral public key. */
  ephemeralKey: Uint8Array;
  timestampMs: number;
  signature: Uint8Array;
}

/** The target's signed answer to an offer. */
export interface SignedAccept {
  /** The target's X25519 ephemeral public key. */
  ephemeralKey: Uint8Array;
  timestampMs: number;
  signature: Uint8Array;
}

// ---- connect: the app answers the node's challenge

export function connectFields(
  nodeId: string,
  appId: string,
  nonce: Uint8Array,
  timestampMs: number,
): Field[] {
  return [nodeId, appId, nonce, timestampMs];
}

export function signConnect(
  identity: Identity,
  challenge: { nodeId: string; nonce: Uint8Array },
  timestampMs: number,
  resume: approuter.ChatResume[] = [],
): approuter.Connect {
  const fields = connectFields(challenge.nodeId, identity.id, challenge.nonce, timestampMs);
  return {
    publicKey: identity.publicKey,
    nonce: challenge.nonce,
    timestampMs,
    signature: sign(identity, CONNECT, fields),
    resume,
    takesBatches: false,
  };
}

/** The app `appId` (derived from `connect.publicKey` by the caller) signed this node's challenge. */
export function verifyConnect(
  nodeId: string,
  appId: string,
  connect: Pick<approuter.Connect, "publicKey" | "nonce" | "timestampMs" | "signature">,
): boolean {
  const fields = connectFields(nodeId, appId, connect.nonce, connect.timestampMs);
  return verify(connect.publicKey, connect.signature, CONNECT, fields);
}

/**
 * An app's signed Connect to node `nodeId`, kept after the connect: it proves to other nodes
 * (in the directory's AppEntry) and to the app itself (in SessionClosed.replaced_by) that the
 * app connected there at `timestampMs`, by its own clock. No node can make one up.
 */
export interface ConnectProof {
  nodeId: string;
  publicKey: Uint8Array;
  nonce: Uint8Array;
  timestampMs: number;
  signature: Uint8Array;
}

export function connectProof(nodeId: string, connect: approuter.Connect): ConnectProof {
  return {
    nodeId,
    publicKey: Uint8Array.from(connect.publicKey),
    nonce: Uint8Array.from(connect.nonce),
    timestampMs: connect.timestampMs,
    signature: Uint8Array.from(connect.signature),
  };
}

/** The app `appId` signed this Connect to `proof.nodeId`, with the key that derives its ID. */
export function verifyConnectProof(appId: string, proof: ConnectProof): boolean {
  return idMatchesKey(appId, proof.publicKey) && verifyConnect(proof.nodeId, appId, proof);
}

// ---- offer: the initiator's half

export function offerFields(
  offer: Pick<SignedOffer, "chatId" | "initiatorAppId" | "targetAppId" | "ephemeralKey" | "timestampMs">,
): Field[] {
  return [offer.chatId, offer.initiatorAppId, offer.targetAppId, offer.ephemeralKey, offer.timestampMs];
}

export function signOffer(
  identity: Identity,
  offer: { chatId: string; targetAppId: string; ephemeralKey: Uint8Array; timestampMs: number },
): approuter.StartChat {
  const fields = offerFields({ ...offer, initiatorAppId: identity.id });
  return { ...offer, signature: sign(identity, OFFER, fields) };
}

/** The signature checks against `initiatorPublicKey` (whether that key is the initiator's is checked apart). */
export function verifyOffer(offer: SignedOffer): boolean {
  return verify(offer.initiatorPublicKey, offer.signature, OFFER, offerFields(offer));
}

// ---- accept: the target's half, which binds the initiator's ephemeral key too

export function acceptFields(
  offer: Pick<SignedOffer, "chatId" | "initiatorAppId" | "targetAppId" | "ephemeralKey">,
  targetEphemeralKey: Uint8Array,
  timestampMs: number,
): Field[] {
  return [
    offer.chatId,
    offer.initiatorAppId,
    offer.targetAppId,
    offer.ephemeralKey,
    targetEphemeralKey,
    timestampMs,
  ];
}

export function signAccept(
  identity: Identity,
  offer: Pick<SignedOffer, "chatId" | "initiatorAppId" | "ephemeralKey">,
  ephemeralKey: Uint8Array,
  timestampMs: number,
): approuter.AcceptChat {
  const fields = acceptFields({ ...offer, targetAppId: identity.id }, ephemeralKey, timestampMs);
  return {
    chatId: offer.chatId,
    ephemeralKey,
    timestampMs,
    signature: sign(identity, ACCEPT, fields),
  };
}

export function verifyAccept(offer: SignedOffer, targetPublicKey: Uint8Array, accept: SignedAccept): boolean {
  const fields = acceptFields(offer, accept.ephemeralKey, accept.timestampMs);
  return verify(targetPublicKey, accept.signature, ACCEPT, fields);
}

// ---- resume: an app asks a node to carry one of its chats, stating its own marks

export function resumeFields(
  nodeId: string,
  appId: string,
  resume: Pick<approuter.ChatResume, "chatId" | "delivered" | "ackedByPeer" | "timestampMs">,
): Field[] {
  return [nodeId, resume.chatId, appId, resume.delivered, resume.ackedByPeer, resume.timestampMs];
}

export function signResume(
  identity: Identity,
  nodeId: string,
  chat: { ready: approuter.ChatReady; delivered: number; ackedByPeer: number },
  timestampMs: number,
): approuter.ChatResume {
  const resume = {
    chatId: chat.ready.chatId,
    delivered: chat.delivered,
    ackedByPeer: chat.ackedByPeer,
    timestampMs,
  };
  return {
    ...resume,
    ready: chat.ready,
    signature: sign(identity, RESUME, resumeFields(nodeId, identity.id, resume)),
  };
}

/** `appId`, whose key is `publicKey`, asked node `nodeId` to carry the chat with these marks. */
export function verifyResume(
  resume: approuter.ChatResume,
  nodeId: string,
  appId: string,
  publicKey: Uint8Array,
): boolean {
  return verify(publicKey, resume.signature, RESUME, resumeFields(nodeId, appId, resume));
}

// ---- the whole transcript

/** The transcript of an accepted offer, as both apps (and both nodes of a cross-node chat) get it. */
export function readyOf(
  offer: SignedOffer,
  targetPublicKey: Uint8Array,
  accept: SignedAccept,
): approuter.ChatReady {
  return {
    chatId: offer.chatId,
    initiatorAppId: offer.initiatorAppId,
    initiatorPublicKey: offer.initiatorPublicKey,
    initiatorEphemeralKey: offer.ephemeralKey,
    offerTimestampMs: offer.timestampMs,
    offerSignature: offer.signature,
    targetAppId: offer.targetAppId,
    targetPublicKey: Uint8Array.from(targetPublicKey),
    targetEphemeralKey: Uint8Array.from(accept.ephemeralKey),
    acceptTimestampMs: accept.timestampMs,
    acceptSignature: Uint8Array.from(accept.signature),
  };
}

export function offerOf(ready: approuter.ChatReady): SignedOffer {
  return {
    chatId: ready.chatId,
    initiatorAppId: ready.initiatorAppId,
    initiatorPublicKey: ready.initiatorPublicKey,
    targetAppId: ready.targetAppId,
    ephemeralKey: ready.initiatorEphemeralKey,
    timestampMs: ready.offerTimestampMs,
    signature: ready.offerSignature,
  };
}

export function acceptOf(ready: approuter.ChatReady): SignedAccept {
  return {
    ephemeralKey: ready.targetEphemeralKey,
    timestampMs: ready.acceptTimestampMs,
    signature: ready.acceptSignature,
  };
}

/** What the target app is shown of an offer. */
export function offerFrame(offer: SignedOffer): approuter.ChatOffer {
  return {
    chatId: offer.chatId,
    initiatorAppId: offer.initiatorAppId,
    initiatorPublicKey: offer.initiatorPublicKey,
    ephemeralKey: offer.ephemeralKey,
    timestampMs: offer.timestampMs,
    signature: offer.signature,
  };
}

/**
 * Checks a whole transcript: both app IDs derive from their keys and both signatures verify.
 * Returns what is wrong, or undefined.
 */
export function checkReady(ready: approuter.ChatReady): string | undefined {
  if (
    !idMatchesKey(ready.initiatorAppId, ready.initiatorPublicKey) ||
    !idMatchesKey(ready.targetAppId, ready.targetPublicKey)
  ) {
    return `chat ${ready.chatId}: an app ID does not match its key`;
  }
  const offer = offerOf(ready);
  if (!verifyOffer(offer)) return `chat ${ready.chatId}: the initiator's signature does not verify`;
  if (!verifyAccept(offer, ready.targetPublicKey, acceptOf(ready)))
    return `chat ${ready.chatId}: the target's signature does not verify`;
  return undefined;
}
