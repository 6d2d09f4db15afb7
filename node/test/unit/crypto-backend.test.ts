import * as nodeCrypto from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthenticationError, type CryptoBackend } from "../../src/crypto/backend.js";
import { chooseBackend, isLowOrderX25519, loadNativeBackend } from "../../src/crypto/index.js";
import { nativeBackend } from "../../src/crypto/native.js";
import { nobleBackend } from "../../src/crypto/noble.js";
import { selfTest } from "../../src/crypto/self-test.js";

const native = nativeBackend(nodeCrypto);
const random = (n: number) => new Uint8Array(nodeCrypto.randomBytes(n));

describe("choosing the crypto backend", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it("takes node:crypto on this Node.js, which passes the self-test", () => {
    const loaded = loadNativeBackend();
    expect(loaded).not.toBeInstanceOf(Error);
    expect((loaded as CryptoBackend).name).toBe("native");
  });

  it("takes noble when node:crypto cannot serve, unless told to insist on native", () => {
    const missing = () => new Error("node:crypto is not available in this runtime");
    expect(chooseBackend(undefined, missing)).toBe(nobleBackend);
    expect(chooseBackend("auto", missing)).toBe(nobleBackend);
    expect(() => chooseBackend("native", missing)).toThrow(
      "HERMES_CRYPTO=native, but node:crypto is not available in this runtime",
    );
    expect(chooseBackend("noble", () => native)).toBe(nobleBackend);
    expect(chooseBackend("", () => native)).toBe(native);
    expect(() => chooseBackend("openssl", () => native)).toThrow(
      'HERMES_CRYPTO must be auto, native or noble, got "openssl"',
    );
  });

  it("reads HERMES_CRYPTO once, when the module loads", async () => {
    vi.stubEnv("HERMES_CRYPTO", "noble");
    vi.resetModules();
    const loaded = await import("../../src/crypto/index.js");
    expect(loaded.cryptoBackend().name).toBe("noble");
    vi.stubEnv("HERMES_CRYPTO", "native");
    expect(loaded.cryptoBackend().name).toBe("noble");
    vi.resetModules();
    expect((await import("../../src/crypto/index.js")).cryptoBackend().name).toBe("native");
  });

  it("refuses a backend that gives a wrong known answer, naming the primitive", () => {
    expect(() => selfTest({ ...native, seal: (k, n, a, p) => native.seal(k, n, a, p).fill(0) })).toThrow(
      /^ChaCha20-Poly1305: wrong answer/,
    );
    expect(() =>
      selfTest({
        ...native,
        x25519: () => {
          throw new Error("Invalid key type");
        },
      }),
    ).toThrow("X25519: Invalid key type");
    expect(() => selfTest(native)).not.toThrow();
    expect(() => selfTest(nobleBackend)).not.toThrow();
  });
});

/** Both backends on the same random inputs: the same bytes out, each opening the other's. */
describe("native and noble agree", () => {
  const both: readonly CryptoBackend[] = [native, nobleBackend];

  it.each([0, 1, 15, 16, 63, 64, 65, 1024, 65_536])(
    "ChaCha20-Poly1305 on %i bytes, and both refuse a changed bit",
    (size) => {
      const [key, nonce, aad, plaintext] = [random(32), random(12), random(32), random(size)];
      const sealed = native.seal(key, nonce, aad, plaintext);
      expect(sealed).toBeInstanceOf(Uint8Array);
      expect(sealed).toEqual(nobleBackend.seal(key, nonce, aad, plaintext));
      for (const backend of both) {
        expect(backend.open(key, nonce, aad, sealed)).toEqual(plaintext);
        const flipped = Uint8Array.from(sealed);
        flipped[Math.floor(Math.random() * sealed.length)]! ^= 1;
        expect(() => backend.open(key, nonce, aad, flipped)).toThrow(AuthenticationError);
        expect(() => backend.open(key, nonce, random(32), sealed)).toThrow(AuthenticationError);
        expect(() => backend.open(key, nonce, aad, sealed.subarray(0, 15))).toThrow(AuthenticationError);
      }
    },
  );

  it("ChaCha20 keystream: RFC 8439 A.1 #1, and the same bytes on both at any length", () => {
    expect(Buffer.from(native.keystream(new Uint8Array(32), 64)).toString("hex")).toBe(
      "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586",
    );
    for (const length of [1, 32, 64, 65, 1056, 4096]) {
      const key = random(32);
      expect(native.keystream(key, length)).toEqual(nobleBackend.keystream(key, length));
    }
  });

  it("X25519 on random keys, and on peer keys with the top bit set or u ≥ p (RFC 7748 masks and reduces)", () => {
    const peers = [
      ...Array.from({ length: 20 }, () => native.x25519KeyPair().publicKey),
      ...Array.from({ length: 20 }, () => nobleBackend.x25519KeyPair().publicKey),
      Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 9 : i === 31 ? 0x80 : 0)), // u = 9, top bit set
      Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 0xed + 9 : i === 31 ? 0x7f : 0xff)), // u = p + 9
    ];
    for (const peer of peers) {
      const secret = random(32);
      expect(native.x25519(secret, peer)).toEqual(nobleBackend.x25519(secret, peer));
    }
  });

  it("X25519 key pairs: the public key of either backend is the one its secret agrees with", () => {
    for (const backend of both) {
      const { secretKey, publicKey } = backend.x25519KeyPair();
      const peer = random(32);
      const peerPublic = nobleBackend.x25519(
        peer,
        Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 9 : 0)),
      );
      expect(publicKey).toHaveLength(32);
      // ECDH both ways: only right if publicKey belongs to secretKey
      expect(native.x25519(secretKey, peerPublic)).toEqual(nobleBackend.x25519(peer, publicKey));
    }
  });

  it("X25519 with a fresh key pair: the public key returned is the one the agreement was made with", () => {
    for (const backend of both) {
      const peer = backend.x25519KeyPair();
      const fresh = backend.x25519Fresh(peer.publicKey);
      expect(fresh.shared).toHaveLength(32);
      expect(nobleBackend.x25519(peer.secretKey, fresh.publicKey)).toEqual(fresh.shared);
      expect(backend.x25519Fresh(peer.publicKey).publicKey).not.toEqual(fresh.publicKey);
    }
  });

  it("seals after headroom the caller fills, the same bytes on both", () => {
    const [key, nonce, aad, plaintext] = [random(32), random(12), random(32), random(100)];
    const plain = native.seal(key, nonce, aad, plaintext);
    for (const backend of both) {
      const roomy = backend.seal(key, nonce, aad, plaintext, 7);
      expect(roomy.subarray(0, 7)).toEqual(new Uint8Array(7));
      expect(roomy.subarray(7)).toEqual(plain);
    }
  });

  it("X25519 refuses low-order peer keys on both, with a fresh key pair too", () => {
    for (const backend of both) {
      expect(() => backend.x25519Fresh(new Uint8Array(32))).toThrow();
      expect(() => backend.x25519(random(32), new Uint8Array(32))).toThrow();
      expect(() =>
        backend.x25519(
          random(32),
          Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0)),
        ),
      ).toThrow();
    }
  });

  it("the low-order X25519 keys the ratchet refuses in an announce are the ones whose agreement is zero", () => {
    const lowOrder = [
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
      "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ].map((h) => new Uint8Array(Buffer.from(h, "hex")));
    for (const u of lowOrder) {
      const marked = Uint8Array.from(u, (b, i) => (i === 31 ? b | 0x80 : b));
      expect([isLowOrderX25519(u), isLowOrderX25519(marked)]).toEqual([true, true]);
      for (const backend of both) expect(() => backend.x25519(random(32), u)).toThrow();
    }
    for (let k = 0; k < 20; k++) expect(isLowOrderX25519(native.x25519KeyPair().publicKey)).toBe(false);
  });

  it("Ed25519: the same signatures, each verified by the other", () => {
    for (let i = 0; i < 20; i++) {
      const seed = random(32);
      const message = random(i * 50);
      const [a, b] = [native.signingKey(seed), nobleBackend.signingKey(seed)];
      expect(a.publicKey).toEqual(b.publicKey);
      const signature = a.sign(message);
      expect(signature).toEqual(b.sign(message));
      expect(nobleBackend.verify(a.publicKey, signature, message)).toBe(true);
      expect(native.verify(b.publicKey, signature, message)).toBe(true);
      expect(native.verify(b.publicKey, signature, random(8))).toBe(false);
    }
  });
});
