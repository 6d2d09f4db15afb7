/**
 * The three primitives whose implementation depends on where the code runs: Ed25519, X25519 and
 * ChaCha20-Poly1305. `native.ts` uses node:crypto (OpenSSL), `noble.ts` the pure-JS @noble
 * libraries; both produce the same bytes for the same inputs. SHA-256 and HKDF stay on
 * @noble/hashes in both: they run once per chat and cost microseconds.
 */
export type CryptoBackendName = "native" | "noble";

export interface CryptoBackend {
  readonly name: CryptoBackendName;
  /** An Ed25519 signing key from a 32-byte seed. The native key does not keep the seed; noble's reads it at each sign. */
  signingKey(seed: Uint8Array): SigningKey;
  /**
   * The cofactorless Ed25519 equation [s]B = R + [k]A over strictly decoded points, s < L. May
   * throw on malformed input: only `verifyEd25519()` calls it, after its own checks.
   */
  verify(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array): boolean;
  x25519KeyPair(): { secretKey: Uint8Array; publicKey: Uint8Array };
  /** The X25519 shared secret; throws when it is all zero (a low-order peer key). */
  x25519(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array;
  /** ChaCha20-Poly1305 (RFC 8439): ciphertext followed by the 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Throws `AuthenticationError` unless the tag checks. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array;
}

export interface SigningKey {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export const TAG_BYTES = 16;

export class AuthenticationError extends Error {
  constructor() {
    super(
      "ciphertext failed authentication (altered, or sealed under another key, nonce or associated data)",
    );
  }
}
