import { ed25519 } from "@noble/curves/ed25519.js";
import { deriveId } from "./ids.js";

/** An ed25519 identity. The secret key stays with its owner; zero it with destroy(). */
export class Identity {
  readonly publicKey: Uint8Array;
  readonly id: string;

  private constructor(private readonly secret: Uint8Array) {
    this.publicKey = ed25519.getPublicKey(secret);
    this.id = deriveId(this.publicKey);
  }

  static generate(): Identity {
    return new Identity(ed25519.utils.randomSecretKey());
  }

  static fromSecretKey(secretKey: Uint8Array): Identity {
    if (secretKey.length !== 32)
      throw new Error(`ed25519 secret key must be 32 bytes, got ${secretKey.length}`);
    return new Identity(Uint8Array.from(secretKey));
  }

  /** A copy for sealing into a keystore; the caller zeroes it when done. */
  exportSecretKey(): Uint8Array {
    return Uint8Array.from(this.secret);
  }

  get secretKey(): Uint8Array {
    return this.secret;
  }

  destroy(): void {
    this.secret.fill(0);
  }
}
