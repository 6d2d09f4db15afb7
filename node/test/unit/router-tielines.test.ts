import type { approuter, nodemesh } from "@hermes/proto";
import { describe, expect, it } from "vitest";
import { Identity, sign } from "../../src/identity/index.js";
import { flipped, newChatId, newEphemeralKey, signedStartChat } from "../support/frames.js";
import { crossChat, deliveries, FakeMesh, settle } from "../support/mesh-link.js";
import { ChatEndReason, ErrorCode, metricValue, type RouterOverrides } from "../support/router.js";

/** Two nodes A and B with app `a` on A and app `b` on B, both connected. */
function twoNodes(o: RouterOverrides = {}) {
  const mesh = new FakeMesh();
  const A = mesh.node(o);
  const B = mesh.node(o);
  const a = A.app();
  const b = B.app();
  a.connect();
  b.connect();
  return { mesh, A, B, a, b };
}

const text = (s: string) => new Uint8Array(Buffer.from(s));

describe("tielines: starting a chat across nodes", () => {
  it("carries the offer to the target's node, the acceptance back, and makes the chat ready on both", async () => {
    const { A, B, a, b } = twoNodes();
    const start = a.startChat(b, {}, "s1");
    expect(a.sink.one("chatPending")).toEqual({
      chatId: start.chatId,
      targetAppId: b.id,
      correlationId: "s1",
    });
    const sentOffer = A.link.one("offer");
    expect(sentOffer).toMatchObject({
      to: B.nodeId,
      chatId: start.chatId,
      initiatorAppId: a.id,
      targetAppId: b.id,
      timestampMs: start.timestampMs,
    });
    expect(Buffer.from(sentOffer.signature).equals(Buffer.from(start.signature))).toBe(true);
    expect(A.router.stats().chats).toEqual({ pending: 1, ready: 0 });

    await settle();
    const offer = b.sink.one("chatOffer");
    expect(offer).toMatchObject({
      chatId: start.chatId,
      initiatorAppId: a.id,
      timestampMs: start.timestampMs,
    });
    expect(Buffer.from(offer.initiatorPublicKey).equals(Buffer.from(a.identity.publicKey))).toBe(true);
    expect(Buffer.from(offer.ephemeralKey).equals(Buffer.from(start.ephemeralKey))).toBe(true);
    expect(B.router.stats().chats).toEqual({ pending: 1, ready: 0 });

    b.accept(offer, {}, "acc");
    const atB = b.sink.one("chatReady");
    expect(atB.correlationId).toBe("acc");
    expect(B.link.one("accepted").to).toBe(A.nodeId);
    await settle();
    const atA = a.sink.one("chatReady");
    const { correlationId: _1, ...readyA } = atA;
    const { correlationId: _2, ...readyB } = atB;
    expect(readyA).toEqual(readyB);
    expect(readyA).toMatchObject({ chatId: start.chatId, initiatorAppId: a.id, targetAppId: b.id });
    expect(A.router.stats().chats).toEqual({ pending: 0, ready: 1 });
    expect(B.router.stats().chats).toEqual({ pending: 0, ready: 1 });
    // Both nodes keep a record of the chat, naming the other node.
    await A.store.flush();
    await B.store.flush();
    expect(A.backend.persistedNames("chat/")).toEqual([`chat/${start.chatId}`]);
    expect(B.backend.persistedNames("chat/")).toEqual([`chat/${start.chatId}`]);
    const record = JSON.parse(Buffer.from(A.backend.persisted.get(`chat/${start.chatId}`)!).toString());
    expect(record.remote).toEqual({ app: b.id, node: B.nodeId, boundAtMs: 0 });
  });

  it("carries a rejection back to the initiator and ends the chat on both nodes", async () => {
    const { A, B, a, b } = twoNodes();
    const start = a.startChat(b);
    await settle();
    const offer = b.sink.one("chatOffer");
    b.send({ $case: "rejectChat", value: { chatId: offer.chatId, reason: "busy" } });
    expect(B.link.one("rejected")).toMatchObject({ chatId: start.chatId, reason: "busy" });
    await settle();
    expect(a.sink.take().map((f) => f.body)).toEqual([
      { $case: "chatPending", value: { chatId: start.chatId, targetAppId: b.id } },
      { $case: "chatRejected", value: { chatId: start.chatId, reason: "busy" } },
    ]);
    expect(b.sink.take()).toEqual([]);
    expect(A.router.stats().chats).toEqual({ pending: 0, ready: 0 });
    expect(B.router.stats().chats).toEqual({ pending: 0, ready: 0 });
    expect(await metricValue(A.metrics.chatsEnded, { reason: "rejected" })).toBe(1);
    expect(await metricValue(B.metrics.chatsEnded, { reason: "rejected" })).toBe(1);
  });

  it("refuses the start with ROUTE_UNAVAILABLE and keeps nothing when the tieline cannot take the offer", async () => {
    const { A, B, a, b } = twoNodes();
    A.link.up = false;
    const start = a.startChat(b, {}, "s");
    expect(a.error()).toMatchObject({
      code: ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE,
      chatId: start.chatId,
      correlationId: "s",
    });
    expect(A.router.stats().chats).toEqual({ pending: 0, ready: 0 });
    expect(A.link.sent).toEqual([]);
    await A.store.flush();
    expect(A.backend.persistedNames("chat/")).toEqual([]);
    // Once the tieline is back, a new start goes through.
    A.link.up = true;
    const { chatId } = await crossChat(a, b, A, B);
    expect(chatId).not.toBe(start.chatId);
    expect(A.router.stats().chats.ready).toBe(1);
  });

  it("refuses an acceptance the tieline cannot carry with ROUTE_UNAVAILABLE; the offer stays open", async () => {
    const { A, B, a, b } = twoNodes();
    const start = a.startChat(b);
    a.sink.one("chatPending");
    await settle();
    const offer = b.sink.one("chatOffer");
    B.link.up = false;
    b.accept(offer, {}, "acc1");
    expect(b.error()).toMatchObject({
      code: ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE,
      chatId: start.chatId,
      correlationId: "acc1",
    });
    // Not ready on B while A could not hear of it: no half-made chat.
    expect(B.router.stats().chats).toEqual({ pending: 1, ready: 0 });
    await settle();
    expect(a.sink.take()).toEqual([]);
    B.link.up = true;
    b.accept(offer, {}, "acc2");
    expect(b.sink.one("chatReady").correlationId).toBe("acc2");
    await settle();
    expect(a.sink.one("chatReady").chatId).toBe(start.chatId);
    expect(A.router.stats().chats).toEqual({ pending: 0, ready: 1 });
    expect(B.router.stats().chats).toEqual({ pending: 0, ready: 1 });
  });

  it("ends a pending offer the other node refuses (UNKNOWN_APP) and tells the initiator", async () => {
    const { mesh, A, B, a, b } = twoNodes();
    // b left B, but A's directory still places it there.
    b.disconnect();
    mesh.place(b.id, B);
    const start = a.startChat(b);
    a.sink.one("chatPending");
    await settle();
    expect(B.link.one("error")).toMatchObject({
      to: A.nodeId,
      chatId: start.chatId,
      code: ErrorCode.ERROR_CODE_UNKNOWN_APP,
    });
    const error = a.error();
    expect(error).toMatchObject({ code: ErrorCode.ERROR_CODE_UNKNOWN_APP, chatId: start.chatId });
    expect(error.message).toContain(B.nodeId);
    expect(A.router.stats().chats).toEqual({ pending: 0, ready: 0 });
    expect(B.router.stats().chats).toEqual({ pending: 0, ready: 0 });
    expect(await metricValue(B.metrics.refusedFrames, { code: "unknown_app" })).toBe(1);
    // When b is back, a fresh chat works.
    b.connect();
    await crossChat(a, b, A, B);
    expect(B.router.stats().chats.ready).toBe(1);
  });
});

describe("tielines: messages", () => {
  it("relays messages both ways in order, acked end to end", async () => {
    const { A, B, a, b } = twoNodes();
    const { chatId } = await crossChat(a, b, A, B);
    for (let seq = 1; seq <= 5; seq++) a.message(chatId, seq, text(`a${seq}`));
    expect(A.link.takeCases()).toEqual(["relay", "relay", "relay", "relay", "relay"]);
    await settle();
    expect(deliveries(b)).toEqual([1, 2, 3, 4, 5].map((seq) => ({ seq, text: `a${seq}` })));
    // Nothing is acked to a until b acks: the ack is end to end.
    expect(a.sink.take()).toEqual([]);
    b.ack(chatId, 3);
    expect(B.link.one("relayAck")).toMatchObject({ chatId, seq: 3 });
    await settle();
    expect(a.sink.one("ack")).toMatchObject({ chatId, seq: 3 });
    b.ack(chatId, 5);
    await settle();
    expect(a.sink.one("ack")).toMatchObject({ chatId, seq: 5 });

    for (let seq = 1; seq <= 3; seq++) b.message(chatId, seq, text(`b${seq}`));
    await settle();
    expect(deliveries(a)).toEqual([1, 2, 3].map((seq) => ({ seq, text: `b${seq}` })));
    a.ack(chatId, 3);
    await settle();
    expect(b.sink.one("ack")).toMatchObject({ chatId, seq: 3 });
    expect(await metricValue(A.metrics.messagesRelayed, { scope: "mesh" })).toBe(8);
    expect(await metricValue(B.metrics.messagesRelayed, { scope: "mesh" })).toBe(8);
    expect(B.link.latencies).toHaveLength(5);
    expect(B.link.latencies.every((s) => s >= 0)).toBe(true);
  });

  it("refuses an out-of-order relay, and the sender's node rewinds so the gap is filled in order", async () => {
    const { mesh, A, B, a, b } = twoNodes();
    const { chatId } = await crossChat(a, b, A, B);
    a.message(chatId, 1, text("one"));
    await settle();
    expect(deliveries(b)).toEqual([{ seq: 1, text: "one" }]);
    // Seq 2 is lost on the way; seq 3 arrives.
    mesh.drop = (_f, _t, frame) => frame.body?.$case === "relay" && frame.body.value.seq === 2;
    a.message(chatId, 2, text("two"));
    mesh.drop = undefined;
    a.message(chatId, 3, text("three"));
    await settle();
    expect(deliveries(b)).toEqual([]);
    expect(B.link.one("error")).toMatchObject({
      code: ErrorCode.ERROR_CODE_OUT_OF_ORDER,
      seq: 3,
      expectedSeq: 2,
    });
    expect(a.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_OUT_OF_ORDER, chatId, expectedSeq: 2 });
    // The app resends from 2: A takes it as new (it rewound), B delivers in order.
    a.message(chatId, 2, text("two"));
    a.message(chatId, 3, text("three"));
    await settle();
    expect(deliveries(b)).toEqual([
      { seq: 2, text: "two" },
      { seq: 3, text: "three" },
    ]);
  });

  it("delivers a duplicate relay once: in flight it is dropped, once acked it is acked again", async () => {
    const { A, B, a, b } = twoNodes();
    const { chatId } = await crossChat(a, b, A, B);
    a.message(chatId, 1, text("one"));
    const relay = A.link.take()[0]!.frame;
    await settle();
    expect(deliveries(b)).toHaveLength(1);
    // The same relay again, before b acked.
    B.router.routeFrame(A.nodeId, relay);
    expect(b.sink.take()).toEqual([]);
    expect(B.link.take()).toEqual([]);
    // The app resends it too (it did not see an ack): A passes it on, B drops it.
    a.message(chatId, 1, text("one"));
    await settle();
    expect(b.sink.take()).toEqual([]);
    b.ack(chatId, 1);
    await settle();
    expect(a.sink.one("ack").seq).toBe(1);
    B.link.take();
    // Once acked, a duplicate relay is acked again and still not delivered.
    B.router.routeFrame(A.nodeId, relay);
    expect(B.link.one("relayAck")).toMatchObject({ chatId, seq: 1 });
    expect(b.sink.take()).toEqual([]);
    await settle();
    // A already has that ack: the app is not told twice.
    expect(a.sink.take()).toEqual([]);
    A.link.take();
    // And an app resending an acked seq is answered by its own node.
    a.message(chatId, 1, text("one"));
    expect(a.sink.one("ack").seq).toBe(1);
    expect(A.link.take()).toEqual([]);
  });

  it("sends PEER_UNAVAILABLE back when the receiver is offline; after it reconnects the resend is delivered", async () => {
    const { A, B, a, b } = twoNodes();
    const { chatId } = await crossChat(a, b, A, B);
    b.disconnect();
    a.message(chatId, 1, text("one"));
    expect(A.link.one("relay").seq).toBe(1);
    await settle();
    expect(B.link.one("error")).toMatchObject({
      chatId,
      code: ErrorCode.ERROR_CODE_PEER_UNAVAILABLE,
      seq: 1,
      retryAfterMs: 1000,
    });
    expect(a.error()).toMatchObject({
      code: ErrorCode.ERROR_CODE_PEER_UNAVAILABLE,
      chatId,
      seq: 1,
      retryAfterMs: 1000,
    });
    // A rewound: seq 1 is expected again, so seq 2 is out of order at A itself.
    a.message(chatId, 2, text("two"));
    expect(a.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_OUT_OF_ORDER, expectedSeq: 1 });
    expect(A.link.take()).toEqual([]);

    const ack = b.connect();
    expect(ack.chats.map((c) => c.ready?.chatId)).toEqual([chatId]);
    a.message(chatId, 1, text("one"));
    a.message(chatId, 2, text("two"));
    await settle();
    expect(deliveries(b)).toEqual([
      { seq: 1, text: "one" },
      { seq: 2, text: "two" },
    ]);
    b.ack(chatId, 2);
    await settle();
    expect(a.sink.one("ack").seq).toBe(2);
  });

  it("refuses a relay larger than this node's ciphertext limit, though the sending node allowed it", async () => {
    const mesh = new FakeMesh();
    const A = mesh.node({ limits: { maxCiphertextBytes: 4096 } });
    const B = mesh.node({ limits: { maxCiphertextBytes: 1024 } });
    const a = A.app();
    const b = B.app();
    a.connect();
    b.connect();
    const { chatId } = await crossChat(a, b, A, B);
    a.message(chatId, 1, new Uint8Array(2000));
    expect(A.link.one("relay").ciphertext).toHaveLength(2000);
    await settle();
    expect(b.sink.take()).toEqual([]);
    expect(B.link.one("error")).toMatchObject({ code: ErrorCode.ERROR_CODE_FRAME_TOO_LARGE, seq: 1 });
    const error = a.error();
    expect(error).toMatchObject({ code: ErrorCode.ERROR_CODE_FRAME_TOO_LARGE, chatId, seq: 1 });
    expect(error.message).toContain("1024");
    expect(await metricValue(B.metrics.limitRefusals, { limit: "frame_size" })).toBe(1);
    // A smaller message under the same seq goes through.
    a.message(chatId, 1, text("small"));
    await settle();
    expect(deliveries(b)).toEqual([{ seq: 1, text: "small" }]);
  });

  it("refuses a message with ROUTE_UNAVAILABLE when the tieline cannot take it, and relays the resend later", async () => {
    const { A, B, a, b } = twoNodes();
    const { chatId } = await crossChat(a, b, A, B);
    A.link.up = false;
    a.message(chatId, 1, text("one"), "m1");
    expect(a.error()).toMatchObject({
      code: ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE,
      chatId,
      seq: 1,
      correlationId: "m1",
    });
    A.link.up = true;
    a.message(chatId, 1, text("one"));
    await settle();
    expect(deliveries(b)).toEqual([{ seq: 1, text: "one" }]);
    expect(A.router.stats().chats.ready).toBe(1);
  });
});

describe("tielines: ending chats", () => {
  it("a delete on one node tears the chat down on the other (DELETED / DELETED_BY_PEER)", async () => {
    const { A, B, a, b } = twoNodes();
    const { chatId } = await crossChat(a, b, A, B);
    a.send({ $case: "deleteChat", value: { chatId } }, "del");
    expect(a.sink.one("chatDeleted")).toEqual({
      chatId,
      reason: ChatEndReason.CHAT_END_REASON_DELETED,
      correlationId: "del",
    });
    expect(A.link.one("teardown")).toMatchObject({
      to: B.nodeId,
      chatId,
      reason: ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER,
    });
    await settle();
    expect(b.sink.one("chatDeleted")).toMatchObject({
      chatId,
      reason: ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER,
    });
    expect(A.router.stats().chats).toEqual({ pending: 0, ready: 0 });
    expect(B.router.stats().chats).toEqual({ pending: 0, ready: 0 });
    await A.store.flush();
    await B.store.flush();
    expect(A.backend.persistedNames("chat/")).toEqual([]);
    expect(B.backend.persistedNames("chat/")).toEqual([]);
    // B does not answer the teardown with one of its own.
    expect(B.link.take()).toEqual([]);
  });

  it("a delete by the target's side works the same way", async () => {
    const { A, B, a, b } = twoNodes();
    const { chatId } = await crossChat(a, b, A, B);
    b.send({ $case: "deleteChat", value: { chatId } });
    expect(b.sink.one("chatDeleted").reason).toBe(ChatEndReason.CHAT_END_REASON_DELETED);
    await settle();
    expect(a.sink.one("chatDeleted").reason).toBe(ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER);
    expect(A.router.stats().chats.ready).toBe(0);
  });

  it("idle expiry on one node tears the chat down on the other", async () => {
    // Chats idle out before the sessions do.
    const { A, B, a, b } = twoNodes({ timeouts: { chatIdleMs: 60_000, sessionIdleMs: 90_000 } });
    const { chatId } = await crossChat(a, b, A, B);
    A.clock.advance(A.timeouts.chatIdleMs + 1);
    A.router.sweep();
    expect(a.sink.one("chatDeleted")).toMatchObject({
      chatId,
      reason: ChatEndReason.CHAT_END_REASON_IDLE_EXPIRED,
    });
    expect(A.link.one("teardown").reason).toBe(ChatEndReason.CHAT_END_REASON_IDLE_EXPIRED);
    await settle();
    // B's own clock has not moved: only the teardown ended it there.
    expect(b.sink.one("chatDeleted")).toMatchObject({
      chatId,
      reason: ChatEndReason.CHAT_END_REASON_IDLE_EXPIRED,
    });
    expect(B.router.stats().chats.ready).toBe(0);
    expect(await metricValue(B.metrics.chatsEnded, { reason: "idle_expired" })).toBe(1);
  });

  it("an offer expiring on the target's node is withdrawn on the initiator's", async () => {
    const { A, B, a, b } = twoNodes();
    const start = a.startChat(b);
    a.sink.one("chatPending");
    await settle();
    b.sink.one("chatOffer");
    B.clock.advance(B.timeouts.offerTimeoutMs + 1);
    B.router.sweep();
    expect(b.sink.one("chatDeleted").reason).toBe(ChatEndReason.CHAT_END_REASON_OFFER_EXPIRED);
    await settle();
    expect(a.sink.one("chatDeleted")).toMatchObject({
      chatId: start.chatId,
      reason: ChatEndReason.CHAT_END_REASON_OFFER_EXPIRED,
    });
    expect(A.router.stats().chats.pending).toBe(0);
  });

  it("nodeLost keeps the chats through that node waiting and ends the offers through it", async () => {
    const mesh = new FakeMesh();
    const [A, B, C] = [mesh.node(), mesh.node(), mesh.node()];
    const a = A.app();
    const a2 = A.app();
    const local = A.app();
    const b = B.app();
    const c = C.app();
    for (const app of [a, a2, local, b, c]) app.connect();
    const viaB = await crossChat(a, b, A, B);
    const viaC = await crossChat(a, c, A, C);
    // A pending offer to b, and a chat between two apps on A.
    const pending = a2.startChat(b);
    a2.sink.one("chatPending");
    await settle();
    b.sink.one("chatOffer");
    const start = local.startChat(a);
    local.sink.one("chatPending");
    const offer = a.sink.one("chatOffer");
    a.accept(offer);
    a.sink.one("chatReady");
    local.sink.one("chatReady");
    A.link.take();

    expect(A.router.nodeLost(B.nodeId)).toBe(1);
    expect(a.sink.take()).toEqual([]);
    expect(a2.sink.one("chatDeleted")).toMatchObject({
      chatId: pending.chatId,
      reason: ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE,
    });
    expect(local.sink.take()).toEqual([]);
    // Nothing is sent towards the lost node.
    expect(A.link.take()).toEqual([]);
    expect(A.router.stats().chats).toEqual({ pending: 0, ready: 3 });
    await A.store.flush();
    expect(A.backend.persistedNames("chat/").sort()).toEqual(
      [`chat/${viaB.chatId}`, `chat/${viaC.chatId}`, `chat/${start.chatId}`].sort(),
    );
    // The chat through C still works; the one through B waits for b to resume somewhere.
    a.message(viaC.chatId, 1, text("still here"));
    await settle();
    expect(deliveries(c)).toEqual([{ seq: 1, text: "still here" }]);
    A.link.take();
    a.message(viaB.chatId, 1);
    expect(a.error()).toMatchObject({
      code: ErrorCode.ERROR_CODE_PEER_UNAVAILABLE,
      chatId: viaB.chatId,
      seq: 1,
    });
    expect(A.link.take()).toEqual([]);
    expect(A.router.nodeLost(B.nodeId)).toBe(0);
  });

  it("nodeLost on the target's side keeps its chats with the lost initiator's node waiting too", async () => {
    const { A, B, a, b } = twoNodes();
    const { chatId } = await crossChat(a, b, A, B);
    expect(B.router.nodeLost(A.nodeId)).toBe(1);
    expect(b.sink.take()).toEqual([]);
    b.message(chatId, 1);
    expect(b.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_PEER_UNAVAILABLE, chatId });
    expect(B.router.stats().chats.ready).toBe(1);
    expect(B.link.take()).toEqual([]);
  });

  it("a waiting chat finds its peer on the next sweep when the directory knows it but no news came", async () => {
    const mesh = new FakeMesh();
    const [A, B, C] = [mesh.node(), mesh.node(), mesh.node()];
    const a = A.app();
    const b = B.app();
    a.connect();
    b.connect();
    const { chatId } = await crossChat(a, b, A, B);
    A.router.nodeLost(B.nodeId);
    // b is on C by now, but A missed the news (it came before A carried the chat, say).
    A.link.locations.set(b.id, { nodeId: C.nodeId, appEndpoint: `${C.nodeId}:7400` });
    A.link.take();
    A.router.sweep();
    // A asks C for the chat's marks, as on any route change.
    expect(A.link.one("sync")).toMatchObject({ to: C.nodeId, chatId, appId: a.id, peerAppId: b.id });
    // A later sweep with nothing new sends nothing more.
    A.router.sweep();
    expect(A.link.take()).toEqual([]);
  });
});

describe("tielines: frames that are refused or ignored", () => {
  it("ignores frames about a chat from a node that is not the chat's other end", async () => {
    const mesh = new FakeMesh();
    const [A, B] = [mesh.node(), mesh.node()];
    const intruder = Identity.generate().id;
    const a = A.app();
    const b = B.app();
    a.connect();
    b.connect();
    const { chatId, ready } = await crossChat(a, b, A, B);
    const frames: nodemesh.RouteFrame[] = [
      { body: { $case: "accepted", value: { ready } } },
      { body: { $case: "rejected", value: { chatId, reason: "no" } } },
      {
        body: {
          $case: "relay",
          value: { chatId, fromAppId: b.id, seq: 1, ciphertext: text("x"), sentAtMs: 0 },
        },
      },
      { body: { $case: "relayAck", value: { chatId, seq: 1 } } },
      {
        body: { $case: "teardown", value: { chatId, reason: ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER } },
      },
      {
        body: {
          $case: "error",
          value: {
            chatId,
            code: ErrorCode.ERROR_CODE_PEER_UNAVAILABLE,
            message: "x",
            seq: 1,
            expectedSeq: 0,
            retryAfterMs: 0,
          },
        },
      },
    ];
    for (const frame of frames) A.router.routeFrame(intruder, frame);
    expect(a.sink.take()).toEqual([]);
    expect(A.router.stats().chats).toEqual({ pending: 0, ready: 1 });
    // A relay for a chat that node does not carry is answered with "released", to it only.
    expect(A.link.one("released")).toMatchObject({ to: intruder, chatId });
    // The chat itself is untouched.
    a.message(chatId, 1, text("fine"));
    await settle();
    expect(deliveries(b)).toEqual([{ seq: 1, text: "fine" }]);
  });

  it("takes a chat's acceptance only from the node hosting its target", async () => {
    const { mesh, A, B, a, b } = twoNodes();
    const start = a.startChat(b);
    a.sink.one("chatPending");
    await settle();
    const offer = b.sink.one("chatOffer");
    mesh.paused = true;
    b.accept(offer);
    const accepted = mesh.held.splice(0)[0]!.frame;
    mesh.paused = false;
    // The genuine, correctly signed acceptance, but relayed by a third node.
    A.router.routeFrame(Identity.generate().id, accepted);
    expect(a.sink.take()).toEqual([]);
    expect(A.router.stats().chats).toEqual({ pending: 1, ready: 0 });
    A.router.routeFrame(B.nodeId, accepted);
    expect(a.sink.one("chatReady").chatId).toBe(start.chatId);
  });

  it("refuses a relay claiming to be from the local app, or for a chat not yet ready", async () => {
    const { A, B, a, b } = twoNodes();
    const start = a.startChat(b);
    await settle();
    b.sink.take();
    B.link.take();
    const relay = (fromAppId: string) =>
      ({
        body: {
          $case: "relay",
          value: { chatId: start.chatId, fromAppId, seq: 1, ciphertext: text("x"), sentAtMs: 0 },
        },
      }) as nodemesh.RouteFrame;
    B.router.routeFrame(A.nodeId, relay(a.id));
    expect(B.link.one("error").code).toBe(ErrorCode.ERROR_CODE_NOT_PARTICIPANT);
    expect(b.sink.take()).toEqual([]);
  });

  it("refuses an offer with a tampered signature, a foreign key, a stale timestamp or bad fields", async () => {
    const { A, B, a, b } = twoNodes();
    const good = (over: Partial<nodemesh.TielineOffer> = {}): nodemesh.TielineOffer => ({
      ...signedStartChat(a.identity, {
        chatId: over.chatId ?? newChatId(),
        targetAppId: b.id,
        ephemeralKey: newEphemeralKey(),
        timestampMs: over.timestampMs ?? B.clock.now(),
      }),
      initiatorAppId: a.id,
      initiatorPublicKey: a.identity.publicKey,
      ...over,
    });
    const cases: [string, nodemesh.TielineOffer, approuter.ErrorCode][] = [
      [
        "tampered signature",
        { ...good(), signature: flipped(good().signature, 9) },
        ErrorCode.ERROR_CODE_AUTH_FAILED,
      ],
      [
        "ephemeral key swapped after signing",
        (() => {
          const o = good();
          return { ...o, ephemeralKey: newEphemeralKey() };
        })(),
        ErrorCode.ERROR_CODE_AUTH_FAILED,
      ],
      [
        "initiator ID not its key's",
        good({ initiatorPublicKey: Identity.generate().publicKey }),
        ErrorCode.ERROR_CODE_AUTH_FAILED,
      ],
      [
        "stale",
        good({ timestampMs: B.clock.now() - B.timeouts.clockSkewMs - 1 }),
        ErrorCode.ERROR_CODE_AUTH_FAILED,
      ],
      ["bad chat id", good({ chatId: "not-a-chat-id" }), ErrorCode.ERROR_CODE_INVALID_ARGUMENT],
      [
        "short ephemeral key",
        { ...good(), ephemeralKey: new Uint8Array(5) },
        ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
      ],
    ];
    for (const [name, offer, code] of cases) {
      B.router.routeFrame(A.nodeId, { body: { $case: "offer", value: offer } });
      const error = B.link.one("error");
      expect({ name, code: error.code, to: error.to, chatId: error.chatId }).toEqual({
        name,
        code,
        to: A.nodeId,
        chatId: offer.chatId,
      });
    }
    expect(b.sink.take()).toEqual([]);
    expect(B.router.stats().chats).toEqual({ pending: 0, ready: 0 });
    // The genuine offer still goes through, once; the same chat id again is refused.
    const genuine = good();
    B.router.routeFrame(A.nodeId, { body: { $case: "offer", value: genuine } });
    expect(b.sink.one("chatOffer").chatId).toBe(genuine.chatId);
    B.router.routeFrame(A.nodeId, { body: { $case: "offer", value: genuine } });
    expect(B.link.one("error").code).toBe(ErrorCode.ERROR_CODE_CHAT_EXISTS);
    expect(b.sink.take()).toEqual([]);
  });

  it("a tampered offer travelling the whole way ends the initiator's chat with AUTH_FAILED", async () => {
    const { mesh, A, B, a, b } = twoNodes();
    mesh.paused = true;
    const start = a.startChat(b);
    a.sink.one("chatPending");
    const held = mesh.held.splice(0);
    expect(held).toHaveLength(1);
    const offer = held[0]!.frame.body as Extract<nodemesh.RouteFrame["body"], { $case: "offer" }>;
    offer.value.signature = flipped(offer.value.signature, 0);
    mesh.paused = false;
    B.router.routeFrame(A.nodeId, held[0]!.frame);
    await settle();
    expect(b.sink.take()).toEqual([]);
    expect(a.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_AUTH_FAILED, chatId: start.chatId });
    expect(A.router.stats().chats).toEqual({ pending: 0, ready: 0 });
  });

  it("refuses an acceptance whose keys do not match the offer or whose signature does not verify", async () => {
    const variants: [string, (r: approuter.ChatReady) => approuter.ChatReady][] = [
      ["another initiator ephemeral key", (r) => ({ ...r, initiatorEphemeralKey: newEphemeralKey() })],
      [
        "target ephemeral key changed after signing",
        (r) => ({ ...r, targetEphemeralKey: newEphemeralKey() }),
      ],
      ["a short target ephemeral key", (r) => ({ ...r, targetEphemeralKey: new Uint8Array(31) })],
      ["signed by another app", (r) => resignedBy(Identity.generate(), r)],
      ["another target", (r) => ({ ...r, targetAppId: Identity.generate().id })],
      ["tampered signature", (r) => ({ ...r, acceptSignature: flipped(r.acceptSignature, 4) })],
    ];
    for (const [name, tamper] of variants) {
      const { mesh, A, B, a, b } = twoNodes();
      const start = a.startChat(b);
      a.sink.one("chatPending");
      await settle();
      A.link.take();
      const offer = b.sink.one("chatOffer");
      mesh.paused = true;
      b.accept(offer);
      b.sink.one("chatReady");
      const accepted = mesh.held.splice(0)[0]!.frame.body as Extract<
        nodemesh.RouteFrame["body"],
        { $case: "accepted" }
      >;
      mesh.paused = false;
      A.router.routeFrame(B.nodeId, {
        body: { $case: "accepted", value: { ready: tamper(accepted.value.ready!) } },
      });
      const rejected = a.sink.one("chatRejected");
      expect({ name, chatId: rejected.chatId }).toEqual({ name, chatId: start.chatId });
      expect(rejected.reason).toMatch(/verification/);
      expect(A.router.stats().chats).toEqual({ pending: 0, ready: 0 });
      // B's half is torn down too.
      expect(A.link.one("teardown")).toMatchObject({
        chatId: start.chatId,
        reason: ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER,
      });
      await settle();
      expect(b.sink.one("chatDeleted").reason).toBe(ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER);
      expect(B.router.stats().chats).toEqual({ pending: 0, ready: 0 });
      // The genuine acceptance arriving afterwards changes nothing.
      A.router.routeFrame(B.nodeId, { body: accepted });
      expect(a.sink.take()).toEqual([]);
    }
  });
});

/** A ChatReady whose acceptance is signed (validly) by `app` as if it were the target. */
function resignedBy(app: Identity, r: approuter.ChatReady): approuter.ChatReady {
  const acceptSignature = sign(app, "hermes/chat-accept/v1", [
    r.chatId,
    r.initiatorAppId,
    app.id,
    r.initiatorEphemeralKey,
    r.targetEphemeralKey,
    r.acceptTimestampMs,
  ]);
  return { ...r, targetPublicKey: app.publicKey, acceptSignature };
}
