import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import { type Direction, isParticipant, peerOf, type ReadyChat, remoteRoute } from "../../src/router/chat.js";
import { decodeChatRecord, encodeChatRecord } from "../../src/router/chat-record.js";
import { newChatId, newEphemeralKey } from "../support/frames.js";

function dir(acked: number, forwarded: number): Direction {
  return { acked, forwarded, sentAt: new Map() };
}

function readyChat(): ReadyChat {
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
    fromInitiator: dir(4, 6),
    fromTarget: dir(9, 9),
    route: { kind: "local", resumedAtMs: {} },
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
    expect(back.fromInitiator).toEqual({ ...dir(4, 4), restored: true });
    expect(back.fromTarget).toEqual({ ...dir(9, 9), restored: true });
    expect(back.route).toEqual({ kind: "local", resumedAtMs: {} });
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

  it("keeps where the remote participant of a cross-node chat is, not reachable until its tieline is up", () => {
    const chat: ReadyChat = { ...readyChat(), route: remoteRoute("x".repeat(32), "y".repeat(32), 5) };
    expect(decodeChatRecord(encodeChatRecord(chat)).route).toEqual({
      kind: "remote",
      app: "x".repeat(32),
      node: "y".repeat(32),
      reachable: false,
      boundAtMs: 5,
    });
  });

  it("keeps when each app last resumed a local chat here", () => {
    const base = readyChat();
    const resumedAtMs = { [base.offer.initiatorAppId]: 7, [base.offer.targetAppId]: 9 };
    const chat: ReadyChat = { ...base, route: { kind: "local", resumedAtMs } };
    expect(decodeChatRecord(encodeChatRecord(chat)).route).toEqual({ kind: "local", resumedAtMs });
    const fromTheStart: ReadyChat = { ...readyChat(), route: { kind: "local", resumedAtMs: {} } };
    expect(decodeChatRecord(encodeChatRecord(fromTheStart)).route).toEqual({
      kind: "local",
      resumedAtMs: {},
    });
  });

  it("refuses to decode a record of another version or garbage", () => {
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
