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

/**
 * X25519 public keys (u, little-endian, the top bit ignored as RFC 7748 says) of small order, or
 * non-canonical encodings of them: an agreement with one gives a value every party knows. The
 * blocklist of libsodium's crypto_scalarmult: 0, 1, the two points of order 8, p − 1, p, p + 1.
 */
const LOW_ORDER_U: readonly Uint8Array[] = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
  "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
].map(hexToBytes);

/** True for an X25519 public key whose agreement would be all zero (or that is not 32 bytes). */
export function isLowOrderX25519(u: Uint8Array): boolean {
  if (u.length !== 32) return true;
  return LOW_ORDER_U.some((bad) => bad.every((b, i) => (i === 31 ? (u[31]! & 0x7f) === b : u[i] === b)));
}
