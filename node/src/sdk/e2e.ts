import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { X25519KeyPair } from "../crypto/backend.js";
import { cryptoBackend } from "../crypto/index.js";
import { encodeFields } from "../identity/index.js";

const encoder = new TextEncoder();
const INFO_I2T = encoder.encode("hermes/chat-key/v1 initiator->target");
const INFO_T2I = encoder.encode("hermes/chat-key/v1 target->initiator");

/**
 * End-to-end encryption of a chat. Each side contributes an X25519 ephemeral key, signed by its
 * identity; the shared secret is expanded with HKDF-SHA256 salted by a hash of the transcript
 * (both app IDs, the chat id and both ephemeral keys), into one key per direction. Messages are
 * sealed with ChaCha20-Poly1305; the nonce is the message's seq, which never repeats under one key.
 * X25519 and ChaCha20-Poly1305 run on the process's crypto backend (node:crypto or @noble), with
 * the same bytes either way.
 */
export interface Transcript {
  chatId: string;
  initiatorAppId: string;
  targetAppId: string;
  initiatorEphemeralKey: Uint8Array;
  targetEphemeralKey: Uint8Array;
}

export interface ChatKeys {
  send: Uint8Array;
  receive: Uint8Array;
}

export function newEphemeral(): X25519KeyPair {
  return cryptoBackend().x25519KeyPair();
}

/**
 * The e2e version is chosen in the handshake, by the top bit of each ephemeral key (bit 7 of
 * byte 31). X25519 ignores that bit (RFC 7748 §5 reserves it "for use in other protocols"), so an
 * SDK that knows nothing of it agrees on the same secret. An app that speaks the ratchet sets it
 * in the key it offers or accepts with; the chat runs at e2e v2 when both keys carry it, else v1.
 * Both keys are signed by both apps (the accept covers the offer's key too), so no node can clear
 * a bit to force a chat down to v1.
 */
export type E2eVersion = 1 | 2;
const RATCHET_BIT = 0x80;

export function withRatchetBit(publicKey: Uint8Array): Uint8Array {
  const marked = Uint8Array.from(publicKey);
  marked[31]! |= RATCHET_BIT;
  return marked;
}

export function hasRatchetBit(publicKey: Uint8Array): boolean {
  return publicKey.length === 32 && (publicKey[31]! & RATCHET_BIT) !== 0;
}

/** The version a chat runs at: 2 when both ephemeral keys of its transcript carry the bit. */
export function agreedVersion(
  t: Pick<Transcript, "initiatorEphemeralKey" | "targetEphemeralKey">,
): E2eVersion {
  return hasRatchetBit(t.initiatorEphemeralKey) && hasRatchetBit(t.targetEphemeralKey) ? 2 : 1;
}

/**
 * The agreement both versions start from: X25519 of this app's ephemeral secret and the peer's
 * ephemeral key (the caller zeroes the result), refusing a low-order peer key.
 */
export function handshakeSecret(
  t: Transcript,
  role: "initiator" | "target",
  mySecret: Uint8Array,
): Uint8Array {
  const peerPublic = role === "initiator" ? t.targetEphemeralKey : t.initiatorEphemeralKey;
  if (peerPublic.length !== 32)
    throw new Error(`peer ephemeral key must be 32 bytes, got ${peerPublic.length}`);
  let shared: Uint8Array;
  try {
    shared = cryptoBackend().x25519(mySecret, peerPublic);
  } catch (error) {
    throw new Error("peer ephemeral key is a low-order point", { cause: error });
  }
  if (shared.every((b) => b === 0)) throw new Error("peer ephemeral key is a low-order point");
  return shared;
}

/** The HKDF salt of a chat's keys: a hash of its transcript (both app IDs, the chat id, both ephemeral keys). */
export function transcriptSalt(t: Transcript): Uint8Array {
  return sha256(
    encodeFields("hermes/chat-transcript/v1", [
      t.chatId,
      t.initiatorAppId,
      t.targetAppId,
      t.initiatorEphemeralKey,
      t.targetEphemeralKey,
    ]),
  );
}

export function deriveChatKeys(t: Transcript, role: "initiator" | "target", mySecret: Uint8Array): ChatKeys {
  const shared = handshakeSecret(t, role, mySecret);
  try {
    const salt = transcriptSalt(t);
    const i2t = hkdf(sha256, shared, salt, INFO_I2T, 32);
    const t2i = hkdf(sha256, shared, salt, INFO_T2I, 32);
    return role === "initiator" ? { send: i2t, receive: t2i } : { send: t2i, receive: i2t };
  } finally {
    shared.fill(0);
  }
}

/** The AEAD nonce of message `seq` (both versions): 4 zero bytes, then the seq as u64 BE. */
export function seqNonce(seq: number): Uint8Array {
  const nonce = new Uint8Array(12);
  writeU64(nonce, 4, seq);
  return nonce;
}

/** A safe integer as u64 BE at `at`, without BigInt (on the per-message path). */
export function writeU64(out: Uint8Array, at: number, value: number): void {
  const high = Math.floor(value / 2 ** 32);
  const low = value >>> 0;
  out[at] = high >>> 24;
  out[at + 1] = (high >>> 16) & 0xff;
  out[at + 2] = (high >>> 8) & 0xff;
  out[at + 3] = high & 0xff;
  out[at + 4] = low >>> 24;
  out[at + 5] = (low >>> 16) & 0xff;
  out[at + 6] = (low >>> 8) & 0xff;
  out[at + 7] = low & 0xff;
}

export function seal(key: Uint8Array, chatId: string, seq: number, plaintext: Uint8Array): Uint8Array {
  return cryptoBackend().seal(key, seqNonce(seq), encoder.encode(chatId), plaintext);
}

/** Throws AuthenticationError when the ciphertext was altered, is for another chat or seq, or was sealed with another key. */
export function open(key: Uint8Array, chatId: string, seq: number, ciphertext: Uint8Array): Uint8Array {
  return cryptoBackend().open(key, seqNonce(seq), encoder.encode(chatId), ciphertext);
}
