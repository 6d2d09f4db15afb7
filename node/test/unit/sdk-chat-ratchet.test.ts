import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RatchetError } from "../../src/sdk/errors.js";
import { ciphertexts, ratchetChatPair } from "../support/sdk.js";

/** How a Chat under the ratchet carries out the ratchet's verdicts on what it is delivered. */

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("SDK Chat under the ratchet", () => {
  it("holds back deliveries behind a rekey beyond the peer's budget, then opens and acks them in order", () => {
    // The peer rekeys on a timer before every message (its clock runs a second per message).
    const { sender, receiver, links } = ratchetChatPair(64, { rekeyAfterMs: 1000 });
    for (let k = 1; k <= 14; k++) {
      void sender.send(`m${k}`);
      links.initiator.clock.advance(1000);
    }
    const got: string[] = [];
    receiver.on("message", (m) => got.push(m.text()));
    for (const [seq, ciphertext] of ciphertexts(links.initiator)) receiver.delivered(seq, ciphertext);
    receiver.delivered(11, ciphertexts(links.initiator).get(11)!); // a copy of one held: ignored
    // The handshake's chain and eight steps go at once; the rest wait for the budget, in order.
    expect(got).toEqual(["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]);
    vi.advanceTimersByTime(0);
    expect(links.target.ackSeqs()).toEqual([9]);
    links.target.clock.advance(2000);
    expect(got).toHaveLength(11);
    links.target.clock.advance(3000);
    expect(got).toEqual(Array.from({ length: 14 }, (_, k) => `m${k + 1}`));
    vi.advanceTimersByTime(0);
    expect(links.target.ackSeqs().at(-1)).toBe(14);
  });

  it("holds back at most 256 deliveries behind a rekey; those after come again with the retransmission", () => {
    // Nine steps a second apart: the budget is spent at m10, and 300 more follow on m10's chain.
    const { sender, receiver, links } = ratchetChatPair(512, { rekeyAfterMs: 1000 });
    for (let k = 1; k <= 10; k++) {
      if (k > 1) links.initiator.clock.advance(1000);
      void sender.send(`m${k}`);
    }
    for (let k = 11; k <= 310; k++) void sender.send(`m${k}`);
    const got: string[] = [];
    receiver.on("message", (m) => got.push(m.text()));
    const sealed = ciphertexts(links.initiator);
    for (const [seq, ciphertext] of sealed) receiver.delivered(seq, ciphertext);
    expect(got).toHaveLength(9);
    links.target.clock.advance(1000);
    expect(got).toHaveLength(9 + 256);
    for (const [seq, ciphertext] of sealed) receiver.delivered(seq, ciphertext);
    expect(got).toEqual(Array.from({ length: 310 }, (_, k) => `m${k + 1}`));
  });

  it("refuses a replayed header with an error, acks nothing for it, and takes the genuine message after", () => {
    const { sender, receiver, links } = ratchetChatPair(8);
    for (const text of ["one", "two", "three"]) void sender.send(text);
    const sealed = ciphertexts(links.initiator);
    const errors: RatchetError[] = [];
    receiver.on("error", (e) => errors.push(e as RatchetError));
    const got: string[] = [];
    receiver.on("message", (m) => got.push(m.text()));
    receiver.delivered(1, sealed.get(1)!);
    receiver.delivered(2, sealed.get(1)!); // a node replays message 1 as message 2
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ["out_of_order", expect.stringMatching(/expected epoch 0 message 1, got epoch 0 message 0/)],
    ]);
    receiver.delivered(2, sealed.get(2)!);
    receiver.delivered(3, sealed.get(3)!);
    expect(got).toEqual(["one", "two", "three"]);
    vi.advanceTimersByTime(0);
    expect(links.target.ackSeqs()).toEqual([3]);
  });

  it("ends a chat whose peer keeps one key for too many messages: an error, and DeleteChat", () => {
    const { sender, receiver, links } = ratchetChatPair(
      64,
      { rekeyAfterMessages: 100 },
      { rekeyAfterMessages: 16, maxKeyMessages: 16 },
    );
    for (let k = 1; k <= 20; k++) void sender.send(`m${k}`);
    const errors: RatchetError[] = [];
    receiver.on("error", (e) => errors.push(e as RatchetError));
    for (const [seq, ciphertext] of ciphertexts(links.initiator)) receiver.delivered(seq, ciphertext);
    expect(receiver.receivedSeq).toBe(16);
    expect(errors.map((e) => e.code)).toEqual(["too_many_messages"]);
    expect(links.target.take().filter((b) => b.$case === "deleteChat")).toHaveLength(1);
  });
});
