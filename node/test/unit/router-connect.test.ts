import { describe, expect, it } from "vitest";
import { ID_PATTERN, Identity } from "../../src/identity/index.js";
import { PROTOCOL_VERSION } from "../../src/router/router.js";
import { flipped, signedConnect } from "../support/frames.js";
import { ErrorCode, metricValue, newRouter, SessionCloseReason, type TestApp } from "../support/router.js";
import { RecordingSink } from "../support/sink.js";

/** The stream got an AUTH_FAILED error naming the problem, then was closed. */
async function expectAuthFailed(app: TestApp, problem: RegExp): Promise<void> {
  const [error, closed, ...rest] = app.sink.take();
  expect(rest).toEqual([]);
  expect(error?.body?.$case).toBe("error");
  if (error?.body?.$case !== "error") return;
  expect(error.body.value.code).toBe(ErrorCode.ERROR_CODE_AUTH_FAILED);
  expect(error.body.value.message).toMatch(problem);
  expect(error.correlationId).toBe("c1");
  expect(closed?.body).toMatchObject({
    $case: "sessionClosed",
    value: { reason: SessionCloseReason.SESSION_CLOSE_REASON_PROTOCOL },
  });
  expect(app.sink.ended).toBe(true);
  expect(app.session?.state).toBe("closed");
  expect(app.h.router.stats().sessions).toBe(0);
  expect(await metricValue(app.h.metrics.connects, { result: "auth_failed" })).toBe(1);
  // Nothing more is said on a closed stream.
  app.send({ $case: "heartbeat", value: { timestampMs: 1 } });
  expect(app.sink.take()).toEqual([]);
}

describe("Router: connect", () => {
  it("speaks first with a fresh 32-byte nonce and its own ID and key", () => {
    const h = newRouter();
    const a = h.app().open();
    const b = h.app().open();
    expect(a.nonce).toHaveLength(32);
    expect(Buffer.from(a.nonce).equals(Buffer.from(b.nonce))).toBe(false);
    expect(a.nodeId).toBe(h.identity.id);
    expect(Buffer.from(a.nodePublicKey).equals(Buffer.from(h.identity.publicKey))).toBe(true);
    expect(a.protocolVersion).toBe(PROTOCOL_VERSION);
  });

  it("answers a good signed connect with a ConnectAck", async () => {
    const h = newRouter();
    const app = h.app();
    const ack = app.connect();
    expect(ack.correlationId).toBe("c-connect");
    expect(ack.sessionId).toBe(app.session?.id);
    expect(ack.sessionId).toMatch(/^[0-9a-f]{32}$/);
    expect(ack.appId).toBe(app.id);
    expect(ack.appId).toMatch(ID_PATTERN);
    expect(ack.nodeId).toBe(h.identity.id);
    expect(ack.replacedSession).toBe(false);
    expect(ack.chats).toEqual([]);
    expect(ack.heartbeatIntervalMs).toBe(h.timeouts.heartbeatIntervalMs);
    expect(ack.limits).toMatchObject({
      maxCiphertextBytes: h.limits.maxCiphertextBytes,
      messagesPerSecond: h.limits.messagesPerSecond,
      maxChats: h.limits.maxChatsPerApp,
      sessionIdleMs: h.timeouts.sessionIdleMs,
    });
    expect(app.sink.ended).toBe(false);
    expect(h.router.stats().sessions).toBe(1);
    expect(await metricValue(h.metrics.connects, { result: "ok" })).toBe(1);
    expect(await metricValue(h.metrics.sessions)).toBe(1);
  });

  it("refuses a bad signature", async () => {
    const app = newRouter().app();
    const good = app.connectBody();
    app.send({ $case: "connect", value: { ...good, signature: flipped(good.signature) } }, "c1");
    await expectAuthFailed(app, /signature does not verify/);
  });

  it("refuses a connect signed for another node", async () => {
    const h = newRouter();
    const app = h.app();
    const challenge = app.open();
    const value = signedConnect(app.identity, {
      nodeId: Identity.generate().id,
      nonce: challenge.nonce,
      timestampMs: h.clock.now(),
    });
    app.send({ $case: "connect", value }, "c1");
    await expectAuthFailed(app, /signed for this node/);
  });

  it("refuses a connect replayed from another stream's challenge", async () => {
    const h = newRouter();
    const app = h.app();
    const first = app.connectBody(); // signed for the first stream's nonce
    app.open(); // a second stream with a new challenge
    app.send({ $case: "connect", value: first }, "c1");
    await expectAuthFailed(app, /nonce does not match/);
  });

  it("refuses a stale timestamp beyond the clock skew", async () => {
    const h = newRouter({ timeouts: { clockSkewMs: 60_000 } });
    const app = h.app();
    const challenge = app.open();
    const value = signedConnect(app.identity, {
      nodeId: challenge.nodeId,
      nonce: challenge.nonce,
      timestampMs: h.clock.now() - 60_001,
    });
    app.send({ $case: "connect", value }, "c1");
    await expectAuthFailed(app, /timestamp is 60001 ms away.*limit 60000 ms/);
  });

  it("accepts a timestamp just inside the clock skew", () => {
    const h = newRouter({ timeouts: { clockSkewMs: 60_000 } });
    const app = h.app();
    const challenge = app.open();
    const value = signedConnect(app.identity, {
      nodeId: challenge.nodeId,
      nonce: challenge.nonce,
      timestampMs: h.clock.now() + 60_000,
    });
    app.send({ $case: "connect", value });
    expect(app.sink.one("connectAck").appId).toBe(app.id);
  });

  it("refuses a public key of the wrong length", async () => {
    const app = newRouter().app();
    app.send({ $case: "connect", value: app.connectBody({ publicKey: new Uint8Array(31) }) }, "c1");
    await expectAuthFailed(app, /public_key must be 32 bytes, got 31/);
  });

  it("refuses frames before connect with NOT_CONNECTED and keeps the stream", () => {
    const app = newRouter().app();
    app.open();
    app.send({ $case: "findApp", value: { appId: app.id } }, "c7");
    const error = app.error();
    expect(error.code).toBe(ErrorCode.ERROR_CODE_NOT_CONNECTED);
    expect(error.message).toMatch(/findApp before connect/);
    expect(error.correlationId).toBe("c7");
    expect(app.sink.ended).toBe(false);
    app.send({ $case: "connect", value: app.connectBody() });
    expect(app.sink.one("connectAck").appId).toBe(app.id);
  });

  it("refuses a second connect on the same stream with ALREADY_CONNECTED", () => {
    const h = newRouter();
    const app = h.app();
    const ack = app.connect();
    app.send({ $case: "connect", value: app.connectBody() }, "again");
    const error = app.error();
    expect(error.code).toBe(ErrorCode.ERROR_CODE_ALREADY_CONNECTED);
    expect(error.correlationId).toBe("again");
    expect(app.sink.ended).toBe(false);
    expect(app.session?.id).toBe(ack.sessionId);
    expect(h.router.stats().sessions).toBe(1);
  });

  it("lets a new connect of the same app replace the old session", async () => {
    const h = newRouter();
    const app = h.app();
    const firstAck = app.connect();
    const oldSink = app.sink;
    const oldSession = app.session!;
    const ack = app.connect();
    expect(ack.replacedSession).toBe(true);
    expect(ack.sessionId).not.toBe(firstAck.sessionId);
    // The old session is shown the Connect that replaced it, signed by the app itself.
    const { signature } = signedConnect(app.identity, {
      nodeId: h.identity.id,
      nonce: app.challenge!.nonce,
      timestampMs: h.clock.now(),
    });
    expect(oldSink.take()).toEqual([
      {
        correlationId: "",
        body: {
          $case: "sessionClosed",
          value: {
            reason: SessionCloseReason.SESSION_CLOSE_REASON_REPLACED,
            detail: `replaced by session ${ack.sessionId}`,
            replacedBy: {
              nodeId: h.identity.id,
              nonce: Uint8Array.from(app.challenge!.nonce),
              timestampMs: h.clock.now(),
              signature,
            },
          },
        },
      },
    ]);
    expect(oldSink.ended).toBe(true);
    expect(oldSink.endCalls).toBe(1);
    expect(h.router.stats().sessions).toBe(1);
    expect(await metricValue(h.metrics.connects, { result: "replaced" })).toBe(1);

    // The old stream ending afterwards does not take the new session down.
    h.router.disconnected(oldSession);
    const other = h.app();
    other.connect();
    other.send({ $case: "findApp", value: { appId: app.id } }, "f");
    expect(other.sink.one("findAppResult")).toMatchObject({
      appId: app.id,
      online: true,
      nodeId: h.identity.id,
    });
  });

  it("refuses new apps beyond maxSessions but still lets a connected app reconnect", async () => {
    const h = newRouter({ limits: { maxSessions: 1 } });
    const first = h.app();
    first.connect();
    const second = h.app();
    second.open();
    second.send({ $case: "connect", value: second.connectBody() }, "c2");
    const [error, closed] = second.sink.take();
    expect(error?.body).toMatchObject({ $case: "error", value: { code: ErrorCode.ERROR_CODE_RATE_LIMITED } });
    expect(error?.body?.$case === "error" && error.body.value.retryAfterMs).toBeGreaterThan(0);
    expect(error?.body?.$case === "error" && error.body.value.message).toMatch(/limit of 1 sessions/);
    expect(closed?.body?.$case).toBe("sessionClosed");
    expect(second.sink.ended).toBe(true);
    expect(await metricValue(h.metrics.limitRefusals, { limit: "max_sessions" })).toBe(1);
    expect(await metricValue(h.metrics.connects, { result: "refused" })).toBe(1);
    expect(first.connect().replacedSession).toBe(true);
  });

  it("answers heartbeats with the node's time", () => {
    const h = newRouter();
    const app = h.app();
    app.connect();
    app.send({ $case: "heartbeat", value: { timestampMs: 5 } }, "hb");
    expect(app.sink.one("heartbeat")).toEqual({ timestampMs: h.clock.now(), correlationId: "hb" });
  });

  it("finds apps: online here, offline, and not an app ID", () => {
    const h = newRouter();
    const app = h.app();
    app.connect();
    const offline = Identity.generate().id;
    app.send({ $case: "findApp", value: { appId: offline } }, "f1");
    expect(app.sink.one("findAppResult")).toEqual({
      appId: offline,
      online: false,
      nodeId: "",
      appEndpoint: "",
      correlationId: "f1",
    });
    app.send({ $case: "findApp", value: { appId: "NOT-AN-ID" } }, "f2");
    expect(app.error().code).toBe(ErrorCode.ERROR_CODE_INVALID_ARGUMENT);
  });

  it("finds apps on other nodes through the locator and lists their endpoints", () => {
    const remoteApp = Identity.generate().id;
    const where = { nodeId: Identity.generate().id, appEndpoint: "10.0.0.2:7400" };
    const h = newRouter({
      locator: { locate: (id) => (id === remoteApp ? where : undefined), endpoints: () => [where] },
    });
    const app = h.app();
    expect(app.connect().endpoints).toEqual([where]);
    app.send({ $case: "findApp", value: { appId: remoteApp } });
    expect(app.sink.one("findAppResult")).toMatchObject({ online: true, ...where });
  });
});

describe("Router: bad frames", () => {
  it("answers a malformed frame and a frame with no body with MALFORMED_FRAME; the stream stays up", () => {
    const app = newRouter().app();
    app.connect();
    app.h.router.receive(app.session!, { malformed: "index out of range" });
    const first = app.error();
    expect(first.code).toBe(ErrorCode.ERROR_CODE_MALFORMED_FRAME);
    expect(first.message).toMatch(/index out of range/);
    app.send(undefined, "empty");
    const second = app.error();
    expect(second.code).toBe(ErrorCode.ERROR_CODE_MALFORMED_FRAME);
    expect(second.message).toMatch(/no body/);
    expect(second.correlationId).toBe("empty");
    expect(app.sink.ended).toBe(false);
    expect(app.h.router.stats().sessions).toBe(1);
  });

  it("closes the session with PROTOCOL past badFramesPerMinute", async () => {
    const h = newRouter({ limits: { badFramesPerMinute: 3 } });
    const app = h.app();
    app.connect();
    for (let i = 0; i < 3; i++) h.router.receive(app.session!, { malformed: "junk" });
    expect(app.sink.takeCases()).toEqual(["error", "error", "error"]);
    expect(app.sink.ended).toBe(false);
    h.router.receive(app.session!, { malformed: "junk" });
    expect(app.sink.take().map((f) => f.body)).toEqual([
      expect.objectContaining({ $case: "error" }),
      {
        $case: "sessionClosed",
        value: { reason: SessionCloseReason.SESSION_CLOSE_REASON_PROTOCOL, detail: "too many bad frames" },
      },
    ]);
    expect(app.sink.ended).toBe(true);
    expect(h.router.stats().sessions).toBe(0);
    expect(await metricValue(h.metrics.limitRefusals, { limit: "bad_frames" })).toBe(1);
    expect(await metricValue(h.metrics.refusedFrames, { code: "malformed_frame" })).toBe(4);
  });

  it("refills the bad-frame budget over time", () => {
    const h = newRouter({ limits: { badFramesPerMinute: 2 } });
    const app = h.app();
    app.connect();
    for (let round = 0; round < 3; round++) {
      h.router.receive(app.session!, { malformed: "junk" });
      h.router.receive(app.session!, { malformed: "junk" });
      h.clock.advance(60_000);
    }
    expect(app.sink.ended).toBe(false);
  });

  it("does not count ordinary flow-control refusals as bad frames", () => {
    const h = newRouter({ limits: { badFramesPerMinute: 1 } });
    const app = h.app();
    app.connect();
    for (let i = 0; i < 5; i++) app.message("0".repeat(32), 1); // UNKNOWN_CHAT
    expect(app.sink.all("error").map((e) => e.code)).toEqual(
      Array(5).fill(ErrorCode.ERROR_CODE_UNKNOWN_CHAT),
    );
    expect(app.sink.ended).toBe(false);
  });
});

describe("Router: session expiry and shutdown", () => {
  it("closes a connected session idle for longer than sessionIdleMs with IDLE", () => {
    const h = newRouter({ timeouts: { sessionIdleMs: 30_000 } });
    const idle = h.app();
    const busy = h.app();
    idle.connect();
    busy.connect();
    for (let t = 0; t < 3; t++) {
      h.clock.advance(10_000);
      busy.send({ $case: "heartbeat", value: { timestampMs: h.clock.now() } });
    }
    h.clock.advance(1);
    h.router.sweep();
    expect(idle.sink.last("sessionClosed")?.reason).toBe(SessionCloseReason.SESSION_CLOSE_REASON_IDLE);
    expect(idle.sink.ended).toBe(true);
    expect(busy.sink.ended).toBe(false);
    expect(h.router.stats().sessions).toBe(1);
  });

  it("keeps a session exactly at the idle limit", () => {
    const h = newRouter({ timeouts: { sessionIdleMs: 30_000 } });
    const app = h.app();
    app.connect();
    h.clock.advance(30_000);
    h.router.sweep();
    expect(app.sink.ended).toBe(false);
  });

  it("closes a stream that never connects within authenticateWithinMs, however busy it keeps", () => {
    const h = newRouter({ timeouts: { authenticateWithinMs: 10_000 } });
    const app = h.app();
    app.open();
    for (let t = 0; t < 9; t++) {
      h.clock.advance(1000);
      app.send({ $case: "heartbeat", value: { timestampMs: h.clock.now() } });
      h.router.sweep();
    }
    h.clock.advance(999);
    expect(app.sink.ended).toBe(false);
    app.sink.take();
    h.clock.advance(1);
    expect(app.sink.one("sessionClosed").reason).toBe(SessionCloseReason.SESSION_CLOSE_REASON_IDLE);
    expect(app.sink.ended).toBe(true);
    expect(h.clock.pending()).toBe(0);
  });

  it("a connected app's deadline to connect is cancelled", () => {
    const h = newRouter({ timeouts: { authenticateWithinMs: 10_000 } });
    const app = h.app();
    app.connect();
    h.clock.advance(20_000);
    expect(app.sink.ended).toBe(false);
    expect(h.clock.pending()).toBe(0);
  });

  it("shutdown() closes every session with SHUTDOWN and closes new streams at once", () => {
    const h = newRouter();
    const connected = h.app();
    connected.connect();
    const challenged = h.app();
    challenged.open();
    h.router.shutdown();
    for (const app of [connected, challenged]) {
      expect(app.sink.one("sessionClosed").reason).toBe(SessionCloseReason.SESSION_CLOSE_REASON_SHUTDOWN);
      expect(app.sink.ended).toBe(true);
    }
    expect(h.router.stats().sessions).toBe(0);
    const late = new RecordingSink();
    const session = h.router.open(late);
    expect(late.takeCases()).toEqual(["sessionClosed"]);
    expect(late.last("sessionClosed")?.reason).toBe(SessionCloseReason.SESSION_CLOSE_REASON_SHUTDOWN);
    expect(late.ended).toBe(true);
    expect(session.state).toBe("closed");
  });
});
