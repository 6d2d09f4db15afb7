/**
 * The primitives whose implementation depends on where the code runs: Ed25519, X25519, ChaCha20
 * and ChaCha20-Poly1305. `native.ts` uses node:crypto (OpenSSL), `noble.ts` the pure-JS @noble
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
  x25519KeyPair(): X25519KeyPair;
  /** The X25519 shared secret; throws when it is all zero (a low-order peer key). */
  x25519(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array;
  /**
   * An agreement with a fresh key pair whose secret is used once and never leaves the backend
   * (the ratchet's steps); throws like x25519(). Several times cheaper than x25519KeyPair() then
   * x25519() on node:crypto, which imports the secret again.
   */
  x25519Fresh(peerPublicKey: Uint8Array): { publicKey: Uint8Array; shared: Uint8Array };
  /**
   * The first `length` bytes of the ChaCha20 keystream (RFC 8439) under `key`, with a zero nonce
   * and the block counter from 0: the ratchet's KDF chain.
   */
  keystream(key: Uint8Array, length: number): Uint8Array;
  /**
   * ChaCha20-Poly1305 (RFC 8439): ciphertext followed by the 16-byte tag, after `headroom` zero
   * bytes left for the caller (a header it sends in front), so that the message is one buffer.
   */
  seal(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    headroom?: number,
  ): Uint8Array;
  /** Throws `AuthenticationError` unless the tag checks. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array;
}

export interface X25519KeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  /**
   * X25519 with this pair's secret, as x25519() but without importing it again (node:crypto keeps
   * it in OpenSSL: an import costs ten agreements). It keeps its own copy of the secret, so it
   * works after secretKey is zeroed; the copy goes when the function is collected: drop it with
   * the secret.
   */
  agree(peerPublicKey: Uint8Array): Uint8Array;
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
