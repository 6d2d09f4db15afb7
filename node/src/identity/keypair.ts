import { randomBytes } from "@noble/hashes/utils.js";
import { type CryptoBackend, cryptoBackend, type SigningKey } from "../crypto/index.js";
import { deriveId } from "./ids.js";

/**
 * An ed25519 identity. The secret key stays with its owner; destroy() zeroes it. With the native
 * backend, signing goes through a private KeyObject made from the secret once: its copy lives in
 * OpenSSL, which clears it when the KeyObject is garbage-collected; JavaScript cannot clear it
 * sooner, so destroy() only drops the reference.
 */
export class Identity {
  readonly publicKey: Uint8Array;
  readonly id: string;
  private signingKey: { backend: CryptoBackend; key: SigningKey } | undefined;
  private destroyed = false;

  private constructor(private readonly secret: Uint8Array) {
    this.publicKey = this.keyFor(cryptoBackend()).publicKey;
    this.id = deriveId(this.publicKey);
  }

  static generate(): Identity {
    return new Identity(randomBytes(32));
  }

  static fromSecretKey(secretKey: Uint8Array): Identity {
    if (secretKey.length !== 32)
      throw new Error(`ed25519 secret key must be 32 bytes, got ${secretKey.length}`);
    return new Identity(Uint8Array.from(secretKey));
  }

  /** A copy for sealing into a keystore; the caller zeroes it when done. */
  exportSecretKey(): Uint8Array {
    this.assertLive();
    return Uint8Array.from(this.secret);
  }

  /** Signs with the process's current backend (tests switch it; each backend gets its own key). */
  signBytes(message: Uint8Array): Uint8Array {
    this.assertLive();
    return this.keyFor(cryptoBackend()).sign(message);
  }

  destroy(): void {
    this.secret.fill(0);
    this.signingKey = undefined;
    this.destroyed = true;
  }

  private keyFor(backend: CryptoBackend): SigningKey {
    if (this.signingKey?.backend !== backend)
      this.signingKey = { backend, key: backend.signingKey(this.secret) };
    return this.signingKey.key;
  }

  private assertLive(): void {
    if (this.destroyed) throw new Error(`identity ${this.id} was destroyed`);
  }
}
