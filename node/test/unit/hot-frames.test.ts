import { randomBytes, randomInt } from "node:crypto";
import { approuter, nodemesh } from "@hermes/proto";
import { describe, expect, it } from "vitest";
import { encodeAppFrame, encodeNodeFrame, encodeRouteFrame } from "../../src/protocol/hot-frames.js";

/** The hand-written encoders must write exactly ts-proto's bytes, for every value a field can take. */

const chatId = () => (randomInt(4) === 0 ? "" : randomBytes(16).toString("hex"));
const appId = () => (randomInt(4) === 0 ? "" : "abcdefghijklmnopqrstuvwxyz234567");
const seq = () =>
  [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER][randomInt(9)]!;
const bytes = () => randomBytes([0, 1, 127, 128, 1024, 70_000][randomInt(6)]!);
const correlationId = () => ["", "c1", "ünïcødé ✓", "x".repeat(300)][randomInt(4)]!;
const many = <T>(make: () => T) => Array.from({ length: randomInt(5) }, make);

const message = () => ({ chatId: chatId(), seq: seq(), ciphertext: bytes() });
const ack = () => ({ chatId: chatId(), seq: seq() });
const delivery = () => ({ chatId: chatId(), fromAppId: appId(), seq: seq(), ciphertext: bytes() });
const relay = () => ({ ...delivery(), sentAtMs: [0, Date.now()][randomInt(2)]! });

const same = (ours: Buffer, theirs: Uint8Array) => expect(ours.equals(Buffer.from(theirs))).toBe(true);

describe("hot frame encoders", () => {
  it("write AppFrames as ts-proto does", () => {
    for (let i = 0; i < 300; i++) {
      const bodies: approuter.AppFrame["body"][] = [
        { $case: "message", value: message() },
        { $case: "ack", value: ack() },
        { $case: "batch", value: { messages: many(message), acks: many(ack) } },
        { $case: "heartbeat", value: { timestampMs: seq() } },
        undefined,
      ];
      const frame = { correlationId: correlationId(), body: bodies[i % bodies.length] };
      same(encodeAppFrame(frame), approuter.AppFrame.encode(frame).finish());
    }
  });

  it("write NodeFrames as ts-proto does", () => {
    for (let i = 0; i < 300; i++) {
      const bodies: approuter.NodeFrame["body"][] = [
        { $case: "delivery", value: delivery() },
        { $case: "ack", value: ack() },
        { $case: "batch", value: { deliveries: many(delivery), acks: many(ack) } },
        { $case: "heartbeat", value: { timestampMs: seq() } },
      ];
      const frame = { correlationId: correlationId(), body: bodies[i % bodies.length] };
      same(encodeNodeFrame(frame), approuter.NodeFrame.encode(frame).finish());
    }
  });

  it("write RouteFrames as ts-proto does", () => {
    for (let i = 0; i < 300; i++) {
      const bodies: nodemesh.RouteFrame["body"][] = [
        { $case: "relay", value: relay() },
        { $case: "relayAck", value: ack() },
        { $case: "batch", value: { relays: many(relay), acks: many(ack) } },
        { $case: "released", value: { chatId: chatId() } },
      ];
      const frame = { body: bodies[i % bodies.length] };
      same(encodeRouteFrame(frame), nodemesh.RouteFrame.encode(frame).finish());
    }
  });
});
