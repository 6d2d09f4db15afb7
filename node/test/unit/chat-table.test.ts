import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import { newDirection, type PendingChat, type ReadyChat } from "../../src/router/chat.js";
import { ChatTable } from "../../src/router/chat-table.js";
import { newChatId, newEphemeralKey } from "../support/frames.js";

const [a, b, c] = [Identity.generate(), Identity.generate(), Identity.generate()];

function pending(from: Identity, to: Identity): PendingChat {
  const chatId = newChatId();
  return {
    id: chatId,
    state: "pending",
    offer: {
      chatId,
      initiatorAppId: from.id,
      initiatorPublicKey: from.publicKey,
      targetAppId: to.id,
      ephemeralKey: newEphemeralKey(),
      timestampMs: 0,
      signature: new Uint8Array(64),
    },
    createdAt: 0,
    lastActivity: 0,
    route: { kind: "local", resumedAtMs: {} },
  };
}

function readied(chat: PendingChat): ReadyChat {
  return {
    ...chat,
    state: "ready",
    ready: {} as ReadyChat["ready"],
    fromInitiator: newDirection(),
    fromTarget: newDirection(),
  };
}

describe("ChatTable", () => {
  it("indexes chats by participant and counts them by state", () => {
    const t = new ChatTable();
    const ab = pending(a, b);
    const cb = pending(c, b);
    t.add(ab);
    t.add(cb);
    expect(t.counts).toEqual({ pending: 2, ready: 0 });
    expect([...t.of(b.id)].map((x) => x.id).sort()).toEqual([ab.id, cb.id].sort());
    expect([...t.of(a.id)].map((x) => x.id)).toEqual([ab.id]);
    const ready = readied(ab);
    t.promote(ab, ready);
    expect(t.get(ab.id)).toBe(ready);
    expect(t.counts).toEqual({ pending: 1, ready: 1 });
  });

  it("counts against an app's limit its ready chats and the offers it made, not those it received", () => {
    const t = new ChatTable();
    const ab = pending(a, b);
    t.add(ab);
    t.add(pending(c, a));
    expect(t.countedFor(a.id)).toBe(1);
    t.promote(ab, readied(ab));
    expect(t.countedFor(b.id)).toBe(1);
  });

  it("forgets a removed chat but remembers its id until the replay window passes", () => {
    const t = new ChatTable();
    const ab = pending(a, b);
    t.add(ab);
    expect(t.remove(ab.id, 1000)).toBe(ab);
    expect(t.remove(ab.id, 1000)).toBeUndefined();
    expect(t.has(ab.id)).toBe(false);
    expect([...t.of(a.id)]).toEqual([]);
    expect(t.counts).toEqual({ pending: 0, ready: 0 });
    expect(t.endedRecently(ab.id)).toBe(true);
    t.forgetEnded(1500, 1000);
    expect(t.endedRecently(ab.id)).toBe(true);
    t.forgetEnded(2001, 1000);
    expect(t.endedRecently(ab.id)).toBe(false);
  });

  it("refuses to promote a chat it does not hold as pending", () => {
    const t = new ChatTable();
    const ab = pending(a, b);
    expect(() => t.promote(ab, readied(ab))).toThrow(/not pending/);
  });
});
