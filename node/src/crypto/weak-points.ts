import { hexToBytes } from "@noble/curves/utils.js";

/**
 * Ed25519 point encodings that signature checks refuse before any curve arithmetic, the rule of
 * libsodium's crypto_sign_verify_detached: non-canonical ones (y ≥ p, which RFC 8032 refuses and
 * OpenSSL accepts) and the points of small order. Under a small-order key anyone can sign
 * anything (with the identity as key, R = identity and s = 0 verify every message), and a
 * small-order R lets one signature pass for several keys.
 */

/** y (32 bytes, little-endian) of the eight points of order 1, 2, 4 and 8; x's sign picks the point. */
const SMALL_ORDER_Y: readonly Uint8Array[] = [
  "0000000000000000000000000000000000000000000000000000000000000000", // order 4, x = ±√−1
  "0100000000000000000000000000000000000000000000000000000000000000", // the identity
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2, y = −1
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8, −y of the above
].map(hexToBytes);

/** True for a 32-byte encoding that is non-canonical or names a point of small order. */
export function isWeakPoint(encoded: Uint8Array): boolean {
  const top = (encoded[31] ?? 0) & 0x7f; // the top bit is x's sign, not part of y
  const body = encoded.subarray(0, 31);
  if (top === 0x7f && (encoded[0] ?? 0) >= 0xed && body.subarray(1).every((b) => b === 0xff)) return true; // y ≥ 2^255 − 19
  return SMALL_ORDER_Y.some((y) => y[31] === top && body.every((b, i) => b === y[i]));
}
