/** Key derivation, entry sealing and the file MAC. Every derived key is the caller's to zero. */
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { argon2idAsync } from "@noble/hashes/argon2.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { randomBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { type KdfParams, type KeystoreFile, macInput } from "./format.js";

export interface Keys {
  /** Seals entries (XChaCha20-Poly1305). */
  seal: Uint8Array;
  /** Authenticates the whole file (HMAC-SHA256). */
  mac: Uint8Array;
  /** Stored in the file; a mismatch means the passphrase is wrong. */
  check: Uint8Array;
}

const NONCE_BYTES = 24;

export async function deriveKeys(passphrase: Uint8Array, salt: Uint8Array, kdf: KdfParams): Promise<Keys> {
  const master = await argon2idAsync(passphrase, salt, {
    m: kdf.memoryKiB,
    t: kdf.iterations,
    p: kdf.parallelism,
    dkLen: 32,
    maxmem: 2 ** 32 - 1, // the params are already bounded below 4 GiB; noble's default stops at 1 GiB
  });
  try {
    // Separate subkeys, so the stored check value and the MAC reveal nothing about the sealing key.
    const sub = (label: string) => hkdf(sha256, master, undefined, utf8ToBytes(label), 32);
    return {
      seal: sub("hermes-keystore/v1/seal"),
      mac: sub("hermes-keystore/v1/mac"),
      check: sub("hermes-keystore/v1/check"),
    };
  } finally {
    master.fill(0);
  }
}

/** Binds the format version and the entry name, so a value cannot be moved to another name. */
function entryAad(name: string): Uint8Array {
  return utf8ToBytes(`hermes-keystore/v1/entry\0${name}`);
}

/** nonce || ciphertext || tag */
export function sealEntry(key: Uint8Array, name: string, value: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const ct = xchacha20poly1305(key, nonce, entryAad(name)).encrypt(value);
  const out = new Uint8Array(NONCE_BYTES + ct.length);
  out.set(nonce);
  out.set(ct, NONCE_BYTES);
  return out;
}

/** The plaintext (a fresh buffer), or undefined when the entry does not authenticate. */
export function openEntry(key: Uint8Array, name: string, sealed: Uint8Array): Uint8Array | undefined {
  const nonce = sealed.subarray(0, NONCE_BYTES);
  try {
    return xchacha20poly1305(key, nonce, entryAad(name)).decrypt(sealed.subarray(NONCE_BYTES));
  } catch {
    return undefined;
  }
}

export function fileMac(key: Uint8Array, file: Omit<KeystoreFile, "mac">): Uint8Array {
  return hmac(sha256, key, macInput(file));
}
