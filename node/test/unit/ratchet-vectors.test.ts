import { createCipheriv, createPrivateKey, createPublicKey, diffieHellman, hkdfSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { expect, it } from "vitest";
import { describeEachBackend } from "../support/crypto-backends.js";
import { buildRatchetVectors, bytes, hex } from "../support/ratchet-vectors.js";

/**
 * The published ratchet vectors (docs/vectors/chat-ratchet.json, explained in
 * docs/approuter-protocol.md#the-ratchet-e2e-v2): the SDK makes exactly these bytes on both
 * backends, and node:crypto alone, following the document, recomputes every one of them from
 * the inputs. HERMES_WRITE_VECTORS=1 writes the file from the SDK first.
 */
const file = new URL("../../../docs/vectors/chat-ratchet.json", import.meta.url);
if (process.env.HERMES_WRITE_VECTORS === "1")
  writeFileSync(file, `${JSON.stringify(buildRatchetVectors(), null, 2)}\n`);
const vectors = JSON.parse(readFileSync(file, "utf8")) as ReturnType<typeof buildRatchetVectors>;

describeEachBackend("ratchet test vectors", () => {
  it("the SDK makes the published bytes, and the receiving ratchet opens every message", () => {
    expect(buildRatchetVectors()).toEqual(vectors);
  });
});

// ---- the same values from the document alone, with node:crypto

function x25519(secret: string, peer: Uint8Array): Uint8Array {
  const privateKey = createPrivateKey({
    key: Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), bytes(secret)]),
    format: "der",
    type: "pkcs8",
  });
  const masked = Uint8Array.from(peer);
  masked[31]! &= 0x7f; // RFC 7748: the top bit is ignored (it carries the ratchet bit)
  const publicKey = createPublicKey({
    key: Buffer.concat([Buffer.from("302a300506032b656e032100", "hex"), masked]),
    format: "der",
    type: "spki",
  });
  return new Uint8Array(diffieHellman({ privateKey, publicKey }));
}

function publicOf(secret: string): string {
  const privateKey = createPrivateKey({
    key: Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), bytes(secret)]),
    format: "der",
    type: "pkcs8",
  });
  return hex(createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(-32));
}

const hkdf64 = (ikm: Uint8Array, salt: Uint8Array, info: string) =>
  new Uint8Array(hkdfSync("sha256", ikm, salt, info, 64));

/** ChaCha20 (RFC 8439) keystream: key, a zero nonce, counter 0 (node's 16-byte IV is counter ‖ nonce). */
function keystream(key: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(createCipheriv("chacha20", key, Buffer.alloc(16)).update(Buffer.alloc(length)));
}

it("node:crypto alone, following the document, recomputes every published value", () => {
  const v = vectors;
  const i = v.inputs;
  // The ephemeral keys are X25519 public keys with bit 7 of byte 31 set.
  const marked = (secret: string) => {
    const key = bytes(publicOf(secret));
    key[31]! |= 0x80;
    return hex(key);
  };
  expect(v.transcript.initiatorEphemeralKey).toBe(marked(i.initiatorEphemeralSecretKey));
  expect(v.transcript.targetEphemeralKey).toBe(marked(i.targetEphemeralSecretKey));

  // The handshake: the agreement, and HKDF salted with the transcript hash into root and chain keys.
  const agreement = x25519(i.initiatorEphemeralSecretKey, bytes(v.transcript.targetEphemeralKey));
  expect(hex(agreement)).toBe(v.handshake.agreement);
  expect(hex(x25519(i.targetEphemeralSecretKey, bytes(v.transcript.initiatorEphemeralKey)))).toBe(
    hex(agreement),
  );
  for (const [direction, keys] of [
    ["initiator->target", v.handshake.initiatorToTarget],
    ["target->initiator", v.handshake.targetToInitiator],
  ] as const) {
    const okm = hkdf64(agreement, bytes(v.handshake.salt), `hermes/ratchet-init/v2 ${direction}`);
    expect([hex(okm.subarray(0, 32)), hex(okm.subarray(32))]).toEqual([keys.root, keys.chainKey]);
  }

  // A chain block: 1056 bytes of keystream, the next chain key first, then 32 message keys.
  const block = keystream(bytes(v.chain.chainKey), 1056);
  expect(hex(block.subarray(0, 32))).toBe(v.chain.nextChainKey);
  expect(v.chain.messageKeys).toEqual(
    Array.from({ length: 32 }, (_, k) => hex(block.subarray(32 + 32 * k, 64 + 32 * k))),
  );
  const second = keystream(block.subarray(0, 32), 64);
  expect([hex(second.subarray(0, 32)), hex(second.subarray(32))]).toEqual([
    v.chain.secondBlock.nextChainKey,
    v.chain.secondBlock.firstMessageKey,
  ]);

  // Each message: its header by the layout, its key from its chain, its AEAD output.
  const chains = {
    initiator: { ...v.handshake.initiatorToTarget, n: 0 },
    target: { ...v.handshake.targetToInitiator, n: 0 },
  };
  // Each app's receive keys by index: #0 is its ephemeral key, later ones it announced.
  const receiveKeys = {
    initiator: [v.transcript.initiatorEphemeralKey],
    target: [v.transcript.targetEphemeralKey],
  };
  for (const m of v.messages) {
    const chain = chains[m.from];
    const header = bytes(m.header);
    const view = new DataView(header.buffer);
    expect(header[0]).toBe(2);
    const flags = header[1]!;
    expect([view.getUint32(2), view.getUint32(6), Number(view.getBigUint64(10))]).toEqual([
      m.epoch,
      m.n,
      m.sealedAtMs,
    ]);
    let at = 18;
    if ("step" in m && m.step) {
      expect(flags & 1).toBe(1);
      expect([view.getUint32(at), hex(header.subarray(at + 4, at + 36))]).toEqual([
        m.step.peerKeyIndex,
        m.step.ratchetKey,
      ]);
      expect(m.step.ratchetKey).toBe(publicOf(m.step.ratchetSecretKey));
      const peer = m.from === "initiator" ? "target" : "initiator";
      expect(m.step.peerKey).toBe(receiveKeys[peer][m.step.peerKeyIndex]);
      const dh = x25519(m.step.ratchetSecretKey, bytes(m.step.peerKey));
      expect(hex(dh)).toBe(m.step.agreement);
      const okm = hkdf64(dh, bytes(chain.root), "hermes/ratchet-step/v2");
      expect([hex(okm.subarray(0, 32)), hex(okm.subarray(32))]).toEqual([m.step.root, m.step.chainKey]);
      Object.assign(chain, { root: m.step.root, chainKey: m.step.chainKey, n: 0 });
      at += 36;
    } else expect(flags & 1).toBe(0);
    if ("announce" in m && m.announce) {
      expect(flags & 2).toBe(2);
      expect([view.getUint32(at), hex(header.subarray(at + 4, at + 36))]).toEqual([
        m.announce.index,
        m.announce.publicKey,
      ]);
      expect(m.announce.publicKey).toBe(publicOf(m.announce.secretKey));
      receiveKeys[m.from][m.announce.index] = m.announce.publicKey;
      at += 36;
    } else expect(flags & 2).toBe(0);
    expect(header.length).toBe(at);
    // Message n of a chain: block ⌊n/32⌋, slot n mod 32 (these chains stay in their first block).
    expect(m.n).toBe(chain.n);
    const keys = keystream(bytes(chain.chainKey), 1056);
    expect(hex(keys.subarray(32 + 32 * m.n, 64 + 32 * m.n))).toBe(m.messageKey);
    chain.n++;
    const nonce = Buffer.alloc(12);
    nonce.writeBigUInt64BE(BigInt(m.seq), 4);
    expect(hex(nonce)).toBe(m.nonce);
    const aad = Buffer.concat([header, Buffer.from(i.chatId)]);
    expect(hex(aad)).toBe(m.associatedData);
    const cipher = createCipheriv("chacha20-poly1305", bytes(m.messageKey), nonce, { authTagLength: 16 });
    cipher.setAAD(aad, { plaintextLength: Buffer.byteLength(m.plaintext) });
    const body = Buffer.concat([cipher.update(m.plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
    expect(hex(Buffer.concat([header, body]))).toBe(m.ciphertext);
  }
});
