import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import { AddressBudgets } from "../../src/router/address-budgets.js";
import { WriteQueues } from "../../src/router/write-queues.js";
import {
  ErrorCode,
  metricValue,
  newRouter,
  readyChat,
  SessionCloseReason,
  type TestApp,
} from "../support/router.js";
import { RecordingSink } from "../support/sink.js";

/** What a hostile app can make a node hold or do, and where each bound bites. */

/** A well-formed chat id no chat has. */
const UNKNOWN = "0".repeat(32);

describe("Router: frames per second", () => {
  it("refuses frames past the budget and closes a stream that keeps flooding", async () => {
    const h = newRouter({ limits: { framesPerSecond: 10, badFramesPerMinute: 5 } });
    const app = h.app();
    app.connect();
    app.sink.take();
    // The burst (twice the rate) is spent by the connect and acks for nothing: every frame counts.
    for (let i = 0; i < 19; i++) app.ack(UNKNOWN, 0);
    app.sink.take();
    app.ack(UNKNOWN, 0);
    const refused = app.error();
    expect(refused.code).toBe(ErrorCode.ERROR_CODE_RATE_LIMITED);
    expect(refused.message).toContain("10 frames per second");
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(await metricValue(h.metrics.limitRefusals, { limit: "frame_rate" })).toBe(1);
    // Each refusal spends the bad-frame budget (5): the sixth closes the stream.
    for (let i = 0; i < 4; i++) app.ack(UNKNOWN, 0);
    expect(app.sink.ended).toBe(false);
    app.ack(UNKNOWN, 0);
    expect(app.sink.last("sessionClosed")?.reason).toBe(SessionCloseReason.SESSION_CLOSE_REASON_PROTOCOL);
    expect(app.sink.ended).toBe(true);
  });

  it("keeps the frame and bad-frame budgets across reconnects: a new stream refills neither", () => {
    const h = newRouter({ limits: { framesPerSecond: 10, badFramesPerMinute: 3 } });
    const app = h.app();
    app.connect();
    for (let i = 0; i < 19; i++) app.ack(UNKNOWN, 0);
    app.disconnect();
    app.connect();
    app.sink.take();
    app.ack(UNKNOWN, 0);
    expect(app.error().code).toBe(ErrorCode.ERROR_CODE_RATE_LIMITED);
    app.ack(UNKNOWN, 0);
    app.ack(UNKNOWN, 0);
    expect(app.sink.ended).toBe(false);
    app.disconnect();
    // Every bad frame of the budget is spent (each refusal spends one): on the next stream the
    // first refusal closes it.
    app.connect();
    app.sink.take();
    app.ack(UNKNOWN, 0);
    expect(app.sink.last("sessionClosed")?.reason).toBe(SessionCloseReason.SESSION_CLOSE_REASON_PROTOCOL);
    // Away for long enough, the app comes back with both budgets full.
    h.clock.advance(60_001);
    h.router.sweep();
    app.connect();
    app.sink.take();
    app.ack(UNKNOWN, 0);
    expect(app.error().code).toBe(ErrorCode.ERROR_CODE_UNKNOWN_CHAT);
  });

  it("refills with time: a steady sender under the rate is never refused", () => {
    const h = newRouter({ limits: { framesPerSecond: 10 } });
    const app = h.app();
    app.connect();
    app.sink.take();
    for (let i = 0; i < 100; i++) {
      h.clock.advance(100);
      app.ack(UNKNOWN, 0);
      expect(app.error().code).toBe(ErrorCode.ERROR_CODE_UNKNOWN_CHAT);
    }
  });
});

describe("Router: messages over the frame budget", () => {
  it("tells the sender which message of which chat to send again, and when", () => {
    const h = newRouter({ limits: { framesPerSecond: 10, messagesPerSecond: 10, badFramesPerMinute: 100 } });
    const [a, b] = [h.app(), h.app()];
    a.connect();
    b.connect();
    const { chatId } = readyChat(a, b);
    for (let seq = 1; seq <= 30; seq++) a.message(chatId, seq);
    const refused = a.sink.take().flatMap((f) => (f.body?.$case === "error" ? [f.body.value] : []));
    expect(refused.length).toBeGreaterThan(0);
    for (const e of refused) {
      expect([e.code, e.chatId]).toEqual([ErrorCode.ERROR_CODE_RATE_LIMITED, chatId]);
      expect(e.seq).toBeGreaterThan(0);
      expect(e.retryAfterMs).toBeGreaterThan(0);
    }
  });
});

describe("Router: messages in flight", () => {
  function chatOf(maxInFlightPerChat: number) {
    const h = newRouter({ limits: { maxInFlightPerChat, messagesPerSecond: 10_000, messageBurst: 10_000 } });
    const a = h.app();
    const b = h.app();
    a.connect();
    b.connect();
    const { chatId } = readyChat(a, b);
    return { h, a, b, chatId };
  }

  it("refuses a message past maxInFlightPerChat unacknowledged ones, and takes it once acks come", async () => {
    const { h, a, b, chatId } = chatOf(4);
    for (let seq = 1; seq <= 4; seq++) a.message(chatId, seq);
    expect(b.sink.take().filter((f) => f.body?.$case === "delivery")).toHaveLength(4);
    a.sink.take();
    a.message(chatId, 5);
    const refused = a.error();
    expect(refused.code).toBe(ErrorCode.ERROR_CODE_RATE_LIMITED);
    expect(refused.seq).toBe(5);
    expect(refused.message).toContain("more than 4 messages");
    expect(b.sink.take()).toEqual([]);
    expect(await metricValue(h.metrics.limitRefusals, { limit: "in_flight" })).toBe(1);
    b.ack(chatId, 1);
    a.sink.take();
    a.message(chatId, 5);
    expect(b.sink.one("delivery").seq).toBe(5);
  });

  it("does not count a retransmission of something already in flight", () => {
    const { a, b, chatId } = chatOf(2);
    a.message(chatId, 1);
    a.message(chatId, 2);
    b.sink.take();
    a.sink.take();
    a.message(chatId, 2);
    expect(a.sink.take().filter((f) => f.body?.$case === "error")).toEqual([]);
  });
});

describe("Router: offers waiting for one app", () => {
  it("refuses offers past maxPendingOffersPerApp, from however many identities", async () => {
    const h = newRouter({ limits: { maxPendingOffersPerApp: 3 } });
    const target = h.app();
    target.connect();
    const strangers: TestApp[] = [];
    for (let i = 0; i < 4; i++) {
      const s = h.app(Identity.generate(), `198.51.100.${i}`);
      s.connect();
      strangers.push(s);
    }
    for (const s of strangers.slice(0, 3)) {
      s.startChat(target);
      s.sink.one("chatPending");
    }
    expect(target.sink.take().filter((f) => f.body?.$case === "chatOffer")).toHaveLength(3);
    strangers[3]!.startChat(target);
    const refused = strangers[3]!.error();
    expect(refused.code).toBe(ErrorCode.ERROR_CODE_RATE_LIMITED);
    expect(refused.message).toContain("3 offers waiting");
    expect(target.sink.take()).toEqual([]);
    expect(await metricValue(h.metrics.limitRefusals, { limit: "pending_offers" })).toBe(1);
  });
});

describe("Router: strangers", () => {
  it("closes streams past maxUnauthenticatedSessions at once; connected apps do not count", async () => {
    const h = newRouter({ limits: { maxUnauthenticatedSessions: 2 } });
    const connected = h.app();
    connected.connect();
    h.app().open();
    h.app().open();
    const third = new RecordingSink();
    h.router.open(third, "192.0.2.9");
    expect(third.takeCases()).toEqual(["sessionClosed"]);
    expect(third.ended).toBe(true);
    expect(await metricValue(h.metrics.limitRefusals, { limit: "unauthenticated_sessions" })).toBe(1);
    expect(h.router.stats().sessions).toBe(1);
  });

  it("checks at most connectsPerSecondPerAddress connects per address, before any signature", async () => {
    const h = newRouter({ limits: { connectsPerSecondPerAddress: 2 } });
    for (let i = 0; i < 4; i++) expect(h.app(undefined, "203.0.113.7").connect().appId).not.toBe("");
    const refused = h.app(undefined, "203.0.113.7");
    refused.open();
    refused.send({ $case: "connect", value: refused.connectBody() }, "c-connect");
    const error = refused.sink.pick("error");
    expect(error.code).toBe(ErrorCode.ERROR_CODE_RATE_LIMITED);
    expect(error.message).toContain("203.0.113.7");
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(refused.sink.ended).toBe(true);
    expect(refused.sink.wentAway).toBe(false);
    // No connect is left for a new connection either: the door holds it until one is.
    expect(h.router.admitConnection("203.0.113.7")).toMatchObject({ why: "connect_rate" });
    expect(await metricValue(h.metrics.limitRefusals, { limit: "connect_rate" })).toBe(1);
    // Another address is not held back, and the budget refills.
    expect(h.app(undefined, "203.0.113.8").connect().appId).not.toBe("");
    h.clock.advance(500);
    expect(h.app(undefined, "203.0.113.7").connect().appId).not.toBe("");
  });

  it("refuses connects from an address whose connects keep failing, unchecked, until its budget refills", () => {
    const h = newRouter({ limits: { connectFailuresPerMinutePerAddress: 3 } });
    const address = "203.0.113.9";
    for (let i = 0; i < 3; i++) {
      const bad = h.app(undefined, address);
      bad.open();
      bad.send({ $case: "connect", value: bad.connectBody({ signature: new Uint8Array(64) }) }, "c");
      expect(bad.sink.pick("error").code).toBe(ErrorCode.ERROR_CODE_AUTH_FAILED);
    }
    const honest = h.app(undefined, address);
    honest.open();
    honest.send({ $case: "connect", value: honest.connectBody() }, "c");
    expect(honest.sink.pick("error").code).toBe(ErrorCode.ERROR_CODE_RATE_LIMITED);
    // Its connection is asked to take no more streams, and new ones are turned away at the door;
    // a refusal for speed alone (the connects budget) does neither.
    expect(honest.sink.wentAway).toBe(true);
    expect(h.router.admitConnection(address)?.why).toBe("failed_connects");
    expect(h.router.admitConnection("203.0.113.10")).toBeUndefined();
    h.clock.advance(20_000);
    expect(h.router.admitConnection(address)).toBeUndefined();
    expect(h.app(undefined, address).connect().appId).not.toBe("");
  });

  it("refuses connects from an address whose streams keep being cut for not reading, until its budget refills", () => {
    const h = newRouter({ limits: { slowReaderCutsPerMinutePerAddress: 2 } });
    const address = "203.0.113.11";
    for (let i = 0; i < 2; i++) {
      const reader = h.app(undefined, address);
      reader.connect();
      expect(h.router.admitConnection(address)).toBeUndefined();
      h.router.cutSlow(reader.session!);
    }
    expect(h.router.stats().sessions).toBe(0);
    const next = h.app(undefined, address);
    next.open();
    next.send({ $case: "connect", value: next.connectBody() }, "c");
    const error = next.sink.pick("error");
    expect(error.code).toBe(ErrorCode.ERROR_CODE_RATE_LIMITED);
    expect(error.message).toContain(`streams from ${address} were cut too often for not reading`);
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(next.sink.wentAway).toBe(true);
    expect(h.router.admitConnection(address)?.why).toBe("slow_reader");
    // Other addresses are served meanwhile; one cut earns back in 30 s (2 a minute).
    expect(h.app(undefined, "203.0.113.12").connect().appId).not.toBe("");
    h.clock.advance(30_000);
    expect(h.router.admitConnection(address)).toBeUndefined();
    expect(h.app(undefined, address).connect().appId).not.toBe("");
  });
});

describe("AddressBudgets", () => {
  it("keeps a budget per address and forgets them all rather than grow without bound", () => {
    const budgets = new AddressBudgets({
      connectsPerSecondPerAddress: 1,
      connectFailuresPerMinutePerAddress: 1,
      slowReaderCutsPerMinutePerAddress: 1,
    });
    expect(budgets.takeConnect("a", 0).ok).toBe(true);
    expect(budgets.takeConnect("a", 0).ok).toBe(true);
    expect(budgets.takeConnect("a", 0).ok).toBe(false);
    for (let i = 0; i < 10_000; i++) budgets.takeConnect(`x${i}`, 0);
    expect(budgets.takeConnect("a", 0).ok).toBe(true);
  });

  it("bars an address for failed connects first, then for cut streams, each until it refills", () => {
    const budgets = new AddressBudgets({
      connectsPerSecondPerAddress: 100,
      connectFailuresPerMinutePerAddress: 1,
      slowReaderCutsPerMinutePerAddress: 1,
    });
    budgets.cutSlow("a", 0);
    expect(budgets.admit("a", 0)).toEqual({ why: "slow_reader", retryAfterMs: 60_000 });
    expect(budgets.takeConnect("a", 0)).toEqual({ ok: false, retryAfterMs: 60_000, bar: "slow_reader" });
    budgets.failed("a", 0);
    expect(budgets.admit("a", 30_000)?.why).toBe("failed_connects");
    expect(budgets.admit("a", 60_000)).toBeUndefined();
    expect(budgets.admit("b", 0)).toBeUndefined();
    expect(budgets.takeConnect("a", 60_000).ok).toBe(true);
  });

  it("takes a connect at the door for each connection let in, which its Connect then spends", () => {
    const budgets = new AddressBudgets({
      connectsPerSecondPerAddress: 1,
      connectFailuresPerMinutePerAddress: 10,
      slowReaderCutsPerMinutePerAddress: 10,
    });
    expect(budgets.admit("a", 0)).toBeUndefined();
    expect(budgets.admit("a", 0)).toBeUndefined();
    expect(budgets.admit("a", 0)).toEqual({ why: "connect_rate", retryAfterMs: 1000 });
    expect(budgets.takeConnect("a", 0).ok).toBe(true);
    expect(budgets.takeConnect("a", 0).ok).toBe(true);
    expect(budgets.takeConnect("a", 0).ok).toBe(false);
    // Connections that never connect leave at most a burst (2) of connects taken, not more.
    for (const now of [10_000, 20_000]) {
      expect(budgets.admit("a", now)).toBeUndefined();
      expect(budgets.admit("a", now)).toBeUndefined();
    }
    expect(budgets.takeConnect("a", 20_000).ok).toBe(true);
    expect(budgets.takeConnect("a", 20_000).ok).toBe(true);
    expect(budgets.takeConnect("a", 20_000).ok).toBe(false);
  });
});

describe("WriteQueues", () => {
  const limits = { maxQueuedBytesPerSession: 100, maxQueuedBytes: 150 };

  it("names a stream holding more than its share, and counts what its connection took", () => {
    const q = new WriteQueues<string>(limits);
    expect(q.add("a", 60)).toBeUndefined();
    q.taken("a", 60);
    expect(q.add("a", 90)).toBeUndefined();
    expect(q.add("a", 20)).toBe("a");
    expect(q.totalBytes).toBe(110);
    q.drop("a");
    expect(q.totalBytes).toBe(0);
    q.taken("a", 20); // a late callback of a dropped stream
    expect(q.totalBytes).toBe(0);
  });

  it("past the node-wide bound, names the stream holding most (not the one writing)", () => {
    const q = new WriteQueues<string>(limits);
    q.add("slow", 90);
    q.add("b", 40);
    expect(q.add("c", 30)).toBe("slow");
  });
});

describe("Router: what a stranger's bytes get back", () => {
  it("closes a stream whose first frame does not decode", () => {
    const h = newRouter();
    const app = h.app();
    app.open();
    h.router.receive(app.session!, { malformed: "uint64 timestamp_ms above 2^53 - 1" });
    expect(app.sink.take().map((f) => f.body?.$case)).toEqual(["error", "sessionClosed"]);
    expect(app.sink.ended).toBe(true);
  });

  it("refuses an oversized correlation_id without echoing it", () => {
    const h = newRouter();
    const app = h.app();
    app.connect();
    app.sink.take();
    app.ack(UNKNOWN, 1, "x".repeat(200_000));
    const error = app.error();
    expect(error.code).toBe(ErrorCode.ERROR_CODE_INVALID_ARGUMENT);
    expect(error.correlationId).toBe("");
    expect(error.message.length).toBeLessThan(100);
  });

  it("refuses a malformed chat_id with INVALID_ARGUMENT, without echoing it", () => {
    const h = newRouter();
    const app = h.app();
    app.connect();
    app.sink.take();
    app.message("z".repeat(200_000), 1, new Uint8Array([1]), "m1");
    const error = app.error();
    expect(error.code).toBe(ErrorCode.ERROR_CODE_INVALID_ARGUMENT);
    expect(error.chatId).toBe("");
    expect(error.correlationId).toBe("m1");
    expect(error.message).toContain("32 lowercase hex");
  });
});
