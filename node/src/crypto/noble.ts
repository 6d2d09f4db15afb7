import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { bytesToNumberLE, concatBytes } from "@noble/curves/utils.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { AuthenticationError, type CryptoBackend } from "./backend.js";

const { Point } = ed25519;

/** Pure JavaScript (@noble): runs wherever JavaScript does, browsers and React Native included. */
export const nobleBackend: CryptoBackend = {
  name: "noble",

  signingKey(seed) {
    return { publicKey: ed25519.getPublicKey(seed), sign: (message) => ed25519.sign(message, seed) };
  },

  verify(publicKey, signature, message) {
    // noble's own verify() checks the cofactored equation ([8][s]B = [8]R + [8][k]A); OpenSSL and
    // libsodium check it without the ×8. The two differ only for points with a low-order
    // component, and the cofactorless answer is the stricter one, so both backends use it.
    const r = signature.subarray(0, 32);
    const s = bytesToNumberLE(signature.subarray(32));
    if (s >= Point.Fn.ORDER) return false;
    const A = Point.fromBytes(publicKey, false); // RFC 8032 decoding: y < p, no x = −0
    const R = Point.fromBytes(r, false);
    const k = Point.Fn.create(bytesToNumberLE(sha512(concatBytes(r, publicKey, message))));
    return Point.BASE.multiplyUnsafe(s).equals(R.add(A.multiplyUnsafe(k)));
  },

  x25519KeyPair() {
    const secretKey = x25519.utils.randomSecretKey();
    return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
  },

  // noble refuses the all-zero secret itself
  x25519: (secretKey, peerPublicKey) => x25519.getSharedSecret(secretKey, peerPublicKey),

  seal: (key, nonce, aad, plaintext) => chacha20poly1305(key, nonce, aad).encrypt(plaintext),

  open(key, nonce, aad, sealed) {
    try {
      return chacha20poly1305(key, nonce, aad).decrypt(sealed);
    } catch {
      throw new AuthenticationError();
    }
  },
};
