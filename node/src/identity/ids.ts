import { sha256 } from "@noble/hashes/sha2.js";

/**
 * IDs are derived from ed25519 public keys, never chosen by their owner, so any ID can be
 * checked against the key presented with it. An ID is 32 lowercase base32 characters
 * (160 bits of SHA-256 over a domain label and the key).
 */
const ID_LABEL = new TextEncoder().encode("hermes/id/v1");
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
export const ID_PATTERN = /^[a-z2-7]{32}$/;
export const CHAT_ID_PATTERN = /^[0-9a-f]{32}$/;

export function deriveId(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new Error(`public key must be 32 bytes, got ${publicKey.length}`);
  const digest = sha256.create().update(ID_LABEL).update(publicKey).digest();
  return base32(digest.subarray(0, 20));
}

export function idMatchesKey(id: string, publicKey: Uint8Array): boolean {
  return publicKey.length === 32 && deriveId(publicKey) === id;
}

function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >>> bits) & 31];
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}
