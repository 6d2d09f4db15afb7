import * as nodeCrypto from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { bytesToNumberLE, concatBytes, numberToBytesLE } from "@noble/curves/utils.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { describe, expect, it } from "vitest";
import type { CryptoBackend } from "../../src/crypto/backend.js";
import { verifyEd25519 } from "../../src/crypto/index.js";
import { nativeBackend } from "../../src/crypto/native.js";
import { nobleBackend } from "../../src/crypto/noble.js";
import { isWeakPoint } from "../../src/crypto/weak-points.js";
import { describeEachBackend } from "../support/crypto-backends.js";

/**
 * Ed25519 edge cases built with curve arithmetic here, checked against what OpenSSL, the noble
 * library's own verify() (what Hermes used before) and Hermes's verifyEd25519() answer. The
 * table is the evidence for docs/security.md#signatures.
 */
const { Point } = ed25519;
const L = Point.Fn.ORDER;
const P = Point.Fp.ORDER;
const native = nativeBackend(nodeCrypto);

const le = (n: bigint) => numberToBytesLE(n, 32);
const challenge = (R: Uint8Array, A: Uint8Array, m: Uint8Array) =>
  Point.Fn.create(bytesToNumberLE(sha512(concatBytes(R, A, m))));
const randomScalar = () => Point.Fn.create(bytesToNumberLE(nodeCrypto.randomBytes(64)));

/**
 * A point of order 8, found without the constants under test: [L]Q of a random point Q is its
 * small-order component (times L mod 8 = 5), of order 8 for half of all points.
 */
const T8 = (() => {
  for (;;) {
    let q: InstanceType<typeof Point>;
    try {
      q = Point.fromBytes(nodeCrypto.randomBytes(32));
    } catch {
      continue; // not on the curve
    }
    const t = q.multiplyUnsafe(L - 1n).add(q);
    if (!t.double().double().is0()) return t;
  }
})();
const SMALL_ORDER = Array.from({ length: 8 }, (_, i) => T8.multiplyUnsafe(BigInt(i)));

/** The first message whose challenge k meets `want`, for signatures that hold only for some k. */
function messageWhere(R: Uint8Array, A: Uint8Array, want: (k: bigint) => boolean): Uint8Array {
  for (let i = 0; i < 10_000; i++) {
    const m = new TextEncoder().encode(`message ${i}`);
    if (want(challenge(R, A, m))) return m;
  }
  throw new Error("no message found");
}

/** A signature by secret scalar `a` for key bytes `A`, with nonce point R = [r]B + extra. */
function signWith(a: bigint, A: Uint8Array, m: Uint8Array, extra = Point.ZERO): Uint8Array {
  const r = randomScalar();
  const R = Point.BASE.multiply(r).add(extra).toBytes();
  return concatBytes(R, le(Point.Fn.create(r + challenge(R, A, m) * a)));
}

interface Case {
  name: string;
  publicKey: Uint8Array;
  signature: Uint8Array;
  message: Uint8Array;
  /** node:crypto alone */
  openssl: boolean;
  /** @noble/curves ed25519.verify() with its defaults (ZIP 215, cofactored) */
  nobleLibrary: boolean;
  /** verifyEd25519() on either backend */
  accepted: boolean;
}

function cases(): Case[] {
  const identity = Point.ZERO.toBytes();
  const zeroS = new Uint8Array(32);
  const forgery = (publicKey: Uint8Array, order: bigint) => ({
    publicKey,
    signature: concatBytes(identity, zeroS), // [0]B = O + [k]A whenever k·A = O
    message: messageWhere(identity, publicKey, (k) => k % order === 0n),
  });
  const a = randomScalar();
  const A = Point.BASE.multiply(a);
  const honestKey = A.toBytes();
  const message = new TextEncoder().encode("hello");
  const honest = signWith(a, honestKey, message);
  const mixedKey = A.add(T8).toBytes();
  const smallR = T8.toBytes();
  const smallRMessage = message;
  const smallRSig = concatBytes(smallR, le(Point.Fn.create(challenge(smallR, honestKey, smallRMessage) * a)));
  const mixedSigned = (residue: boolean) => {
    const r = randomScalar();
    const R = Point.BASE.multiply(r).toBytes();
    const m = messageWhere(R, mixedKey, (k) => (k % 8n !== 0n) === residue);
    return { signature: concatBytes(R, le(Point.Fn.create(r + challenge(R, mixedKey, m) * a))), message: m };
  };
  const offCurve = (() => {
    for (let y = 2n; ; y++) {
      const bytes = le(y);
      try {
        Point.fromBytes(bytes);
      } catch {
        return bytes;
      }
    }
  })();
  return [
    {
      name: "an honest signature",
      publicKey: honestKey,
      signature: honest,
      message,
      openssl: true,
      nobleLibrary: true,
      accepted: true,
    },
    {
      name: "the honest signature with s + L (malleated)",
      publicKey: honestKey,
      signature: concatBytes(honest.subarray(0, 32), le(bytesToNumberLE(honest.subarray(32)) + L)),
      message,
      openssl: false,
      nobleLibrary: false,
      accepted: false,
    },
    {
      name: "the identity as key: R = identity, s = 0 passes for any message",
      ...forgery(identity, 1n),
      openssl: true,
      nobleLibrary: true,
      accepted: false,
    },
    {
      name: "an order-8 key, forged the same way",
      ...forgery(T8.toBytes(), 8n),
      openssl: true,
      nobleLibrary: true,
      accepted: false,
    },
    {
      name: "a non-canonical key (y = p, an order-4 point), forged",
      ...forgery(le(P), 4n),
      openssl: true,
      nobleLibrary: true,
      accepted: false,
    },
    {
      name: "a non-canonical key (the identity with x = −0), forged",
      ...forgery(concatBytes(identity.subarray(0, 31), new Uint8Array([0x80])), 1n),
      openssl: true,
      nobleLibrary: true,
      accepted: false,
    },
    {
      name: "R of small order (s = k·a)",
      publicKey: honestKey,
      signature: smallRSig,
      message: smallRMessage,
      openssl: false,
      nobleLibrary: true,
      accepted: false,
    },
    {
      name: "R with a small-order component",
      publicKey: honestKey,
      signature: signWith(a, honestKey, message, T8),
      message,
      openssl: false,
      nobleLibrary: true,
      accepted: false,
    },
    {
      name: "a key with a small-order component, k ≢ 0 mod 8 (only the cofactored equation holds)",
      publicKey: mixedKey,
      ...mixedSigned(true),
      openssl: false,
      nobleLibrary: true,
      accepted: false,
    },
    {
      name: "a key with a small-order component, k ≡ 0 mod 8 (both equations hold: accepted everywhere)",
      publicKey: mixedKey,
      ...mixedSigned(false),
      openssl: true,
      nobleLibrary: true,
      accepted: true,
    },
    {
      name: "a key that is not on the curve",
      publicKey: offCurve,
      signature: honest,
      message,
      openssl: false,
      nobleLibrary: false,
      accepted: false,
    },
  ];
}

function answer(backend: CryptoBackend, c: Case): boolean {
  try {
    return backend.verify(c.publicKey, c.signature, c.message);
  } catch {
    return false;
  }
}

describe("weak points", () => {
  it("are the eight points of small order, in every encoding, canonical or not", () => {
    for (const point of SMALL_ORDER) {
      expect(point.multiplyUnsafe(8n).is0()).toBe(true);
      const bytes = point.toBytes();
      expect(isWeakPoint(bytes)).toBe(true);
      expect(isWeakPoint(concatBytes(bytes.subarray(0, 31), new Uint8Array([bytes[31]! ^ 0x80])))).toBe(true);
    }
    expect(new Set(SMALL_ORDER.map((p) => p.toHex())).size).toBe(8);
    for (let y = P; y < 2n ** 255n; y++) {
      expect(isWeakPoint(le(y))).toBe(true);
      expect(isWeakPoint(le(y + 2n ** 255n))).toBe(true);
    }
  });

  it("leave out every other point: prime order, or with a small-order component", () => {
    for (let i = 0; i < 50; i++) {
      const point = Point.BASE.multiply(randomScalar());
      expect(isWeakPoint(point.toBytes())).toBe(false);
      expect(isWeakPoint(point.add(T8).toBytes())).toBe(false);
    }
    expect(isWeakPoint(le(P - 20n))).toBe(false);
  });
});

describe("Ed25519 edge cases: what each implementation answers", () => {
  it.each(cases().map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect({
      openssl: answer(native, c),
      nobleLibrary: ed25519.verify(c.signature, c.message, c.publicKey),
      nobleBackend: answer(nobleBackend, c),
    }).toEqual({
      openssl: c.openssl,
      nobleLibrary: c.nobleLibrary,
      // the noble backend checks the cofactorless equation as OpenSSL does, but refuses
      // non-canonical encodings when decoding
      nobleBackend: c.openssl && !/non-canonical/.test(c.name),
    });
  });
});

describeEachBackend("verifyEd25519", () => {
  it.each(cases().map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect(verifyEd25519(c.publicKey, c.signature, c.message)).toBe(c.accepted);
  });

  it("answers false, never throws, for wrong lengths and random bytes", () => {
    const key = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
    const sig = new Uint8Array(64);
    for (const [publicKey, signature] of [
      [key.subarray(0, 31), sig],
      [concatBytes(key, new Uint8Array(1)), sig],
      [key, sig.subarray(0, 63)],
      [key, new Uint8Array(65)],
      [new Uint8Array(0), new Uint8Array(0)],
    ] as const) {
      expect(verifyEd25519(publicKey, signature, new Uint8Array(0))).toBe(false);
    }
    for (let i = 0; i < 100; i++) {
      // s < L half the time, so that the curve arithmetic runs too
      const s = i % 2 === 0 ? le(randomScalar()) : nodeCrypto.randomBytes(32);
      const signature = concatBytes(nodeCrypto.randomBytes(32), s);
      expect(verifyEd25519(nodeCrypto.randomBytes(32), signature, nodeCrypto.randomBytes(i))).toBe(false);
      expect(verifyEd25519(key, signature, nodeCrypto.randomBytes(i))).toBe(false);
    }
  });
});
