import { describe, expect, it } from "vitest";
import { signResume } from "../../src/protocol/index.js";
import { proofFor } from "../support/frames.js";
import { crossChat, deliveries, FakeMesh, settle } from "../support/mesh-link.js";
import {
  ChatEndReason,
  ErrorCode,
  metricValue,
  readyChat,
  SessionCloseReason,
  type TestApp,
} from "../support/router.js";

/**
 * Chats outlive their nodes: the apps own their chats' marks, a restarted node takes them from
 * the apps' statements (never from relayed frames), and an app that fails over to another node
 * takes its chat along on its signed resume. Driven through FakeMesh: routers back to back, a
 * fake clock, frames through protobuf.
 */

const text = (s: string) => new Uint8Array(Buffer.from(s));

/** The seqs of the AckDelivery frames an app received since the last read, draining the rest. */
function acks(app: TestApp): number[] {
  return app.sink.take().flatMap((f) => (f.body?.$case === "ack" ? [f.body.value.seq] : []));
}

/** a on A, b on B, with a ready chat between them; nodes C and D stand by. */
async function crossNode() {
  const mesh = new FakeMesh();
  const [A, B, C, D] = [mesh.node(), mesh.node(), mesh.node(), mesh.node()];
  const a = A.app();
  const b = B.app();
  a.connect();
  b.connect();
  const chat = await crossChat(a, b, A, B);
  return { mesh, A, B, C, D, a, b, ...chat };
}

/** a and b on A, with a ready chat between them; nodes B and C stand by. */
function sameNode() {
  const mesh = new FakeMesh();
  const [A, B, C] = [mesh.node(), mesh.node(), mesh.node()];
  const a = A.app();
  const b = A.app();
  a.connect();
  b.connect();
  return { mesh, A, B, C, a, b, ...readyChat(a, b) };
}

/** a sends `seqs` to b through the mesh; b receives them (not acked yet). */
async function send(a: TestApp, chatId: string, seqs: number[]) {
  for (const seq of seqs) a.message(chatId, seq, text(`m${seq}`));
  await settle();
}

describe("a node restart never loses an acknowledged message (D1)", () => {
  it("takes the receiver's marks from its own statement, not from relayed frames, and the sender resends from there", async () => {
    const { mesh, A, B, a, b, chatId, ready } = await crossNode();
    await send(a, chatId, [1, 2, 3, 4, 5]);
    expect(deliveries(b).map((d) => d.seq)).toEqual([1, 2, 3, 4, 5]);
    b.ack(chatId, 2);
    await settle();
    expect(acks(a)).toEqual([2]);
    await B.store.flush(); // B's record says b acked 2
    b.ack(chatId, 4); // acked, but not yet flushed when B dies
    await settle();
    expect(acks(a)).toEqual([4]);

    // B is killed and restarts from its record at once; its tielines come back.
    const B2 = mesh.restart(B);
    await settle();
    // Meanwhile a sends on: B2 must not take seq 6 as a mark (b is not even there).
    await send(a, chatId, [5, 6]);
    expect(a.sink.all("error").map((e) => e.code)).toContain(ErrorCode.ERROR_CODE_PEER_UNAVAILABLE);
    a.sink.take();

    // b reconnects to B2, stating what it has: everything up to 5.
    const b2 = B2.app(b.identity);
    const ack = b2.connect([{ ready, delivered: 5, ackedByPeer: 0 }]);
    expect(ack.chats.map((c) => c.ready?.chatId)).toEqual([chatId]);
    await settle();
    // A hears b's own marks from B2: 5 is acknowledged, and a sends again after it.
    const frames = a.sink.take();
    expect(frames.flatMap((f) => (f.body?.$case === "ack" ? [f.body.value.seq] : []))).toEqual([5]);
    const hint = frames.find((f) => f.body?.$case === "error")?.body;
    expect(hint?.$case === "error" && hint.value).toMatchObject({
      code: ErrorCode.ERROR_CODE_OUT_OF_ORDER,
      expectedSeq: 6,
    });
    await send(a, chatId, [6, 7]);
    expect(deliveries(b2).map((d) => d.seq)).toEqual([6, 7]);
    b2.ack(chatId, 7);
    await settle();
    expect(acks(a)).toEqual([7]);
    expect(B2.router.stats().chats.ready).toBe(1);
    expect(A.router.stats().chats.ready).toBe(1);
  });

  it("never acknowledges to the sender more than the receiver stated, however far the relays ran ahead", async () => {
    const { mesh, B, a, b, chatId, ready } = await crossNode();
    await send(a, chatId, [1, 2, 3]);
    b.sink.take();
    await B.store.flush();
    const B2 = mesh.restart(B);
    await settle();
    // a's node relays far ahead while b is away; none of it may count as delivered.
    await send(a, chatId, [4, 5, 6, 7, 8]);
    a.sink.take();
    const b2 = B2.app(b.identity);
    b2.connect([{ ready, delivered: 2, ackedByPeer: 0 }]); // b has only 1 and 2
    await settle();
    expect(acks(a)).toEqual([2]);
    await send(a, chatId, [3, 4]);
    expect(deliveries(b2).map((d) => d.seq)).toEqual([3, 4]);
    expect(B2.router.stats().chats.ready).toBe(1);
  });
});

describe("an app that fails over to another node takes its chat along", () => {
  it("the peer's node moves the chat to the new node on the app's signed resume, and the old node drops its copy", async () => {
    const { A, B, C, a, b, chatId, ready } = await crossNode();
    await send(a, chatId, [1, 2, 3]);
    expect(deliveries(b).map((d) => d.seq)).toEqual([1, 2, 3]);
    b.ack(chatId, 3);
    await settle();
    a.sink.take();
    b.disconnect();
    // b comes back on C (say B is unreachable for b), with its chat.
    const onC = C.app(b.identity);
    const ack = onC.connect([{ ready, delivered: 3, ackedByPeer: 0 }]);
    expect(ack.chats.map((c) => c.ready?.chatId)).toEqual([chatId]);
    await settle();
    expect(C.router.stats().chats.ready).toBe(1);
    expect(B.router.stats().chats.ready).toBe(0); // released by A
    expect(await metricValue(B.metrics.chatsHandedOver)).toBe(1);
    expect(await metricValue(C.metrics.chatsTakenOver)).toBe(1);
    a.sink.take();
    await send(a, chatId, [4, 5]);
    expect(deliveries(onC).map((d) => d.seq)).toEqual([4, 5]);
    onC.message(chatId, 1, text("back"));
    await settle();
    expect(deliveries(a)).toEqual([{ seq: 1, text: "back" }]);
    expect(A.link.sent.filter((s) => s.to === B.nodeId && s.frame.body?.$case === "relay")).toHaveLength(3);
  });

  it("a node that handed a chat over takes it back when the app returns, as a chat that goes on", async () => {
    const { A, B, C, a, b, chatId, ready } = await crossNode();
    b.disconnect();
    const onC = C.app(b.identity);
    onC.connect([{ ready, delivered: 0, ackedByPeer: 0 }]);
    await settle();
    expect(B.router.stats().chats.ready).toBe(0); // handed over to C
    onC.disconnect();
    B.clock.advance(1000); // b's new resume is newer than the one at C
    const back = B.app(b.identity);
    const ack = back.connect([{ ready, delivered: 0, ackedByPeer: 0 }]);
    expect(ack.chats.map((c) => c.ready?.chatId)).toEqual([chatId]);
    expect(back.sink.all("chatDeleted")).toEqual([]);
    await settle();
    a.message(chatId, 1, text("welcome back"));
    await settle();
    expect(deliveries(back)).toEqual([{ seq: 1, text: "welcome back" }]);
    expect(A.router.stats().chats.ready).toBe(1);
  });

  it("refuses to move a chat on the word of a node that shows no resume signed by the app", async () => {
    const { A, B, C, a, chatId } = await crossNode();
    C.link.sendRoute(A.nodeId, {
      body: {
        $case: "sync",
        value: {
          chatId,
          appId: B.nodeId,
          delivered: 0,
          ackedByPeer: 0,
          reply: false,
          peerAppId: a.id,
          proof: undefined,
        },
      },
    });
    await settle();
    // The chat stays with B; C is told it does not carry the chat.
    expect(
      A.link
        .take()
        .filter((s) => s.to === C.nodeId)
        .map((s) => s.frame.body?.$case),
    ).toEqual(["released"]);
    a.message(chatId, 1);
    await settle();
    expect(A.link.sent.at(-1)).toMatchObject({ to: B.nodeId, frame: { body: { $case: "relay" } } });
  });

  it("an older resume cannot take the chat back to where the app was", async () => {
    const { A, C, D, b, ready } = await crossNode();
    b.disconnect();
    const onC = C.app(b.identity);
    onC.connect([{ ready, delivered: 0, ackedByPeer: 0 }]);
    await settle();
    const staleProof = C.link.sent.find((s) => s.frame.body?.$case === "sync")!.frame;
    D.clock.advance(1000); // b's resume at D is a second newer than the one at C
    onC.disconnect();
    const onD = D.app(b.identity);
    onD.connect([{ ready, delivered: 0, ackedByPeer: 0 }]);
    await settle();
    expect(D.router.stats().chats.ready).toBe(1);
    // C replays b's older resume: A keeps the chat with D.
    C.link.sendRoute(A.nodeId, staleProof);
    await settle();
    const toA = A.link.take();
    expect(toA.filter((s) => s.to === C.nodeId).map((s) => s.frame.body?.$case)).toContain("released");
    expect(A.router.stats().chats.ready).toBe(1);
  });

  it("a local chat weighs each app's move against that app's own resume, not its peer's", async () => {
    const { A, C, a, b, chatId, ready } = sameNode();
    C.clock.advance(500);
    A.clock.advance(1000);
    // b resumes on A at 1000; a moves to C with a resume signed there at 500.
    b.disconnect();
    const b2 = A.app(b.identity);
    b2.connect([{ ready, delivered: 0, ackedByPeer: 0 }]);
    a.disconnect();
    const a2 = C.app(a.identity);
    a2.connect([{ ready, delivered: 0, ackedByPeer: 0 }]);
    await settle();
    await settle();
    // A moved a's side to C: b's message goes there.
    expect(A.link.sent.map((s) => s.frame.body?.$case)).not.toContain("released");
    b2.sink.take();
    b2.message(chatId, 1, text("still here"));
    await settle();
    expect(deliveries(a2)).toEqual([{ seq: 1, text: "still here" }]);
  });

  it("an app resuming on a node with an old copy of its chat goes on with its peer where the peer is now", async () => {
    const { mesh, A, B, C, a, b, chatId, ready } = await crossNode();
    // a moves to C while A hears nothing: A keeps its copy (a there, b on B).
    mesh.drop = (_from, to) => to === A.nodeId;
    a.disconnect();
    const a2 = C.app(a.identity);
    a2.connect([{ ready, delivered: 0, ackedByPeer: 0 }]);
    await settle();
    mesh.drop = undefined;
    // b comes to A: its peer is on C, not here.
    b.disconnect();
    const b2 = A.app(b.identity);
    b2.connect([{ ready, delivered: 0, ackedByPeer: 0 }]);
    await settle();
    await settle();
    b2.sink.take();
    b2.message(chatId, 1, text("to C"));
    await settle();
    expect(deliveries(a2)).toEqual([{ seq: 1, text: "to C" }]);
    a2.message(chatId, 1, text("to A"));
    await settle();
    expect(deliveries(b2)).toEqual([{ seq: 1, text: "to A" }]);
    expect(B.router.stats().chats.ready).toBe(0);
  });

  it("an app back on a node whose copy still has both apps goes on with its peer where the peer is", async () => {
    const { mesh, A, B, C, a, b, chatId, ready } = sameNode();
    a.message(chatId, 1, text("a1"));
    b.ack(chatId, 1);
    a.sink.take();
    // Both move to B while A hears nothing: A keeps its copy with both apps on it.
    mesh.drop = (_from, to) => to === A.nodeId;
    a.disconnect();
    b.disconnect();
    const a2 = B.app(a.identity);
    const b2 = B.app(b.identity);
    a2.connect([{ ready, delivered: 0, ackedByPeer: 1 }]);
    b2.connect([{ ready, delivered: 1, ackedByPeer: 0 }]);
    await settle();
    mesh.drop = undefined;
    // B crashes and is back at once with its copy; a goes to C, b back to A.
    mesh.restart(B);
    const a3 = C.app(a.identity);
    a3.connect([{ ready, delivered: 0, ackedByPeer: 1 }]);
    await settle();
    const b3 = A.app(b.identity);
    b3.connect([{ ready, delivered: 1, ackedByPeer: 0 }]);
    await settle();
    await settle();
    a3.sink.take();
    b3.sink.take();
    a3.message(chatId, 2, text("a2"));
    await settle();
    expect(deliveries(b3)).toEqual([{ seq: 2, text: "a2" }]);
    b3.message(chatId, 1, text("b1"));
    await settle();
    expect(deliveries(a3)).toEqual([{ seq: 1, text: "b1" }]);
  });

  it("shows the resume of the app it still carries when a local chat's other app moves away", async () => {
    const { A, C, a, b, ready } = sameNode();
    b.disconnect();
    const b2 = A.app(b.identity);
    b2.connect([{ ready, delivered: 0, ackedByPeer: 0 }]);
    a.disconnect();
    A.link.take();
    // a resumes on C; A follows it there and answers with b's own signed resume.
    C.app(a.identity).connect([{ ready, delivered: 0, ackedByPeer: 0 }]);
    await settle();
    const reply = A.link.sent.find((s) => s.to === C.nodeId && s.frame.body?.$case === "sync");
    expect(reply?.frame.body?.$case === "sync" && reply.frame.body.value.proof?.ready?.chatId).toBe(
      ready.chatId,
    );
  });

  it("an app back on a node whose copy has its peer away looks the peer up, and goes on with it there", async () => {
    const { A, C, a, b, chatId, ready } = sameNode();
    a.disconnect();
    b.disconnect();
    // The directory places a on C, but no news of it reached this chat.
    A.link.locations.set(a.id, { nodeId: C.nodeId, appEndpoint: `${C.nodeId}:7400` });
    A.link.take();
    A.app(b.identity).connect([{ ready, delivered: 0, ackedByPeer: 0 }]);
    expect(A.link.one("sync")).toMatchObject({ to: C.nodeId, chatId, appId: b.id, peerAppId: a.id });
  });

  it("keeps the chat of a lost node waiting, and carries on where the peer resumes", async () => {
    const { mesh, A, B, C, a, b, chatId, ready } = await crossNode();
    await send(a, chatId, [1, 2]);
    b.sink.take();
    b.ack(chatId, 1); // b has 1 and 2, acked 1
    await settle();
    a.sink.take();
    mesh.lose(B);
    a.message(chatId, 3, text("m3"));
    expect(a.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_PEER_UNAVAILABLE, chatId });
    const onC = C.app(b.identity);
    onC.connect([{ ready, delivered: 2, ackedByPeer: 0 }]);
    await settle();
    // A learned from C that b has 2: acked, and a sends again after it.
    expect(acks(a)).toEqual([2]);
    await send(a, chatId, [3]);
    expect(deliveries(onC)).toEqual([{ seq: 3, text: "m3" }]);
    expect(A.router.stats().chats.ready).toBe(1);
  });

  it("a waiting chat follows a move only on a Connect newer than what the app signed for the chat", async () => {
    const { mesh, A, B, C, a, b, chatId } = await crossNode();
    mesh.lose(B);
    A.link.take();
    // C shows a Connect b really made to it, before it took part in this chat: a replay.
    const replayed = proofFor(b.identity, C.nodeId, A.clock.now() - 1000);
    A.router.appLocated(b.id, C.nodeId, replayed);
    await settle();
    expect(A.link.take()).toEqual([]);
    a.message(chatId, 1, text("m1"));
    expect(a.error()).toMatchObject({ code: ErrorCode.ERROR_CODE_PEER_UNAVAILABLE, chatId });
    expect(A.link.take()).toEqual([]);
    // A Connect made after it: the chat points at C and shows C that A carries a.
    A.router.appLocated(b.id, C.nodeId, proofFor(b.identity, C.nodeId, A.clock.now() + 1));
    expect(A.link.take().map((s) => [s.to, s.frame.body?.$case])).toEqual([[C.nodeId, "sync"]]);
  });

  it("both nodes of a chat die and each app resumes on a different node: the two new nodes carry it on", async () => {
    const { mesh, A, B, C, D, a, b, chatId, ready } = await crossNode();
    await send(a, chatId, [1, 2]);
    expect(deliveries(b).map((d) => d.seq)).toEqual([1, 2]);
    b.ack(chatId, 2);
    b.message(chatId, 1, text("b1"));
    await settle();
    expect(deliveries(a)).toEqual([{ seq: 1, text: "b1" }]);
    mesh.lose(A);
    mesh.lose(B);
    // a comes to C first: C takes the chat over, but where b will be is not known yet.
    const a2 = C.app(a.identity);
    a2.connect([{ ready, delivered: 1, ackedByPeer: 2 }]);
    await settle();
    // b comes to D; D learns from the directory where a is, and the two nodes compare marks.
    const b2 = D.app(b.identity);
    b2.connect([{ ready, delivered: 2, ackedByPeer: 0 }]); // b's ack of a's b1 was lost with B
    await settle();
    await settle();
    expect([C.router.stats().chats.ready, D.router.stats().chats.ready]).toEqual([1, 1]);
    a2.sink.take();
    b2.sink.take();
    await send(a2, chatId, [3]);
    expect(deliveries(b2)).toEqual([{ seq: 3, text: "m3" }]);
    // b did not see its b1 acked: it sends it again, and a drops the duplicate (it has it).
    b2.message(chatId, 1, text("b1"));
    await settle();
    expect(b2.sink.take().flatMap((f) => (f.body?.$case === "ack" ? [f.body.value.seq] : []))).toEqual([1]);
    expect(deliveries(a2)).toEqual([]);
    b2.message(chatId, 2, text("b2"));
    await settle();
    expect(deliveries(a2)).toEqual([{ seq: 2, text: "b2" }]);
  });

  it("both apps of a chat on one node fail over to another: it takes the chat and carries it locally", async () => {
    const { mesh, A, C, a, b, chatId, ready } = sameNode();
    a.message(chatId, 1, text("hi"));
    expect(deliveries(b)).toEqual([{ seq: 1, text: "hi" }]);
    b.ack(chatId, 1);
    mesh.lose(A);
    const a2 = C.app(a.identity);
    const b2 = C.app(b.identity);
    a2.connect([{ ready, delivered: 0, ackedByPeer: 1 }]);
    b2.connect([{ ready, delivered: 1, ackedByPeer: 0 }]);
    await settle();
    expect(C.router.stats().chats.ready).toBe(1);
    a2.sink.take();
    a2.message(chatId, 2, text("again"));
    expect(deliveries(b2)).toEqual([{ seq: 2, text: "again" }]);
    b2.message(chatId, 1, text("yes"));
    expect(deliveries(a2)).toEqual([{ seq: 1, text: "yes" }]);
  });
});

describe("a same-node chat whose node is killed", () => {
  it("goes on when its apps fail over to two other nodes that each still locate the peer on the dead one, and after it is back", async () => {
    const { mesh, A, B, C, a, b, chatId, ready } = sameNode();
    a.message(chatId, 1, text("a1"));
    b.ack(chatId, 1);
    b.message(chatId, 1, text("b1"));
    a.ack(chatId, 1);
    // A is killed: nothing reaches it, and nobody has declared it dead yet.
    const toA: { from: string; frame: Parameters<typeof A.router.routeFrame>[1] }[] = [];
    mesh.drop = (from, to, frame) => {
      if (to === A.nodeId) toA.push({ from, frame });
      return to === A.nodeId;
    };
    const b2 = C.app(b.identity);
    b2.connect([{ ready, delivered: 1, ackedByPeer: 1 }]);
    // B has not heard that b moved: it still locates b on A.
    B.link.locations.set(b.id, { nodeId: A.nodeId, appEndpoint: "" });
    const a2 = B.app(a.identity);
    a2.connect([{ ready, delivered: 1, ackedByPeer: 1 }]);
    C.link.locations.set(a.id, { nodeId: A.nodeId, appEndpoint: "" });
    await settle();
    mesh.place(b.id, C);
    mesh.place(a.id, B);
    await settle();
    mesh.drop = undefined;
    mesh.lose(A);
    // Declared dead: each node looks its chat's peer up again on its sweep.
    B.router.sweep();
    C.router.sweep();
    await settle();
    const A2 = mesh.restart(A);
    // What the others had queued for A reaches it once it is back.
    for (const { from, frame } of toA) A2.router.routeFrame(from, frame);
    await settle();
    for (const node of [A2, B, C]) node.router.sweep();
    await settle();
    a2.sink.take();
    b2.sink.take();
    a2.message(chatId, 2, text("a2"));
    await settle();
    expect(deliveries(b2)).toEqual([{ seq: 2, text: "a2" }]);
    b2.message(chatId, 2, text("b2"));
    await settle();
    expect(deliveries(a2)).toEqual([{ seq: 2, text: "b2" }]);
  });
});

describe("a node told of a chat it does not know", () => {
  it("takes it over on the far app's signed resume when its own participant may still come", async () => {
    const { A, C, a, b, chatId, ready } = sameNode();
    b.disconnect(); // b is on its way to C
    const proof = signResume(a.identity, A.nodeId, { ready, delivered: 0, ackedByPeer: 0 }, A.clock.now());
    A.link.sendRoute(C.nodeId, {
      body: {
        $case: "sync",
        value: { chatId, appId: a.id, delivered: 0, ackedByPeer: 0, proof, reply: false, peerAppId: b.id },
      },
    });
    await settle();
    expect(C.router.stats().chats.ready).toBe(1);
    const b2 = C.app(b.identity);
    b2.connect([{ ready, delivered: 0, ackedByPeer: 0 }]);
    await settle();
    a.message(chatId, 1, text("over here"));
    await settle();
    expect(deliveries(b2)).toEqual([{ seq: 1, text: "over here" }]);
  });

  it("answers a node asking about a chat its app did not bring along with UNKNOWN_CHAT", async () => {
    const { A, C, a, b, chatId } = sameNode();
    b.disconnect();
    const b2 = C.app(b.identity);
    b2.connect(); // a new process of b, without the chat
    await settle();
    await settle();
    expect(A.link.sent.some((s) => s.to === C.nodeId && s.frame.body?.$case === "sync")).toBe(true);
    expect(C.link.sent.find((s) => s.frame.body?.$case === "error")?.frame.body).toMatchObject({
      value: { chatId, code: ErrorCode.ERROR_CODE_UNKNOWN_CHAT },
    });
    expect(a.sink.one("chatDeleted")).toMatchObject({
      chatId,
      reason: ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE,
    });
  });
});

describe("a node cut off from the mesh", () => {
  it("sends away the apps whose chats cross to other nodes, and keeps the others", async () => {
    const { A, a } = await crossNode();
    const local = A.app();
    const local2 = A.app();
    local.connect();
    local2.connect();
    readyChat(local, local2);
    a.sink.take();
    expect(A.router.sendAway("cut off")).toBe(1);
    expect(a.sink.take().map((f) => f.body)).toEqual([
      {
        $case: "sessionClosed",
        value: { reason: SessionCloseReason.SESSION_CLOSE_REASON_ISOLATED, detail: "cut off" },
      },
    ]);
    expect(local.sink.take()).toEqual([]);
    expect(A.router.stats().chats.ready).toBe(2); // the chat stays, for a to resume elsewhere
  });
});

describe("offers are not carried over", () => {
  it("ends an offer for its target when the initiator comes back on another node", async () => {
    const mesh = new FakeMesh();
    const [A, B, C] = [mesh.node(), mesh.node(), mesh.node()];
    const a = A.app();
    const b = B.app();
    a.connect();
    b.connect();
    const start = a.startChat(b);
    await settle();
    b.sink.one("chatOffer");
    a.disconnect();
    C.app(a.identity).connect(); // its SDK fails the start: the offer is not in pending_offers
    await settle();
    await settle();
    expect(b.sink.one("chatDeleted")).toMatchObject({
      chatId: start.chatId,
      reason: ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE,
    });
    expect([A.router.stats().chats.pending, B.router.stats().chats.pending]).toEqual([0, 0]);
  });
});

describe("what a node cannot resume", () => {
  it("tells an app coming back how a chat ended while it was away", async () => {
    const { B, a, b, chatId, ready } = await crossNode();
    b.disconnect();
    a.send({ $case: "deleteChat", value: { chatId } }, "del");
    await settle();
    expect(B.router.stats().chats.ready).toBe(0);
    b.connect([{ ready, delivered: 0, ackedByPeer: 0 }]);
    expect(b.sink.one("chatDeleted")).toEqual({
      chatId,
      reason: ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER,
      correlationId: "",
    });
  });

  it("refuses a resume whose transcript or signature does not check out, and ends it for the app", async () => {
    const { C, b, chatId, ready } = sameNode();
    const forged = { ...ready, acceptTimestampMs: ready.acceptTimestampMs + 1 };
    const b2 = C.app(b.identity);
    b2.connect([{ ready: forged, delivered: 0, ackedByPeer: 0 }]);
    expect(b2.sink.one("chatDeleted")).toMatchObject({
      chatId,
      reason: ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE,
    });
    expect(C.router.stats().chats.ready).toBe(0);
    expect(await metricValue(C.metrics.refusedFrames, { code: "auth_failed" })).toBe(1);
  });

  it("ends the chat for the peer when the app connects elsewhere without it", async () => {
    const { A, B, C, a, b, chatId } = await crossNode();
    b.disconnect();
    const fresh = C.app(b.identity);
    fresh.connect(); // a new process of b: it holds no chats
    await settle();
    await settle();
    expect(a.sink.one("chatDeleted")).toEqual({
      chatId,
      reason: ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE,
      correlationId: "",
    });
    expect(A.router.stats().chats.ready).toBe(0);
    expect(B.router.stats().chats.ready).toBe(0);
  });
});
