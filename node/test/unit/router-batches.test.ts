import type { nodemesh } from "@hermes/proto";
import { describe, expect, it } from "vitest";
import { crossChat, deliveries, FakeMesh, settle } from "../support/mesh-link.js";
import { ErrorCode, metricValue, newRouter, readyChat } from "../support/router.js";

/** MessageBatch from apps and RelayBatch between nodes: each item as if it had come alone. */

const text = (s: string) => new Uint8Array(Buffer.from(s));

describe("Router: a MessageBatch", () => {
  function chat(limits = {}) {
    const h = newRouter({ limits });
    const [a, b] = [h.app(), h.app()];
    expect(a.connect().takesBatches).toBe(true);
    b.connect();
    const { chatId } = readyChat(a, b);
    return { h, a, b, chatId };
  }

  it("relays its messages in order, then takes its acks", () => {
    const { a, b, chatId } = chat();
    b.message(chatId, 1, text("from b"));
    a.sink.take();
    a.send({
      $case: "batch",
      value: {
        messages: [1, 2, 3].map((seq) => ({ chatId, seq, ciphertext: text(`m${seq}`) })),
        acks: [{ chatId, seq: 1 }],
      },
    });
    const atB = b.sink.take().map((f) => [f.body?.$case, (f.body!.value as { seq: number }).seq]);
    expect(atB).toEqual([
      ["delivery", 1],
      ["delivery", 2],
      ["delivery", 3],
      ["ack", 1],
    ]);
  });

  it("refuses an item with a malformed chat id without echoing it, and relays the rest", () => {
    const { a, b, chatId } = chat();
    a.send({
      $case: "batch",
      value: {
        messages: [
          { chatId: "not a chat id", seq: 1, ciphertext: text("x") },
          { chatId, seq: 1, ciphertext: text("m1") },
        ],
        acks: [],
      },
    });
    const [refused, ...rest] = a.sink.take();
    expect(refused?.body?.$case === "error" && [refused.body.value.code, refused.body.value.chatId]).toEqual([
      ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
      "",
    ]);
    expect(rest).toEqual([]);
    expect(deliveriesOf(b.sink.take())).toEqual([1]);
  });

  it("spends the frame budget once per item", async () => {
    const { h, a, b, chatId } = chat({ framesPerSecond: 10, messagesPerSecond: 10 });
    // The burst is 20 frames; the connect and the chat spent some. 25 items are more than is left.
    a.sink.take();
    a.send({
      $case: "batch",
      value: {
        messages: Array.from({ length: 25 }, (_, i) => ({ chatId, seq: i + 1, ciphertext: text("m") })),
        acks: [],
      },
    });
    expect(a.error().code).toBe(ErrorCode.ERROR_CODE_RATE_LIMITED);
    expect(b.sink.take()).toEqual([]);
    expect(await metricValue(h.metrics.limitRefusals, { limit: "frame_rate" })).toBe(1);
  });

  it("an app that says it takes batches is marked so; one that does not is not", () => {
    const h = newRouter();
    const [old, current] = [h.app(), h.app()];
    old.connect();
    current.open();
    current.send({ $case: "connect", value: { ...current.connectBody(), takesBatches: true } }, "c");
    expect([old.session?.takesBatches, current.session?.takesBatches]).toEqual([false, true]);
  });
});

describe("tielines: a RelayBatch", () => {
  it("delivers its relays in order and passes its acks to the sender", async () => {
    const mesh = new FakeMesh();
    const [A, B] = [mesh.node(), mesh.node()];
    const [a, b] = [A.app(), B.app()];
    a.connect();
    b.connect();
    const { chatId } = await crossChat(a, b, A, B);
    for (let seq = 1; seq <= 3; seq++) a.message(chatId, seq, text(`m${seq}`));
    const relays = A.link
      .take()
      .map((sent) => sent.frame.body as Extract<nodemesh.RouteFrame["body"], { $case: "relay" }>);
    expect(relays).toHaveLength(3);
    B.router.routeFrame(A.nodeId, {
      body: { $case: "batch", value: { relays: relays.map((r) => r.value), acks: [] } },
    });
    expect(deliveries(b).map((d) => d.seq)).toEqual([1, 2, 3]);
    b.ack(chatId, 3);
    const relayAck = B.link.take()[0]!.frame.body as Extract<
      nodemesh.RouteFrame["body"],
      { $case: "relayAck" }
    >;
    A.router.routeFrame(B.nodeId, {
      body: { $case: "batch", value: { relays: [], acks: [relayAck.value] } },
    });
    expect(a.sink.one("ack").seq).toBe(3);
    await settle();
  });
});

function deliveriesOf(frames: { body?: { $case: string; value: unknown } }[]): number[] {
  return frames.flatMap((f) => (f.body?.$case === "delivery" ? [(f.body.value as { seq: number }).seq] : []));
}
