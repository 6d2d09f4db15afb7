import type * as NodeCrypto from "node:crypto";
import { hexToBytes } from "@noble/curves/utils.js";
import { LruCache } from "../utils/lru-cache.js";
import { AuthenticationError, type CryptoBackend, TAG_BYTES } from "./backend.js";

type NodeCryptoModule = typeof NodeCrypto;
type KeyObject = NodeCrypto.KeyObject;

/** PKCS #8 DER before a raw 32-byte private key (RFC 8410): the one import format whose bytes we can zero. */
const ED25519_PKCS8 = hexToBytes("302e020100300506032b657004220420");
const X25519_PKCS8 = hexToBytes("302e020100300506032b656e04220420");
/**
 * Public keys kept as KeyObjects. Building one costs about a tenth of a verification; a node
 * checks the same few keys over and over (its peers, apps reconnecting), and a flood of fresh
 * keys only evicts.
 */
const PUBLIC_KEYS_CACHED = 4096;
const ZERO_IV = new Uint8Array(16);
/** X25519's base point, u = 9 (RFC 7748). */
const X25519_BASE_POINT = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 9 : 0));

/**
 * node:crypto (OpenSSL), several times faster than noble (docs/benchmarks). Takes the module as an
 * argument, and touches `Buffer` only when called, so that loading this file works where
 * node:crypto does not exist.
 */
export function nativeBackend(nodeCrypto: NodeCryptoModule): CryptoBackend {
  const { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey } = nodeCrypto;
  const publicKeys = new LruCache<string, KeyObject>(PUBLIC_KEYS_CACHED);

  /** From the raw key in base64url. JWK: OpenSSL decodes it ten times faster than DER (SPKI). */
  function publicKeyObject(x: string, crv: "Ed25519" | "X25519"): KeyObject {
    return createPublicKey({ key: { kty: "OKP", crv, x }, format: "jwk" });
  }

  function cachedEd25519Key(raw: Uint8Array): KeyObject {
    const x = base64url(raw);
    let key = publicKeys.get(x);
    if (!key) {
      key = publicKeyObject(x, "Ed25519");
      publicKeys.set(x, key);
    }
    return key;
  }

  function privateKeyObject(prefix: Uint8Array, secret: Uint8Array): KeyObject {
    if (secret.length !== 32) throw new Error(`private key must be 32 bytes, got ${secret.length}`);
    const der = Buffer.alloc(prefix.length + 32); // alloc, not allocUnsafe: never the shared pool
    try {
      der.set(prefix);
      der.set(secret, prefix.length);
      return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    } finally {
      der.fill(0);
    }
  }

  /**
   * An X25519 key pair's public half, as the agreement of its private key with the base point
   * (u = 9). Not a JWK export of the generated public key: in Node.js 20 the job object of
   * generateKeyPairSync shares a lock with the keys it made and takes that lock when it is
   * garbage-collected, so a collection that runs while the export holds the lock hangs the thread
   * for good (seen as an app process asleep on that lock, once in a few dozen test runs; the
   * agreement and the DER export take no such lock). 25 µs more per pair.
   */
  let basePoint: KeyObject | undefined;
  function x25519PublicKey(privateKey: KeyObject): Uint8Array {
    basePoint ??= publicKeyObject(base64url(X25519_BASE_POINT), "X25519");
    return bytes(nodeCrypto.diffieHellman({ privateKey, publicKey: basePoint }));
  }

  function rawPublicKey(key: KeyObject): Uint8Array {
    const { x } = key.export({ format: "jwk" });
    if (typeof x !== "string") throw new Error("node:crypto exported no public key");
    return Uint8Array.from(Buffer.from(x, "base64url"));
  }

  return {
    name: "native",

    signingKey(seed) {
      const privateKey = privateKeyObject(ED25519_PKCS8, seed);
      return {
        publicKey: rawPublicKey(createPublicKey(privateKey)),
        sign: (message) => bytes(nodeCrypto.sign(null, message, privateKey)),
      };
    },

    verify: (publicKey, signature, message) =>
      nodeCrypto.verify(null, message, cachedEd25519Key(publicKey), signature),

    x25519KeyPair() {
      const { privateKey } = nodeCrypto.generateKeyPairSync("x25519");
      const der = privateKey.export({ format: "der", type: "pkcs8" });
      try {
        if (der.length !== X25519_PKCS8.length + 32) throw new Error("unexpected X25519 PKCS #8 encoding");
        return {
          secretKey: Uint8Array.from(der.subarray(X25519_PKCS8.length)),
          publicKey: x25519PublicKey(privateKey),
          agree: (peerPublicKey) =>
            bytes(
              nodeCrypto.diffieHellman({
                privateKey,
                publicKey: publicKeyObject(base64url(peerPublicKey), "X25519"),
              }),
            ),
        };
      } finally {
        der.fill(0);
      }
    },

    x25519(secretKey, peerPublicKey) {
      const privateKey = privateKeyObject(X25519_PKCS8, secretKey);
      // OpenSSL refuses to derive the all-zero secret of a low-order peer key (RFC 7748 §6.1).
      return bytes(
        nodeCrypto.diffieHellman({
          privateKey,
          publicKey: publicKeyObject(base64url(peerPublicKey), "X25519"),
        }),
      );
    },

    x25519Fresh(peerPublicKey) {
      const { privateKey } = nodeCrypto.generateKeyPairSync("x25519");
      const shared = nodeCrypto.diffieHellman({
        privateKey,
        publicKey: publicKeyObject(base64url(peerPublicKey), "X25519"),
      });
      return { publicKey: x25519PublicKey(privateKey), shared: bytes(shared) };
    },

    keystream(key, length) {
      // node:crypto's ChaCha20 IV is the 32-bit block counter (little-endian), then the nonce.
      return bytes(createCipheriv("chacha20", key, ZERO_IV).update(new Uint8Array(length)));
    },

    seal(key, nonce, aad, plaintext, headroom = 0) {
      // A context per message: node:crypto offers no way to re-key one with a new nonce.
      const cipher = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(aad, { plaintextLength: plaintext.length });
      const body = cipher.update(plaintext);
      cipher.final();
      const out = new Uint8Array(headroom + body.length + TAG_BYTES);
      out.set(body, headroom);
      out.set(cipher.getAuthTag(), headroom + body.length);
      return out;
    },

    open(key, nonce, aad, sealed) {
      if (sealed.length < TAG_BYTES) throw new AuthenticationError();
      const bodyLength = sealed.length - TAG_BYTES;
      const decipher = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad, { plaintextLength: bodyLength });
      decipher.setAuthTag(sealed.subarray(bodyLength));
      const plaintext = decipher.update(sealed.subarray(0, bodyLength));
      try {
        decipher.final();
      } catch {
        plaintext.fill(0); // decrypted before the tag was checked: not to be seen
        throw new AuthenticationError();
      }
      return bytes(plaintext);
    },
  };
}

function base64url(raw: Uint8Array): string {
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64url");
}

/** A plain Uint8Array view of a Buffer, so both backends return the same type. */
function bytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
