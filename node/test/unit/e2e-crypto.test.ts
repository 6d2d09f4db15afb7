import { createHash, createPrivateKey, createPublicKey, diffieHellman, hkdfSync } from "node:crypto";
import { expect, it } from "vitest";
import { AuthenticationError } from "../../src/crypto/index.js";
import { deriveChatKeys, newEphemeral, open, seal, type Transcript } from "../../src/sdk/e2e.js";
import { describeEachBackend } from "../support/crypto-backends.js";
import { flipped, newChatId } from "../support/frames.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function transcriptFor(i: Uint8Array, t: Uint8Array, chatId = newChatId()): Transcript {
  return {
    chatId,
    initiatorAppId: "a".repeat(32),
    targetAppId: "b".repeat(32),
    initiatorEphemeralKey: i,
    targetEphemeralKey: t,
  };
}

function pair() {
  const i = newEphemeral();
  const t = newEphemeral();
  const transcript = transcriptFor(i.publicKey, t.publicKey);
  return {
    transcript,
    i,
    t,
    initiator: deriveChatKeys(transcript, "initiator", i.secretKey),
    target: deriveChatKeys(transcript, "target", t.secretKey),
  };
}

describeEachBackend("e2e: key agreement", () => {
  it("gives both roles the same key per direction, and different keys for the two directions", () => {
    const { initiator, target } = pair();
    expect(hex(initiator.send)).toBe(hex(target.receive));
    expect(hex(initiator.receive)).toBe(hex(target.send));
    expect(hex(initiator.send)).not.toBe(hex(initiator.receive));
    expect(initiator.send).toHaveLength(32);
  });

  it("binds every transcript field into the keys", () => {
    const { transcript, i } = pair();
    const base = hex(deriveChatKeys(transcript, "initiator", i.secretKey).send);
    const other = newEphemeral().publicKey;
    const variants: Partial<Transcript>[] = [
      { chatId: newChatId() },
      { initiatorAppId: "c".repeat(32) },
      { targetAppId: "c".repeat(32) },
      { initiatorAppId: transcript.targetAppId, targetAppId: transcript.initiatorAppId },
      { initiatorEphemeralKey: other }, // only in the salt, for the initiator
      { targetEphemeralKey: other },
    ];
    const seen = new Set([base]);
    for (const v of variants) {
      const keys = deriveChatKeys({ ...transcript, ...v }, "initiator", i.secretKey);
      seen.add(hex(keys.send));
    }
    expect(seen.size).toBe(variants.length + 1);
  });

  it("gives a fresh chat fresh keys even between the same apps", () => {
    const a = pair();
    const b = pair();
    expect(hex(a.initiator.send)).not.toBe(hex(b.initiator.send));
  });

  it.each([
    ["all zero", new Uint8Array(32)],
    ["u = 1", Uint8Array.from({ length: 32 }, (_, k) => (k === 0 ? 1 : 0))],
  ])("refuses a low-order peer key (%s)", (_name, lowOrder) => {
    const me = newEphemeral();
    expect(() => deriveChatKeys(transcriptFor(me.publicKey, lowOrder), "initiator", me.secretKey)).toThrow();
    expect(() => deriveChatKeys(transcriptFor(lowOrder, me.publicKey), "target", me.secretKey)).toThrow();
  });
});

describeEachBackend("e2e: sealing", () => {
  it("round-trips and adds a 16-byte tag", () => {
    const { initiator, target, transcript } = pair();
    const plaintext = text("hello, hermes");
    const sealed = seal(initiator.send, transcript.chatId, 1, plaintext);
    expect(sealed).toHaveLength(plaintext.length + 16);
    expect(hex(sealed)).not.toContain(hex(plaintext));
    expect(hex(open(target.receive, transcript.chatId, 1, sealed))).toBe(hex(plaintext));
    const empty = seal(target.send, transcript.chatId, 1, new Uint8Array(0));
    expect(open(initiator.receive, transcript.chatId, 1, empty)).toHaveLength(0);
  });

  it("uses the seq as the nonce: equal plaintexts seal differently", () => {
    const { initiator, transcript } = pair();
    const one = seal(initiator.send, transcript.chatId, 1, text("same"));
    const two = seal(initiator.send, transcript.chatId, 2, text("same"));
    const far = seal(initiator.send, transcript.chatId, 2 ** 32 + 1, text("same"));
    expect(new Set([hex(one), hex(two), hex(far)]).size).toBe(3);
  });

  it("fails to open a tampered ciphertext, another seq, another chat id or another key", () => {
    const { initiator, target, transcript } = pair();
    const sealed = seal(initiator.send, transcript.chatId, 7, text("secret"));
    expect(() => open(target.receive, transcript.chatId, 7, flipped(sealed, 0))).toThrow(AuthenticationError);
    expect(() => open(target.receive, transcript.chatId, 7, flipped(sealed, sealed.length - 1))).toThrow();
    expect(() => open(target.receive, transcript.chatId, 8, sealed)).toThrow();
    expect(() => open(target.receive, newChatId(), 7, sealed)).toThrow();
    expect(() => open(target.send, transcript.chatId, 7, sealed)).toThrow();
    expect(() => open(target.receive, transcript.chatId, 7, sealed.subarray(0, 15))).toThrow();
  });
});

// ---- a fixed vector, computed independently of the code under test

/** X25519 with Node's built-in crypto (OpenSSL). */
function nodePrivateKey(secret: Uint8Array) {
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), secret]);
  return createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
}

function nodePublicKey(secret: Uint8Array): Uint8Array {
  const spki = createPublicKey(nodePrivateKey(secret)).export({ format: "der", type: "spki" });
  return new Uint8Array(spki.subarray(-32));
}

function nodeShared(secret: Uint8Array, peerPublic: Uint8Array): Buffer {
  const spki = Buffer.concat([Buffer.from("302a300506032b656e032100", "hex"), peerPublic]);
  const publicKey = createPublicKey({ key: spki, format: "der", type: "spki" });
  return diffieHellman({ privateKey: nodePrivateKey(secret), publicKey });
}

/** The transcript encoding as the design states it: label and fields, each with a u32 BE length. */
function lengthPrefixed(parts: (string | Uint8Array)[]): Buffer {
  return Buffer.concat(
    parts.map((p) => {
      const bytes = typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length);
      return Buffer.concat([len, bytes]);
    }),
  );
}

describeEachBackend("e2e: fixed vector", () => {
  const iSecret = Uint8Array.from({ length: 32 }, (_, k) => k + 1);
  const tSecret = Uint8Array.from({ length: 32 }, (_, k) => k + 0x41);
  const chatId = "00112233445566778899aabbccddeeff";
  // Values computed with Python's `cryptography` (X25519, HKDF-SHA256, ChaCha20-Poly1305).
  const expected = {
    iPublic: "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c",
    tPublic: "64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466",
    i2t: "16f8e1db36092a55445ca2467fb2a449e1528b82401cd080a9d3bb62152626b9",
    t2i: "162a64d05b066201637f4bdf072054d2488c94d50409767bc32fa2fafa36887a",
    helloSeq1: "6ef79d724e7a8d4b639b1dc4653e60e0cb5f13683d",
  };

  it("derives the expected keys from fixed ephemeral secrets", () => {
    const iPublic = nodePublicKey(iSecret);
    const tPublic = nodePublicKey(tSecret);
    expect(hex(iPublic)).toBe(expected.iPublic);
    expect(hex(tPublic)).toBe(expected.tPublic);
    const transcript = transcriptFor(iPublic, tPublic, chatId);

    // Independent derivation with Node's crypto.
    const shared = nodeShared(iSecret, tPublic);
    expect(shared.equals(nodeShared(tSecret, iPublic))).toBe(true);
    const salt = createHash("sha256")
      .update(
        lengthPrefixed([
          "hermes/chat-transcript/v1",
          chatId,
          transcript.initiatorAppId,
          transcript.targetAppId,
          iPublic,
          tPublic,
        ]),
      )
      .digest();
    const hkdf = (info: string) => hex(new Uint8Array(hkdfSync("sha256", shared, salt, info, 32)));
    expect(hkdf("hermes/chat-key/v1 initiator->target")).toBe(expected.i2t);
    expect(hkdf("hermes/chat-key/v1 target->initiator")).toBe(expected.t2i);

    // The code under test agrees, from both sides.
    const initiator = deriveChatKeys(transcript, "initiator", Uint8Array.from(iSecret));
    const target = deriveChatKeys(transcript, "target", Uint8Array.from(tSecret));
    expect(hex(initiator.send)).toBe(expected.i2t);
    expect(hex(initiator.receive)).toBe(expected.t2i);
    expect(hex(target.send)).toBe(expected.t2i);
    expect(hex(target.receive)).toBe(expected.i2t);
  });

  it("seals with a 12-byte nonce of 4 zero bytes and the seq as u64 BE, the chat id as associated data", () => {
    const key = Buffer.from(expected.i2t, "hex");
    expect(hex(seal(key, chatId, 1, text("hello")))).toBe(expected.helloSeq1);
    expect(new TextDecoder().decode(open(key, chatId, 1, Buffer.from(expected.helloSeq1, "hex")))).toBe(
      "hello",
    );
  });
});
