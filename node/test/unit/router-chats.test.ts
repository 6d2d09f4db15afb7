import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import { flipped, newChatId, newEphemeralKey, signedStartChat } from "../support/frames.js";
import {
  ChatEndReason,
  ErrorCode,
  metricValue,
  newRouter,
  type RouterOverrides,
  readyChat,
} from "../support/router.js";

function twoApps(o: RouterOverrides = {}) {
  const h = newRouter(o);
  const a = h.app();
  const b = h.app();
  a.connect();
  b.connect();
  return { h, a, b };
}

describe("Router: starting a chat", () => {
  it("hands the offer to the target and tells the initiator it is pending", () => {
    const { h, a, b } = twoApps();
    const start = a.startChat(b, {}, "s1");
    const pending = a.sink.one("chatPending");
    expect(pending).toEqual({ chatId: start.chatId, targetAppId: b.id, correlationId: "s1" });
    const offer = b.sink.one("chatOffer");
    expect(offer.chatId).toBe(start.chatId);
    expect(offer.initiatorAppId).toBe(a.id);
    expect(Buffer.from(offer.initiatorPublicKey).equals(Buffer.from(a.identity.publicKey))).toBe(true);
    expect(Buffer.from(offer.ephemeralKey).equals(Buffer.from(start.ephemeralKey))).toBe(true);
    expect(Buffer.from(offer.signature).equals(Buffer.from(start.signature))).toBe(true);
    expect(offer.timestampMs).toBe(start.timestampMs);
    expect(h.router.stats().chats).toEqual({ pending: 1, ready: 0 });
  });

  it("sends ChatReady with the whole transcript to both sides once the target accepts", async () => {
    const { h, a, b } = twoApps();
    const start = a.startChat(b);
    a.sink.one("chatPending");
    const offer = b.sink.one("chatOffer");
    const accept = b.accept(offer, {}, "acc");
    const toInitiator = a.sink.one("chatReady");
    const toTarget = b.sink.one("chatReady");
    expect(toTarget.correlationId).toBe("acc");
    const { correlationId: _a, ...readyA } = toInitiator;
    const { correlationId: _b, ...readyB } = toTarget;
    expect(readyA).toEqual(readyB);
    expect(readyA).toEqual({
      chatId: start.chatId,
      initiatorAppId: a.id,
      initiatorPublicKey: a.identity.publicKey,
      initiatorEphemeralKey: start.ephemeralKey,
      offerTimestampMs: start.timestampMs,
      offerSignature: start.signature,
      targetAppId: b.id,
      targetPublicKey: b.identity.publicKey,
      targetEphemeralKey: accept.ephemeralKey,
      acceptTimestampMs: accept.timestampMs,
      acceptSignature: accept.signature,
    });
    expect(h.router.stats().chats).toEqual({ pending: 0, ready: 1 });
    expect(await metricValue(h.metrics.chatsStarted)).toBe(1);
    expect(await metricValue(h.metrics.chats, { state: "ready" })).toBe(1);
    expect(await metricValue(h.metrics.chats, { state: "pending" })).toBe(0);
  });

  it("tells the initiator when the target rejects, with the reason", async () => {
    const { h, a, b } = twoApps();
    const start = a.startChat(b);
    a.sink.one("chatPending");
    const offer = b.sink.one("chatOffer");
    b.send({ $case: "rejectChat", value: { chatId: offer.chatId, reason: "busy" } });
    expect(a.sink.one("chatRejected")).toMatchObject({ chatId: start.chatId, reason: "busy" });
    expect(b.sink.take()).toEqual([]);
    expect(h.router.stats().chats).toEqual({ pending: 0, ready: 0 });
    expect(await metricValue(h.metrics.chatsEnded, { reason: "rejected" })).toBe(1);
    b.accept(offer);
    expect(b.error().code).toBe(ErrorCode.ERROR_CODE_UNKNOWN_CHAT);
  });

  it("cuts a reject reason to 200 characters", () => {
    const { a, b } = twoApps();
    a.startChat(b);
    const offer = b.sink.one("chatOffer");
    b.send({ $case: "rejectChat", value: { chatId: offer.chatId, reason: "x".repeat(500) } });
    expect(a.sink.last("chatRejected")?.reason).toHaveLength(200);
  });

  it("refuses an offer whose signature does not verify, and the target hears nothing", () => {
    const { a, b } = twoApps();
    const good = signedStartChat(a.identity, {
      chatId: newChatId(),
      targetAppId: b.id,
      ephemeralKey: newEphemeralKey(),
      timestampMs: a.h.clock.now(),
    });
    a.send({ $case: "startChat", value: { ...good, signature: flipped(good.signature, 5) } }, "s");
    const error = a.error();
    expect(error).toMatchObject({
      code: ErrorCode.ERROR_CODE_AUTH_FAILED,
      chatId: good.chatId,
      correlationId: "s",
    });
    expect(error.message).toMatch(/offer signature/);
    expect(b.sink.take()).toEqual([]);
  });

  it("refuses an offer signed for another target or another ephemeral key", () => {
    const { h, a, b } = twoApps();
    const signedForOther = signedStartChat(a.identity, {
      chatId: newChatId(),
      targetAppId: Identity.generate().id,
      ephemeralKey: newEphemeralKey(),
      timestampMs: h.clock.now(),
    });
    a.send({ $case: "startChat", value: { ...signedForOther, targetAppId: b.id } });
    expect(a.error().code).toBe(ErrorCode.ERROR_CODE_AUTH_FAILED);
    const signedForOtherKey = signedStartChat(a.identity, {
      chatId: newChatId(),
      targetAppId: b.id,
      ephemeralKey: newEphemeralKey(),
      timestampMs: h.clock.now(),
    });
    a.send({ $case: "startChat", value: { ...signedForOtherKey, ephemeralKey: newEphemeralKey() } });
    expect(a.error().code).toBe(ErrorCode.ERROR_CODE_AUTH_FAILED);
    expect(b.sink.take()).toEqual([]);
  });

  it("refuses an offer with a stale timestamp", () => {
    const { h, a, b } = twoApps({ timeouts: { clockSkewMs: 1000 } });
    const stale = signedStartChat(a.identity, {
      chatId: newChatId(),
      targetAppId: b.id,
      ephemeralKey: newEphemeralKey(),
      timestampMs: h.clock.now() - 1001,
    });
    a.send({ $case: "startChat", value: stale });
    const error = a.error();
    expect(error.code).toBe(ErrorCode.ERROR_CODE_AUTH_FAILED);
    expect(error.message).toMatch(/timestamp/);
  });

  it("refuses an accept whose signature does not verify; the offer stays open", () => {
    const { h, a, b } = twoApps();
    a.startChat(b);
    a.sink.take();
    const offer = b.sink.one("chatOffer");
    b.accept(offer, { signature: new Uint8Array(64) }, "bad");
    const error = b.error();
    expect(error).toMatchObject({
      code: ErrorCode.ERROR_CODE_AUTH_FAILED,
      chatId: offer.chatId,
      correlationId: "bad",
    });
    expect(error.message).toMatch(/accept signature/);
    expect(a.sink.take()).toEqual([]);
    expect(h.router.stats().chats.pending).toBe(1);
    b.accept(offer);
    expect(b.sink.one("chatReady").chatId).toBe(offer.chatId);
    expect(a.sink.one("chatReady").chatId).toBe(offer.chatId);
  });

  it("refuses an accept that binds another initiator ephemeral key", () => {
    const { a, b } = twoApps();
    a.startChat(b);
    const offer = b.sink.one("chatOffer");
    b.accept({ ...offer, ephemeralKey: newEphemeralKey() });
    expect(b.error().code).toBe(ErrorCode.ERROR_CODE_AUTH_FAILED);
  });

  it("refuses a second accept of a ready chat", () => {
    const { a, b } = twoApps();
    a.startChat(b);
    const offer = b.sink.one("chatOffer");
    b.accept(offer);
    b.sink.take();
    b.accept(offer);
    expect(b.error()).toMatchObject({
      code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
      message: /already accepted/,
    });
  });

  it("refuses a replayed StartChat after the chat ended with REPLAYED", () => {
    const { a, b } = twoApps();
    const start = a.startChat(b);
    const offer = b.sink.one("chatOffer");
    b.send({ $case: "rejectChat", value: { chatId: offer.chatId, reason: "" } });
    a.sink.take();
    a.send({ $case: "startChat", value: start }, "replay");
    expect(a.error()).toMatchObject({
      code: ErrorCode.ERROR_CODE_REPLAYED,
      chatId: start.chatId,
      correlationId: "replay",
    });
    expect(b.sink.take()).toEqual([]);
  });

  it("still refuses a replay once the ended id is forgotten, by its stale timestamp", () => {
    const { h, a, b } = twoApps({ timeouts: { clockSkewMs: 1000 } });
    const start = a.startChat(b);
    const offer = b.sink.one("chatOffer");
    b.send({ $case: "rejectChat", value: { chatId: offer.chatId, reason: "" } });
    a.sink.take();
    h.clock.advance(2001);
    h.router.sweep();
    a.send({ $case: "startChat", value: start });
    expect(a.error().code).toBe(ErrorCode.ERROR_CODE_AUTH_FAILED);
  });

  it("refuses a chat id in use with CHAT_EXISTS", () => {
    const { h, a, b } = twoApps();
    const { chatId } = readyChat(a, b);
    const c = h.app();
    c.connect();
    c.startChat(b, { chatId }); // signed over the same id by another initiator
    expect(c.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_CHAT_EXISTS, chatId });
    expect(b.sink.take()).toEqual([]);
  });

  it("refuses a target that is not connected with UNKNOWN_APP", () => {
    const { h, a } = twoApps();
    const nobody = Identity.generate().id;
    const value = signedStartChat(a.identity, {
      chatId: newChatId(),
      targetAppId: nobody,
      ephemeralKey: newEphemeralKey(),
      timestampMs: h.clock.now(),
    });
    a.send({ $case: "startChat", value });
    const error = a.error();
    expect(error.code).toBe(ErrorCode.ERROR_CODE_UNKNOWN_APP);
    expect(error.message).toContain(nobody);
    expect(h.router.stats().chats.pending).toBe(0);
  });

  it.each([
    ["a chat with itself", "self", /itself/],
    ["a bad chat id", "chatId", /chat_id must be 32 lowercase hex/],
    ["a target that is not an app ID", "target", /target_app_id/],
    ["a short ephemeral key", "eph", /ephemeral_key must be 32 bytes/],
  ])("refuses %s with INVALID_ARGUMENT", (_name, what, message) => {
    const { h, a, b } = twoApps();
    const value = signedStartChat(a.identity, {
      chatId: what === "chatId" ? "ABCDEF".padEnd(32, "0") : newChatId(),
      targetAppId: what === "self" ? a.id : what === "target" ? "bob" : b.id,
      ephemeralKey: what === "eph" ? new Uint8Array(31) : newEphemeralKey(),
      timestampMs: h.clock.now(),
    });
    a.send({ $case: "startChat", value });
    expect(a.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT, message });
    expect(b.sink.take()).toEqual([]);
  });

  it("lets only the target accept or reject (NOT_PARTICIPANT)", () => {
    const { h, a, b } = twoApps();
    const c = h.app();
    c.connect();
    a.startChat(b);
    a.sink.take();
    const offer = b.sink.one("chatOffer");
    c.accept(offer);
    expect(c.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_NOT_PARTICIPANT, chatId: offer.chatId });
    a.accept(offer);
    expect(a.error().code).toBe(ErrorCode.ERROR_CODE_NOT_PARTICIPANT);
    c.send({ $case: "rejectChat", value: { chatId: offer.chatId, reason: "" } });
    expect(c.error().code).toBe(ErrorCode.ERROR_CODE_NOT_PARTICIPANT);
    expect(h.router.stats().chats.pending).toBe(1);
  });

  it("limits chat starts per minute with RATE_LIMITED and retryAfterMs", async () => {
    const { h, a, b } = twoApps({ limits: { chatStartsPerMinute: 2 } });
    a.startChat(b);
    a.startChat(b);
    expect(a.sink.takeCases()).toEqual(["chatPending", "chatPending"]);
    const third = a.startChat(b, {}, "s3");
    const error = a.error();
    expect(error).toMatchObject({
      code: ErrorCode.ERROR_CODE_RATE_LIMITED,
      chatId: third.chatId,
      correlationId: "s3",
    });
    expect(error.retryAfterMs).toBe(30_000);
    expect(await metricValue(h.metrics.limitRefusals, { limit: "chat_start_rate" })).toBe(1);
    expect(b.sink.all("chatOffer")).toHaveLength(2);

    // Reconnecting does not refill the budget: neither a new stream replacing the old one ...
    a.connect();
    a.startChat(b);
    expect(a.error().code).toBe(ErrorCode.ERROR_CODE_RATE_LIMITED);
    // ... nor disconnecting first.
    a.disconnect();
    a.connect();
    a.startChat(b);
    expect(a.error().code).toBe(ErrorCode.ERROR_CODE_RATE_LIMITED);

    h.clock.advance(30_000);
    a.startChat(b);
    expect(a.sink.takeCases()).toEqual(["chatPending"]);
  });

  it("limits chats per app with TOO_MANY_CHATS; offers received do not count", async () => {
    const { h, a, b } = twoApps({ limits: { maxChatsPerApp: 1 } });
    const c = h.app();
    c.connect();
    readyChat(a, b);
    a.startChat(c);
    expect(a.error().code).toBe(ErrorCode.ERROR_CODE_TOO_MANY_CHATS);
    expect(await metricValue(h.metrics.limitRefusals, { limit: "max_chats" })).toBe(1);
    // c may offer to b (b holds 1 chat, but offers it receives do not count against it) ...
    c.startChat(b);
    expect(c.sink.takeCases()).toEqual(["chatPending"]);
    // ... but b cannot accept: it is at its limit. The initiator is told.
    const offer = b.sink.one("chatOffer");
    b.accept(offer);
    expect(b.error().code).toBe(ErrorCode.ERROR_CODE_TOO_MANY_CHATS);
    expect(c.sink.one("chatRejected")).toMatchObject({ chatId: offer.chatId, reason: /too many chats/ });
    expect(h.router.stats().chats).toEqual({ pending: 0, ready: 1 });
  });

  it("sends a pending offer again when the target reconnects", () => {
    const { a, b } = twoApps();
    const start = a.startChat(b);
    b.sink.one("chatOffer");
    b.disconnect();
    b.open();
    b.send({ $case: "connect", value: b.connectBody() });
    expect(b.sink.takeCases()).toEqual(["connectAck", "chatOffer"]);
    expect(b.sink.last("chatOffer")?.chatId).toBe(start.chatId);
  });
});

describe("Router: deleting a chat", () => {
  it("tells both sides, erases the record and counts it", async () => {
    const { h, a, b } = twoApps();
    const { chatId } = readyChat(a, b);
    await h.store.flush();
    expect(h.backend.persistedNames("chat/")).toEqual([`chat/${chatId}`]);

    a.send({ $case: "deleteChat", value: { chatId } }, "del");
    expect(a.sink.one("chatDeleted")).toEqual({
      chatId,
      reason: ChatEndReason.CHAT_END_REASON_DELETED,
      correlationId: "del",
    });
    expect(b.sink.one("chatDeleted")).toEqual({
      chatId,
      reason: ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER,
      correlationId: "",
    });
    expect(h.store.pending).toBe(true);
    await h.store.flush();
    expect(h.backend.list("chat/")).toEqual([]);
    expect(h.backend.persistedNames("chat/")).toEqual([]);
    expect(h.router.stats().chats).toEqual({ pending: 0, ready: 0 });
    expect(await metricValue(h.metrics.chatsEnded, { reason: "deleted" })).toBe(1);
    a.message(chatId, 1);
    expect(a.error().code).toBe(ErrorCode.ERROR_CODE_UNKNOWN_CHAT);
  });

  it("refuses to delete an unknown chat or someone else's chat", () => {
    const { h, a, b } = twoApps();
    const { chatId } = readyChat(a, b);
    const c = h.app();
    c.connect();
    c.send({ $case: "deleteChat", value: { chatId } });
    expect(c.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_NOT_PARTICIPANT, chatId });
    c.send({ $case: "deleteChat", value: { chatId: newChatId() } });
    expect(c.error().code).toBe(ErrorCode.ERROR_CODE_UNKNOWN_CHAT);
    expect(h.router.stats().chats.ready).toBe(1);
  });

  it("lets the initiator cancel a pending offer", () => {
    const { h, a, b } = twoApps();
    const start = a.startChat(b);
    a.sink.one("chatPending");
    const offer = b.sink.one("chatOffer");
    a.send({ $case: "deleteChat", value: { chatId: start.chatId } }, "cancel");
    expect(a.sink.one("chatDeleted")).toMatchObject({
      reason: ChatEndReason.CHAT_END_REASON_DELETED,
      correlationId: "cancel",
    });
    expect(b.sink.one("chatDeleted").reason).toBe(ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER);
    expect(h.router.stats().chats.pending).toBe(0);
    b.accept(offer);
    expect(b.error().code).toBe(ErrorCode.ERROR_CODE_UNKNOWN_CHAT);
  });
});

describe("Router: chat expiry", () => {
  it("ends an idle chat with IDLE_EXPIRED on both sides and erases it", async () => {
    const { h, a, b } = twoApps({ timeouts: { chatIdleMs: 60_000, sessionIdleMs: 10 * 60_000 } });
    const { chatId } = readyChat(a, b);
    await h.store.flush();
    h.clock.advance(60_000);
    h.router.sweep();
    expect(a.sink.take()).toEqual([]);
    h.clock.advance(1);
    h.router.sweep();
    for (const app of [a, b]) {
      expect(app.sink.one("chatDeleted")).toMatchObject({
        chatId,
        reason: ChatEndReason.CHAT_END_REASON_IDLE_EXPIRED,
      });
    }
    await h.store.flush();
    expect(h.backend.persistedNames("chat/")).toEqual([]);
    expect(await metricValue(h.metrics.chatsEnded, { reason: "idle_expired" })).toBe(1);
  });

  it("keeps a chat with traffic", () => {
    const { h, a, b } = twoApps({ timeouts: { chatIdleMs: 60_000, sessionIdleMs: 10 * 60_000 } });
    const { chatId } = readyChat(a, b);
    for (let seq = 1; seq <= 3; seq++) {
      h.clock.advance(40_000);
      a.message(chatId, seq);
      b.ack(chatId, seq);
      h.router.sweep();
    }
    expect(a.sink.all("chatDeleted")).toEqual([]);
    expect(h.router.stats().chats.ready).toBe(1);
  });

  it("ends an offer not answered within offerTimeoutMs with OFFER_EXPIRED", async () => {
    const { h, a, b } = twoApps({ timeouts: { offerTimeoutMs: 5000, sweepIntervalMs: 1000 } });
    // Swept on an interval of the (fake) clock, as the node does.
    const stopSweeping = h.clock.setInterval(() => h.router.sweep(), h.timeouts.sweepIntervalMs);
    const start = a.startChat(b);
    a.sink.take();
    b.sink.take();
    h.clock.advance(5000);
    expect(h.router.stats().chats.pending).toBe(1);
    h.clock.advance(1000);
    for (const app of [a, b]) {
      expect(app.sink.one("chatDeleted")).toEqual({
        chatId: start.chatId,
        reason: ChatEndReason.CHAT_END_REASON_OFFER_EXPIRED,
        correlationId: "",
      });
    }
    expect(h.router.stats().chats.pending).toBe(0);
    expect(await metricValue(h.metrics.chatsEnded, { reason: "offer_expired" })).toBe(1);
    stopSweeping();
    expect(h.clock.pending()).toBe(0);
  });
});
