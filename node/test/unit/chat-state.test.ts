import { describe, expect, it } from "vitest";
import { type ChatSnapshot, decodeChatState, encodeChatState } from "../../src/sdk/store/chat-state.js";
import { newChatId } from "../support/frames.js";
import { ratchetPair } from "../support/ratchet.js";

/** The byte encoding of a kept chat (node/src/sdk/store/chat-state.ts). */

function snapshot(version: 1 | 2): ChatSnapshot {
  const { a, b, transcript } = ratchetPair();
  b.read(a.seal("one"));
  a.read(b.seal("two"));
  const chatId = newChatId();
  return {
    ready: {
      chatId,
      initiatorAppId: transcript.initiatorAppId,
      initiatorPublicKey: new Uint8Array(32).fill(1),
      initiatorEphemeralKey: transcript.initiatorEphemeralKey,
      offerTimestampMs: 1_700_000_000_000,
      offerSignature: new Uint8Array(64).fill(2),
      targetAppId: transcript.targetAppId,
      targetPublicKey: new Uint8Array(32).fill(3),
      targetEphemeralKey: transcript.targetEphemeralKey,
      acceptTimestampMs: 1_700_000_001_000,
      acceptSignature: new Uint8Array(64).fill(4),
    },
    role: "target",
    nextSeq: 8,
    receivedSeq: 11,
    outbox: [5, 6, 7].map((seq) => ({ seq, ciphertext: new Uint8Array(20 + seq).fill(seq) })),
    cipher:
      version === 1
        ? { version: 1, keys: { send: new Uint8Array(32).fill(5), receive: new Uint8Array(32).fill(6) } }
        : a.ratchet.state(),
  };
}

describe("chat state encoding", () => {
  it.each([1, 2] as const)("decodes what it encodes (e2e v%s)", (version) => {
    const kept = snapshot(version);
    expect(decodeChatState(encodeChatState(kept))).toEqual(kept);
  });

  it("refuses every truncation of a valid state with a reason, never a crash", () => {
    const bytes = encodeChatState(snapshot(2));
    for (let length = 0; length < bytes.length; length++) {
      expect(() => decodeChatState(bytes.subarray(0, length)), `cut at ${length}`).toThrow(
        /cut short|does not decode|more than the bytes left|left over|no receive key|not the \d+ before/,
      );
    }
  });

  it.each([
    ["an unknown format", (b: Uint8Array) => (b[0] = 9), /chat state format 9, this SDK reads 1/],
    ["an unknown role", (b: Uint8Array) => (b[1] = 2), /role 2 is neither/],
    ["bytes left over", undefined, /1 bytes left over/],
  ])("refuses %s", (_name, damage, message) => {
    const good = encodeChatState(snapshot(1));
    const bytes = damage ? Uint8Array.from(good) : Uint8Array.of(...good, 0);
    damage?.(bytes);
    expect(() => decodeChatState(bytes)).toThrow(message);
  });

  it("refuses unacked messages that are not the ones right before next_seq", () => {
    const kept = snapshot(1);
    kept.outbox = [kept.outbox[0]!, kept.outbox[2]!];
    expect(() => decodeChatState(encodeChatState(kept))).toThrow(/not the 2 before seq 8/);
  });
});
