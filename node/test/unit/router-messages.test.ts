import { describe, expect, it } from "vitest";
import { newChatId } from "../support/frames.js";
import {
  ErrorCode,
  metricValue,
  newRouter,
  type RouterOverrides,
  readyChat,
  type TestApp,
} from "../support/router.js";

function chatBetweenTwo(o: RouterOverrides = {}) {
  const h = newRouter(o);
  const a = h.app();
  const b = h.app();
  a.connect();
  b.connect();
  const { chatId, ready } = readyChat(a, b);
  return { h, a, b, chatId, ready };
}

/** The seqs delivered to `app` since its last read, draining its sink. */
function deliveredSeqs(app: TestApp): number[] {
  return app.sink.take().flatMap((f) => (f.body?.$case === "delivery" ? [f.body.value.seq] : []));
}

describe("Router: relaying messages", () => {
  it("relays a message to the peer as a Delivery from the sender", async () => {
    const { h, a, b, chatId } = chatBetweenTwo();
    const ciphertext = new Uint8Array([1, 2, 3, 4, 5]);
    a.message(chatId, 1, ciphertext, "m1");
    expect(b.sink.one("delivery")).toEqual({
      chatId,
      fromAppId: a.id,
      seq: 1,
      ciphertext,
      correlationId: "",
    });
    expect(a.sink.take()).toEqual([]);
    expect(await metricValue(h.metrics.messagesRelayed, { scope: "local" })).toBe(1);
    expect(await metricValue(h.metrics.bytesRelayed, { scope: "local" })).toBe(5);
  });

  it("keeps one sequence per sender", () => {
    const { a, b, chatId } = chatBetweenTwo();
    a.message(chatId, 1);
    a.message(chatId, 2);
    b.message(chatId, 1);
    expect(deliveredSeqs(b)).toEqual([1, 2]);
    expect(a.sink.one("delivery")).toMatchObject({ fromAppId: b.id, seq: 1 });
  });

  it.each([0, 2])("requires the first seq to be 1 (got %i)", (seq) => {
    const { a, b, chatId } = chatBetweenTwo();
    a.message(chatId, seq, undefined, "m");
    expect(a.error()).toMatchObject({
      code: ErrorCode.ERROR_CODE_OUT_OF_ORDER,
      chatId,
      seq,
      expectedSeq: 1,
      correlationId: "m",
    });
    expect(b.sink.take()).toEqual([]);
  });

  it("refuses a gap with OUT_OF_ORDER and expectedSeq, and does not deliver it", () => {
    const { a, b, chatId } = chatBetweenTwo();
    a.message(chatId, 1);
    a.message(chatId, 3);
    const error = a.error();
    expect(error).toMatchObject({ code: ErrorCode.ERROR_CODE_OUT_OF_ORDER, expectedSeq: 2, seq: 3, chatId });
    expect(error.message).toMatch(/expected seq 2, got 3/);
    expect(deliveredSeqs(b)).toEqual([1]);
    a.message(chatId, 2);
    a.message(chatId, 3);
    expect(deliveredSeqs(b)).toEqual([2, 3]);
  });

  it("re-acks a duplicate of an acked message and does not deliver it again", () => {
    const { a, b, chatId } = chatBetweenTwo();
    a.message(chatId, 1);
    a.message(chatId, 2);
    b.ack(chatId, 2);
    expect(a.sink.one("ack")).toMatchObject({ chatId, seq: 2 });
    b.sink.take();
    a.message(chatId, 1);
    expect(a.sink.one("ack")).toMatchObject({ chatId, seq: 2 });
    expect(b.sink.take()).toEqual([]);
  });

  it("ignores a duplicate that is relayed but not yet acked", () => {
    const { a, b, chatId } = chatBetweenTwo();
    a.message(chatId, 1);
    a.message(chatId, 2);
    b.ack(chatId, 1);
    a.sink.take();
    b.sink.take();
    a.message(chatId, 2);
    expect(a.sink.take()).toEqual([]);
    expect(b.sink.take()).toEqual([]);
  });

  it("relays the receiver's cumulative ack to the sender and times one message in eight", async () => {
    const { h, a, b, chatId } = chatBetweenTwo();
    for (let seq = 1; seq <= 8; seq++) a.message(chatId, seq);
    h.clock.advance(10);
    for (let seq = 9; seq <= 16; seq++) a.message(chatId, seq);
    h.clock.advance(40);
    b.ack(chatId, 16, "ack-cid");
    expect(a.sink.one("ack")).toEqual({ chatId, seq: 16, correlationId: "" });
    expect(b.sink.take().map((f) => f.body?.$case)).toEqual(Array(16).fill("delivery"));
    expect(await metricValue(h.metrics.acksRelayed, { scope: "local" })).toBe(1);
    const latency = await h.metrics.ackLatency.get();
    const count = latency.values.find((v) => v.metricName === "hermes_ack_latency_seconds_count");
    const sum = latency.values.find((v) => v.metricName === "hermes_ack_latency_seconds_sum");
    expect(count?.value).toBe(2);
    expect(sum?.value).toBeCloseTo(0.05 + 0.04, 6);
  });

  it("does not relay an ack that adds nothing", () => {
    const { a, b, chatId } = chatBetweenTwo();
    a.message(chatId, 1);
    a.message(chatId, 2);
    b.ack(chatId, 2);
    a.sink.take();
    b.ack(chatId, 2);
    b.ack(chatId, 1);
    expect(a.sink.take()).toEqual([]);
    expect(b.sink.all("error")).toEqual([]);
  });

  it("refuses an ack beyond what was delivered with INVALID_ARGUMENT", () => {
    const { a, b, chatId } = chatBetweenTwo();
    a.message(chatId, 1);
    b.sink.take();
    b.ack(chatId, 2, "bad-ack");
    const error = b.error();
    expect(error).toMatchObject({
      code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
      chatId,
      seq: 2,
      correlationId: "bad-ack",
    });
    expect(error.message).toMatch(/only 1 were delivered/);
    expect(a.sink.take()).toEqual([]);
  });

  it("refuses messages and acks outside the app's chats", () => {
    const { h, a, b, chatId } = chatBetweenTwo();
    const c = h.app();
    c.connect();
    c.message(chatId, 1, undefined, "x");
    expect(c.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_NOT_PARTICIPANT, chatId, seq: 1 });
    c.ack(chatId, 1);
    expect(c.error().code).toBe(ErrorCode.ERROR_CODE_NOT_PARTICIPANT);
    const unknown = newChatId();
    a.message(unknown, 1);
    expect(a.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_UNKNOWN_CHAT, chatId: unknown });
    a.ack(unknown, 1);
    expect(a.error().code).toBe(ErrorCode.ERROR_CODE_UNKNOWN_CHAT);
    expect(b.sink.take()).toEqual([]);
  });

  it("refuses messages and acks before the target accepted with CHAT_NOT_READY", () => {
    const h = newRouter();
    const a = h.app();
    const b = h.app();
    a.connect();
    b.connect();
    const { chatId } = a.startChat(b);
    a.sink.take();
    b.sink.take();
    a.message(chatId, 1);
    expect(a.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_CHAT_NOT_READY, chatId, seq: 1 });
    b.message(chatId, 1);
    expect(b.error().code).toBe(ErrorCode.ERROR_CODE_CHAT_NOT_READY);
    b.ack(chatId, 1);
    expect(b.error().code).toBe(ErrorCode.ERROR_CODE_CHAT_NOT_READY);
  });

  it("refuses a ciphertext over maxCiphertextBytes with FRAME_TOO_LARGE and counts it", async () => {
    const { h, a, b, chatId } = chatBetweenTwo({ limits: { maxCiphertextBytes: 16 } });
    a.message(chatId, 1, new Uint8Array(17));
    const error = a.error();
    expect(error).toMatchObject({ code: ErrorCode.ERROR_CODE_FRAME_TOO_LARGE, seq: 1, chatId });
    expect(error.message).toMatch(/17 bytes exceeds the limit of 16/);
    expect(b.sink.take()).toEqual([]);
    expect(await metricValue(h.metrics.limitRefusals, { limit: "frame_size" })).toBe(1);
    expect(await metricValue(h.metrics.refusedFrames, { code: "frame_too_large" })).toBe(1);
    a.message(chatId, 1, new Uint8Array(16));
    expect(deliveredSeqs(b)).toEqual([1]);
  });

  it("limits messages per second; the refused message is not delivered and is taken when resent later", async () => {
    const { h, a, b, chatId } = chatBetweenTwo({ limits: { messagesPerSecond: 2, messageBurst: 2 } });
    a.message(chatId, 1);
    a.message(chatId, 2);
    a.message(chatId, 3, undefined, "m3");
    const error = a.error();
    expect(error).toMatchObject({
      code: ErrorCode.ERROR_CODE_RATE_LIMITED,
      seq: 3,
      chatId,
      correlationId: "m3",
    });
    expect(error.retryAfterMs).toBe(500);
    expect(deliveredSeqs(b)).toEqual([1, 2]);
    expect(await metricValue(h.metrics.limitRefusals, { limit: "message_rate" })).toBe(1);

    h.clock.advance(error.retryAfterMs);
    a.message(chatId, 3);
    expect(deliveredSeqs(b)).toEqual([3]);
    expect(a.sink.take()).toEqual([]);
  });

  it("keeps the message budget across a reconnect, and refills it once the app stayed away long enough", () => {
    const { h, a, b, chatId } = chatBetweenTwo({ limits: { messagesPerSecond: 1, messageBurst: 2 } });
    a.message(chatId, 1);
    a.message(chatId, 2);
    a.disconnect();
    a.connect();
    a.message(chatId, 3);
    expect(a.error().code).toBe(ErrorCode.ERROR_CODE_RATE_LIMITED);
    a.disconnect();
    h.clock.advance(60_001);
    h.router.sweep();
    b.send({ $case: "heartbeat", value: { timestampMs: h.clock.now() } });
    a.connect();
    a.message(chatId, 3);
    a.message(chatId, 4);
    expect(deliveredSeqs(b)).toEqual([1, 2, 3, 4]);
  });

  it("refuses with PEER_UNAVAILABLE while the peer is offline, without advancing the sequence", () => {
    const { a, b, chatId } = chatBetweenTwo();
    b.disconnect();
    a.message(chatId, 1, undefined, "m1");
    const error = a.error();
    expect(error).toMatchObject({
      code: ErrorCode.ERROR_CODE_PEER_UNAVAILABLE,
      seq: 1,
      chatId,
      correlationId: "m1",
    });
    expect(error.retryAfterMs).toBeGreaterThan(0);
    b.connect();
    a.message(chatId, 1);
    expect(deliveredSeqs(b)).toEqual([1]);
  });
});

describe("Router: reconnects", () => {
  it("rewinds what the receiver had not acked, and delivers exactly those again", () => {
    const { a, b, chatId, ready } = chatBetweenTwo();
    for (const seq of [1, 2, 3]) a.message(chatId, seq);
    b.ack(chatId, 1);
    expect(deliveredSeqs(b)).toEqual([1, 2, 3]);
    a.sink.take();
    b.disconnect();

    // Until b is back: the unacked messages cannot go anywhere, and nothing past them is taken.
    a.message(chatId, 2);
    expect(a.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_PEER_UNAVAILABLE, seq: 2 });
    a.message(chatId, 4);
    expect(a.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_OUT_OF_ORDER, expectedSeq: 2 });

    const ack = b.connect();
    expect(ack.chats).toEqual([{ ready, ackedByPeer: 0, deliveredToMe: 1 }]);

    // The sender retransmits everything after the peer's last ack.
    for (const seq of [1, 2, 3, 4]) a.message(chatId, seq);
    expect(deliveredSeqs(b)).toEqual([2, 3, 4]);
    expect(a.sink.one("ack")).toMatchObject({ seq: 1 }); // the re-ack of the duplicate seq 1
  });

  it("rewinds when the receiver's session is replaced by a new stream", () => {
    const { a, b, chatId } = chatBetweenTwo();
    a.message(chatId, 1);
    a.message(chatId, 2);
    b.ack(chatId, 1);
    b.connect(); // the old stream never reported its end
    a.sink.take();
    a.message(chatId, 2);
    expect(deliveredSeqs(b)).toEqual([2]);
  });

  it("keeps the sender's direction when the sender reconnects, and reports acks it missed", () => {
    const { a, b, chatId, ready } = chatBetweenTwo();
    a.message(chatId, 1);
    a.message(chatId, 2);
    b.message(chatId, 1);
    a.disconnect();
    b.ack(chatId, 2); // a is away; the ack is kept for it
    const ack = a.connect();
    expect(ack.chats).toEqual([{ ready, ackedByPeer: 2, deliveredToMe: 0 }]);
    expect(a.sink.take()).toEqual([]);
    // b's message 1 reached a's old session unacked, so it goes again.
    b.sink.take();
    b.message(chatId, 1);
    expect(deliveredSeqs(a)).toEqual([1]);
    // a's messages were acked: a retransmission is only re-acked.
    a.message(chatId, 2);
    expect(a.sink.one("ack").seq).toBe(2);
    expect(b.sink.take()).toEqual([]);
  });
});
