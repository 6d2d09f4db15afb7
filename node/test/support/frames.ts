import { randomBytes } from "node:crypto";
import type { approuter, nodemesh } from "@hermes/proto";
import type { Identity } from "../../src/identity/index.js";
import { entryOf } from "../../src/mesh/app-claims.js";
import {
  type ConnectProof,
  connectProof,
  signAccept,
  signConnect,
  signOffer,
} from "../../src/protocol/index.js";

/** A random chat id in the protocol's format (32 lowercase hex characters). */
export function newChatId(): string {
  return randomBytes(16).toString("hex");
}

/** A random 32-byte stand-in for an X25519 public key (the node does not look inside it). */
export function newEphemeralKey(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

export interface ConnectParams {
  nodeId: string;
  nonce: Uint8Array;
  timestampMs: number;
}

/** A Connect signed by `app` for a node's challenge (protocol/chat-transcript.ts). */
export function signedConnect(app: Identity, p: ConnectParams): approuter.Connect {
  return signConnect(app, p, p.timestampMs);
}

export interface StartChatParams {
  chatId: string;
  targetAppId: string;
  ephemeralKey: Uint8Array;
  timestampMs: number;
}

/** A StartChat signed by the initiator. */
export function signedStartChat(initiator: Identity, p: StartChatParams): approuter.StartChat {
  return signOffer(initiator, p);
}

export interface AcceptChatParams {
  chatId: string;
  initiatorAppId: string;
  initiatorEphemeralKey: Uint8Array;
  ephemeralKey: Uint8Array;
  timestampMs: number;
}

/** An AcceptChat signed by the target. */
export function signedAcceptChat(target: Identity, p: AcceptChatParams): approuter.AcceptChat {
  const offer = { chatId: p.chatId, initiatorAppId: p.initiatorAppId, ephemeralKey: p.initiatorEphemeralKey };
  return signAccept(target, offer, p.ephemeralKey, p.timestampMs);
}

/** A copy of `bytes` with one bit flipped. */
export function flipped(bytes: Uint8Array, index = 0): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index] = copy[index]! ^ 1;
  return copy;
}

/**
 * A directory entry for `app` on node `nodeId`, carrying the app's Connect there, signed as the
 * node publishes it.
 */
export function provenEntry(app: Identity, nodeId: string, timestampMs: number): nodemesh.AppEntry {
  return entryOf(app.id, proofFor(app, nodeId, timestampMs));
}

/** `app`'s Connect to node `nodeId` (a fresh nonce), as the node keeps it. */
export function proofFor(app: Identity, nodeId: string, timestampMs: number): ConnectProof {
  const connect = signConnect(app, { nodeId, nonce: new Uint8Array(randomBytes(32)) }, timestampMs);
  return connectProof(nodeId, connect);
}

/** A directory entry with no proof: app and time only (as relayed for another node, or made up). */
export function bareEntry(appId: string, connectedAtMs: number): nodemesh.AppEntry {
  return {
    appId,
    connectedAtMs,
    publicKey: new Uint8Array(),
    nonce: new Uint8Array(),
    signature: new Uint8Array(),
  };
}
