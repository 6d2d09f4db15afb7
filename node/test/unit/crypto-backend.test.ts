import * as nodeCrypto from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthenticationError, type CryptoBackend } from "../../src/crypto/backend.js";
import { chooseBackend, loadNativeBackend } from "../../src/crypto/index.js";
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

  it("X25519 refuses low-order peer keys on both", () => {
    for (const backend of both) {
      expect(() => backend.x25519(random(32), new Uint8Array(32))).toThrow();
      expect(() =>
        backend.x25519(
          random(32),
          Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0)),
        ),
      ).toThrow();
    }
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
