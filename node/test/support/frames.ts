import { randomBytes } from "node:crypto";
import type { approuter } from "@hermes/proto";
import { type Identity, sign } from "../../src/identity/index.js";

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

/** Connect signed by `app` over "hermes/app-connect/v1" | node_id | app_id | nonce | timestamp_ms. */
export function signedConnect(app: Identity, p: ConnectParams): approuter.Connect {
  const signature = sign(app.secretKey, "hermes/app-connect/v1", [p.nodeId, app.id, p.nonce, p.timestampMs]);
  return { publicKey: app.publicKey, nonce: p.nonce, timestampMs: p.timestampMs, signature };
}

export interface StartChatParams {
  chatId: string;
  targetAppId: string;
  ephemeralKey: Uint8Array;
  timestampMs: number;
}

/** StartChat signed by the initiator over "hermes/chat-offer/v1" | chat | initiator | target | eph | ts. */
export function signedStartChat(initiator: Identity, p: StartChatParams): approuter.StartChat {
  const signature = sign(initiator.secretKey, "hermes/chat-offer/v1", [
    p.chatId,
    initiator.id,
    p.targetAppId,
    p.ephemeralKey,
    p.timestampMs,
  ]);
  return { ...p, signature };
}

export interface AcceptChatParams {
  chatId: string;
  initiatorAppId: string;
  initiatorEphemeralKey: Uint8Array;
  ephemeralKey: Uint8Array;
  timestampMs: number;
}

/** AcceptChat signed by the target over "hermes/chat-accept/v1" | chat | initiator | target | both keys | ts. */
export function signedAcceptChat(target: Identity, p: AcceptChatParams): approuter.AcceptChat {
  const signature = sign(target.secretKey, "hermes/chat-accept/v1", [
    p.chatId,
    p.initiatorAppId,
    target.id,
    p.initiatorEphemeralKey,
    p.ephemeralKey,
    p.timestampMs,
  ]);
  return { chatId: p.chatId, ephemeralKey: p.ephemeralKey, timestampMs: p.timestampMs, signature };
}

/** A copy of `bytes` with one bit flipped. */
export function flipped(bytes: Uint8Array, index = 0): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index] = copy[index]! ^ 1;
  return copy;
}
