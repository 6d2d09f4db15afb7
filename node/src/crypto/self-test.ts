import { bytesToHex, hexToBytes } from "@noble/curves/utils.js";
import type { CryptoBackend } from "./backend.js";

/**
 * Known answers each backend must give before it is used, as FIPS modules test themselves at
 * start: a runtime whose node:crypto lacks a primitive (or refuses it under a FIPS policy)
 * throws here, and gets the pure-JS backend instead.
 */
const ED25519 = {
  // RFC 8032 §7.1, TEST 1 (the empty message)
  seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
  publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  signature:
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
};
const X25519 = {
  // RFC 7748 §5.2, the first vector
  scalar: "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
  u: "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
  out: "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
};
const CHACHA = {
  // the chat-key vector of node/test/unit/e2e-crypto.test.ts: "hello" as seq 1 of a chat
  key: "16f8e1db36092a55445ca2467fb2a449e1528b82401cd080a9d3bb62152626b9",
  nonce: "000000000000000000000001",
  aad: "3030313132323333343435353636373738383939616162626363646465656666",
  plaintext: "68656c6c6f",
  sealed: "6ef79d724e7a8d4b639b1dc4653e60e0cb5f13683d",
};

/** Throws, naming the primitive, unless the backend gives every known answer. */
export function selfTest(backend: CryptoBackend): void {
  const check = (primitive: string, run: () => boolean) => {
    let ok: boolean;
    try {
      ok = run();
    } catch (error) {
      throw new Error(`${primitive}: ${(error as Error).message}`, { cause: error });
    }
    if (!ok) throw new Error(`${primitive}: wrong answer to a known-answer test`);
  };
  check("Ed25519", () => {
    const key = backend.signingKey(hexToBytes(ED25519.seed));
    const signature = key.sign(new Uint8Array(0));
    return (
      bytesToHex(key.publicKey) === ED25519.publicKey &&
      bytesToHex(signature) === ED25519.signature &&
      backend.verify(key.publicKey, signature, new Uint8Array(0)) &&
      !backend.verify(key.publicKey, signature, new Uint8Array(1))
    );
  });
  check(
    "X25519",
    () => bytesToHex(backend.x25519(hexToBytes(X25519.scalar), hexToBytes(X25519.u))) === X25519.out,
  );
  check("ChaCha20-Poly1305", () => {
    const [key, nonce, aad] = [CHACHA.key, CHACHA.nonce, CHACHA.aad].map(hexToBytes) as [
      Uint8Array,
      Uint8Array,
      Uint8Array,
    ];
    const sealed = backend.seal(key, nonce, aad, hexToBytes(CHACHA.plaintext));
    return (
      bytesToHex(sealed) === CHACHA.sealed &&
      bytesToHex(backend.open(key, nonce, aad, sealed)) === CHACHA.plaintext
    );
  });
}
