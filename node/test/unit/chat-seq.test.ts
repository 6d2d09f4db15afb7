import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import {
  applyAck,
  type Chat,
  type Direction,
  decodeChatRecord,
  encodeChatRecord,
  isParticipant,
  judgeSeq,
  newDirection,
  peerOf,
  rewind,
} from "../../src/router/chat.js";
import { newChatId, newEphemeralKey } from "../support/frames.js";

function dir(acked: number, forwarded: number): Direction {
  return { acked, forwarded, sentAt: new Map() };
}

describe("judgeSeq", () => {
  it.each([
    // acked, forwarded, seq, verdict
    [0, 0, 1, { kind: "forward" }],
    [0, 0, 0, { kind: "out_of_order", expected: 1 }],
    [0, 0, 2, { kind: "out_of_order", expected: 1 }],
    [2, 5, 6, { kind: "forward" }],
    [2, 5, 7, { kind: "out_of_order", expected: 6 }],
    [2, 5, 1, { kind: "reack", seq: 2 }],
    [2, 5, 2, { kind: "reack", seq: 2 }],
    [2, 5, 3, { kind: "in_flight" }],
    [2, 5, 5, { kind: "in_flight" }],
    [2, 5, 0, { kind: "out_of_order", expected: 6 }],
    [5, 5, 5, { kind: "reack", seq: 5 }],
    [5, 5, 6, { kind: "forward" }],
  ])("acked=%i forwarded=%i seq=%i → %o", (acked, forwarded, seq, verdict) => {
    expect(judgeSeq(dir(acked, forwarded), seq)).toEqual(verdict);
  });
});

describe("applyAck", () => {
  it("is cumulative and observes the latency of every message it covers", () => {
    const d = newDirection();
    for (const [seq, at] of [
      [1, 1000],
      [2, 1100],
      [3, 1200],
    ] as const) {
      d.forwarded = seq;
      d.sentAt.set(seq, at);
    }
    const seen: number[] = [];
    expect(applyAck(d, 2, 1500, (s) => seen.push(s))).toBe(true);
    expect(d.acked).toBe(2);
    expect(seen).toEqual([0.5, 0.4]);
    expect([...d.sentAt.keys()]).toEqual([3]);
    expect(applyAck(d, 3, 1300, (s) => seen.push(s))).toBe(true);
    expect(seen).toEqual([0.5, 0.4, 0.1]);
    expect(d.sentAt.size).toBe(0);
  });

  it("ignores an ack that adds nothing or goes beyond what was forwarded", () => {
    const d = dir(2, 4);
    const observe = (): void => {
      throw new Error("must not observe");
    };
    expect(applyAck(d, 2, 0, observe)).toBe(false);
    expect(applyAck(d, 1, 0, observe)).toBe(false);
    expect(applyAck(d, 5, 0, observe)).toBe(false);
    expect(d).toEqual(dir(2, 4));
  });

  it("skips seqs that were not timed", () => {
    const d = dir(0, 3);
    d.sentAt.set(3, 0);
    const seen: number[] = [];
    expect(applyAck(d, 3, 2000, (s) => seen.push(s))).toBe(true);
    expect(seen).toEqual([2]);
  });
});

describe("rewind", () => {
  it("forgets what was forwarded beyond the last ack", () => {
    const d = dir(2, 5);
    d.sentAt.set(3, 1).set(4, 2).set(5, 3);
    rewind(d);
    expect(d).toEqual(dir(2, 2));
    expect(judgeSeq(d, 3)).toEqual({ kind: "forward" });
  });

  it("starts a direction at its acked mark", () => {
    expect(newDirection(7)).toEqual(dir(7, 7));
  });
});

function readyChat(): Chat {
  const initiator = Identity.generate();
  const target = Identity.generate();
  const chatId = newChatId();
  const offer = {
    chatId,
    initiatorAppId: initiator.id,
    initiatorPublicKey: initiator.publicKey,
    ephemeralKey: newEphemeralKey(),
    timestampMs: 1_700_000_000_123,
    signature: new Uint8Array(64).fill(1),
    targetAppId: target.id,
  };
  return {
    id: chatId,
    state: "ready",
    offer,
    ready: {
      chatId,
      initiatorAppId: initiator.id,
      initiatorPublicKey: initiator.publicKey,
      initiatorEphemeralKey: offer.ephemeralKey,
      offerTimestampMs: offer.timestampMs,
      offerSignature: offer.signature,
      targetAppId: target.id,
      targetPublicKey: target.publicKey,
      targetEphemeralKey: newEphemeralKey(),
      acceptTimestampMs: 1_700_000_000_456,
      acceptSignature: new Uint8Array(64).fill(2),
    },
    createdAt: 1_700_000_000_000,
    lastActivity: 1_700_000_001_000,
    directions: new Map([
      [initiator.id, dir(4, 6)],
      [target.id, dir(9, 9)],
    ]),
  };
}

describe("chat records", () => {
  it("round-trip the transcript and acked marks; forwarded restarts at acked", () => {
    const chat = readyChat();
    const back = decodeChatRecord(encodeChatRecord(chat));
    expect(back.ready).toEqual(chat.ready);
    expect(back.offer).toEqual(chat.offer);
    expect(back).toMatchObject({
      id: chat.id,
      state: "ready",
      createdAt: chat.createdAt,
      lastActivity: chat.lastActivity,
    });
    expect(back.directions.get(chat.offer.initiatorAppId)).toEqual({ ...dir(4, 4), restored: true });
    expect(back.directions.get(chat.offer.targetAppId)).toEqual({ ...dir(9, 9), restored: true });
  });

  it("stores no secrets: the record is the public transcript and counters", () => {
    const chat = readyChat();
    const text = new TextDecoder().decode(encodeChatRecord(chat));
    expect(Object.keys(JSON.parse(text) as object).sort()).toEqual([
      "acked",
      "createdAt",
      "lastActivity",
      "ready",
      "v",
    ]);
  });

  it("refuses to encode a pending chat and to decode a record of another version or garbage", () => {
    const pending: Chat = { ...readyChat(), state: "pending", ready: undefined };
    expect(() => encodeChatRecord(pending)).toThrow(/not ready/);
    expect(() => decodeChatRecord(new TextEncoder().encode(JSON.stringify({ v: 2 })))).toThrow(/version 2/);
    expect(() => decodeChatRecord(new TextEncoder().encode("\u0000garbage"))).toThrow();
  });

  it("knows the participants", () => {
    const chat = readyChat();
    const { initiatorAppId: i, targetAppId: t } = chat.offer;
    expect(peerOf(chat, i)).toBe(t);
    expect(peerOf(chat, t)).toBe(i);
    expect(isParticipant(chat, i) && isParticipant(chat, t)).toBe(true);
    expect(isParticipant(chat, Identity.generate().id)).toBe(false);
  });
});
