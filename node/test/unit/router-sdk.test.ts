import { approuter } from "@hermes/proto";
import { describe, expect, it } from "vitest";
import { Chat } from "../../src/sdk/chat.js";
import { deriveChatKeys, newEphemeral } from "../../src/sdk/e2e.js";
import { newRouter, type RouterOverrides, type TestApp } from "../support/router.js";
import { type AppBody, FakeLink, flushAcks } from "../support/sdk.js";

const { ErrorCode } = approuter;

/** An SDK Chat whose link writes into the router through one TestApp's stream. */
interface End {
  app: TestApp;
  link: FakeLink;
  chat: Chat;
  received: string[];
  errors: approuter.Error[];
  /** While true, what the chat writes waits in `held` (a slow uplink); release() lets it go. */
  holding: boolean;
  held: AppBody[];
}

/**
 * Two apps with SDK chats wired to a real Router: the chats' writes go straight to the router;
 * the router's frames wait in each app's sink until settle() hands them to the chats, the way
 * the SDK client would.
 */
function wiredChat(maxInFlight: number, o: RouterOverrides = {}) {
  const h = newRouter(o);
  const a = h.app();
  const b = h.app();
  a.connect();
  b.connect();
  const ia = newEphemeral();
  const tb = newEphemeral();
  a.startChat(b, { ephemeralKey: ia.publicKey });
  a.sink.one("chatPending");
  b.accept(b.sink.one("chatOffer"), { ephemeralKey: tb.publicKey });
  const { correlationId: _, ...ready } = a.sink.one("chatReady");
  b.sink.one("chatReady");
  const end = (app: TestApp, role: "initiator" | "target", secret: Uint8Array, peer: string): End => {
    const link = new FakeLink(
      maxInFlight,
      (body) => {
        if (e.holding) e.held.push(body);
        else if (link.up) app.send(body);
      },
      undefined,
      h.clock,
    );
    const chat = new Chat(ready.chatId, peer, role, deriveChatKeys(ready, role, secret), link);
    const e: End = { app, link, chat, received: [], errors: [], holding: false, held: [] };
    chat.on("message", (m) => e.received.push(m.text()));
    return e;
  };
  const sender = end(a, "initiator", ia.secretKey, b.id);
  const receiver = end(b, "target", tb.secretKey, a.id);

  /** Hands every waiting router frame to its chat (and lets their acks out) until nothing moves. */
  const settle = async (): Promise<void> => {
    for (let round = 1; round < 1000; round++) {
      await flushAcks();
      let moved = false;
      for (const e of [sender, receiver]) {
        for (const frame of e.app.sink.take()) {
          moved = true;
          const body = frame.body;
          if (body?.$case === "delivery") e.chat.delivered(body.value.seq, body.value.ciphertext);
          else if (body?.$case === "ack") e.chat.acked(body.value.seq);
          else if (body?.$case === "error") e.errors.push(body.value);
        }
      }
      if (!moved) return;
    }
    throw new Error("did not settle");
  };
  /** Lets the next `n` held frames of `e` reach the router. */
  const release = (e: End, n: number): void => {
    for (const body of e.held.splice(0, n)) e.app.send(body);
  };
  return { h, sender, receiver, settle, release, chatId: ready.chatId };
}

describe("Router with SDK chats", () => {
  it("carries messages through a small window, each once and in order", async () => {
    const { sender, receiver, settle } = wiredChat(3);
    const texts = Array.from({ length: 20 }, (_, k) => `m${k + 1}`);
    const sends = texts.map((t) => sender.chat.send(t));
    await settle();
    expect(receiver.received).toEqual(texts);
    expect(sender.chat.unacked).toBe(0);
    await Promise.all(sends);
    expect([...sender.errors, ...receiver.errors]).toEqual([]);
  });

  it("delivers exactly once across a receiver reconnect that lost its acks", async () => {
    const { h, sender, receiver, settle, release } = wiredChat(4, { limits: { badFramesPerMinute: 2 } });
    const texts = Array.from({ length: 8 }, (_, k) => `m${k + 1}`);
    const sends = texts.map((t) => sender.chat.send(t));
    // The receiver takes 1..4, but its stream breaks before its ack leaves.
    receiver.link.up = false;
    await settle();
    expect(receiver.received).toEqual(["m1", "m2", "m3", "m4"]);
    receiver.app.disconnect();
    receiver.link.up = true;
    const ack = receiver.app.connect();
    expect(ack.chats[0]?.deliveredToMe).toBe(0);
    receiver.chat.resend(ack.chats[0]?.ackedByPeer);

    // The sender's retransmit timer fires. Its frames reach the node one by one, and the
    // receiver's answers to the first duplicates come back in between.
    sender.holding = true;
    sender.chat.resend();
    expect(sender.held).toHaveLength(4);
    while (sender.held.length > 0) {
      release(sender, 1);
      await settle();
    }
    // Re-acking the duplicate's own seq (not the highest received) keeps the acks within what the
    // node has relayed since the rewind; acking more would be refused as INVALID_ARGUMENT and the
    // chat would stall with the sender's window full of in-flight duplicates.
    expect(receiver.errors).toEqual([]);
    expect(receiver.received).toEqual(texts);
    expect(sender.chat.unacked).toBe(0);
    await Promise.all(sends);
    expect(receiver.app.sink.ended).toBe(false);
    expect(h.router.stats().sessions).toBe(2);
  });

  it("recovers from a rate limit refusal by resending from the refused seq", async () => {
    const { h, sender, receiver, settle } = wiredChat(8, {
      limits: { messagesPerSecond: 4, messageBurst: 4 },
    });
    const texts = Array.from({ length: 6 }, (_, k) => `m${k + 1}`);
    const sends = texts.map((t) => sender.chat.send(t));
    await settle();
    expect(receiver.received).toEqual(["m1", "m2", "m3", "m4"]);
    const refused = sender.errors.find((e) => e.code === ErrorCode.ERROR_CODE_RATE_LIMITED);
    expect(refused?.seq).toBe(5);
    h.clock.advance(refused!.retryAfterMs * 2);
    sender.chat.refused(refused!.seq, 0);
    h.clock.advance(0); // the chat's own back-off timer (0 ms)
    await settle();
    expect(receiver.received).toEqual(texts);
    await Promise.all(sends);
  });
});
