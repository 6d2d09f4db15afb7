import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
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

export function newEphemeral(): { secretKey: Uint8Array; publicKey: Uint8Array } {
  return cryptoBackend().x25519KeyPair();
}

export function deriveChatKeys(t: Transcript, role: "initiator" | "target", mySecret: Uint8Array): ChatKeys {
  const peerPublic = role === "initiator" ? t.targetEphemeralKey : t.initiatorEphemeralKey;
  if (peerPublic.length !== 32)
    throw new Error(`peer ephemeral key must be 32 bytes, got ${peerPublic.length}`);
  let shared: Uint8Array;
  try {
    shared = cryptoBackend().x25519(mySecret, peerPublic);
  } catch (error) {
    throw new Error("peer ephemeral key is a low-order point", { cause: error });
  }
  try {
    if (shared.every((b) => b === 0)) throw new Error("peer ephemeral key is a low-order point");
    const salt = sha256(
      encodeFields("hermes/chat-transcript/v1", [
        t.chatId,
        t.initiatorAppId,
        t.targetAppId,
        t.initiatorEphemeralKey,
        t.targetEphemeralKey,
      ]),
    );
    const i2t = hkdf(sha256, shared, salt, INFO_I2T, 32);
    const t2i = hkdf(sha256, shared, salt, INFO_T2I, 32);
    return role === "initiator" ? { send: i2t, receive: t2i } : { send: t2i, receive: i2t };
  } finally {
    shared.fill(0);
  }
}

function nonceFor(seq: number): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, BigInt(seq));
  return nonce;
}

export function seal(key: Uint8Array, chatId: string, seq: number, plaintext: Uint8Array): Uint8Array {
  return cryptoBackend().seal(key, nonceFor(seq), encoder.encode(chatId), plaintext);
}

/** Throws AuthenticationError when the ciphertext was altered, is for another chat or seq, or was sealed with another key. */
export function open(key: Uint8Array, chatId: string, seq: number, ciphertext: Uint8Array): Uint8Array {
  return cryptoBackend().open(key, nonceFor(seq), encoder.encode(chatId), ciphertext);
}
