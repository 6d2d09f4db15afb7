import { approuter } from "@hermes/proto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Chat, type ReceivedMessage } from "../../src/sdk/chat.js";
import { seal } from "../../src/sdk/e2e.js";
import { ChatEndedError } from "../../src/sdk/errors.js";
import { flipped } from "../support/frames.js";
import { chatPair, ciphertexts, FakeLink } from "../support/sdk.js";

const { ChatEndReason } = approuter;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Lets the chat's coalesced ack (written on setImmediate) go out. */
function flushAcks(): void {
  vi.advanceTimersByTime(0);
}

/** Records the order in which send() promises settle. */
function track(promises: Promise<void>[]): string[] {
  const log: string[] = [];
  promises.forEach((p, k) => {
    p.then(
      () => log.push(`ok ${k + 1}`),
      (e: Error) => log.push(`${e.name} ${k + 1}`),
    );
  });
  return log;
}

describe("SDK Chat: sending", () => {
  it("keeps at most maxInFlight messages on the wire", () => {
    const { sender, links } = chatPair(3);
    for (let k = 0; k < 5; k++) void sender.send(`m${k + 1}`);
    expect(links.initiator.messageSeqs()).toEqual([1, 2, 3]);
    expect(sender.unacked).toBe(5);
  });

  it("resolves sends in order on a cumulative ack and fills the window again", async () => {
    const { sender, links } = chatPair(3);
    const log = track([1, 2, 3, 4, 5].map((k) => sender.send(`m${k}`)));
    links.initiator.take();
    sender.acked(2);
    await vi.advanceTimersByTimeAsync(0);
    expect(log).toEqual(["ok 1", "ok 2"]);
    expect(links.initiator.messageSeqs()).toEqual([4, 5]);
    sender.acked(1); // stale: changes nothing
    sender.acked(5);
    await vi.advanceTimersByTimeAsync(0);
    expect(log).toEqual(["ok 1", "ok 2", "ok 3", "ok 4", "ok 5"]);
    expect(sender.unacked).toBe(0);
    expect(links.initiator.take()).toEqual([]);
  });

  it("encrypts each message under its own seq", () => {
    const { sender, receiver, links } = chatPair(8);
    void sender.send("same");
    void sender.send("same");
    const sealed = ciphertexts(links.initiator);
    expect(Buffer.from(sealed.get(1)!).equals(Buffer.from(sealed.get(2)!))).toBe(false);
    const seen: string[] = [];
    receiver.on("message", (m) => seen.push(`${m.seq}:${m.text()}`));
    receiver.delivered(1, sealed.get(1)!);
    receiver.delivered(2, sealed.get(2)!);
    expect(seen).toEqual(["1:same", "2:same"]);
  });

  it("refuses a message over the node's limit before it takes a seq", async () => {
    const link = new FakeLink(4, undefined, 32);
    const { keys } = chatPair();
    const chat = new Chat("0".repeat(32), "b".repeat(32), "initiator", keys.initiator, link);
    await expect(chat.send(new Uint8Array(17))).rejects.toThrow(RangeError);
    void chat.send(new Uint8Array(16));
    expect(link.messageSeqs()).toEqual([1]);
  });

  it("after refused(seq) waits delayMs, then resends only from seq", () => {
    const { sender, links } = chatPair(4);
    for (let k = 1; k <= 4; k++) void sender.send(`m${k}`);
    const first = ciphertexts(links.initiator);
    links.initiator.take();
    sender.refused(3, 100);
    void sender.send("m5"); // waits behind the back-off
    sender.refused(4, 10); // a second refusal does not shorten the wait
    links.initiator.clock.advance(99);
    expect(links.initiator.take()).toEqual([]);
    links.initiator.clock.advance(1);
    const again = links.initiator.take();
    expect(again.map((b) => b.$case === "message" && b.value.seq)).toEqual([3, 4]);
    // The very same bytes go again: a seq is never sealed twice with different content.
    const resent = again[0];
    expect(
      resent?.$case === "message" && Buffer.from(resent.value.ciphertext).equals(Buffer.from(first.get(3)!)),
    ).toBe(true);
    sender.acked(2);
    expect(links.initiator.messageSeqs()).toEqual([5]);
  });

  it("resend(ackedByPeer) after a reconnect settles what the peer had and sends the rest again", async () => {
    const { sender, links } = chatPair(4);
    const log = track([1, 2, 3].map((k) => sender.send(`m${k}`)));
    links.initiator.take();
    sender.resend(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(log).toEqual(["ok 1"]);
    expect(links.initiator.messageSeqs()).toEqual([2, 3]);
  });

  it("stops writing while the stream is down and catches up on pump()", () => {
    const { sender, links } = chatPair(4);
    links.initiator.up = false;
    void sender.send("a");
    void sender.send("b");
    expect(links.initiator.take()).toEqual([]);
    links.initiator.up = true;
    sender.pump();
    expect(links.initiator.messageSeqs()).toEqual([1, 2]);
  });

  it("retransmits when the oldest message waited longer than the timeout", () => {
    const { sender, links } = chatPair(4);
    void sender.send("a");
    void sender.send("b");
    links.initiator.take();
    const sentAt = links.initiator.clock.now();
    sender.checkTimeout(sentAt + 5000, 5000);
    expect(links.initiator.take()).toEqual([]);
    sender.checkTimeout(sentAt + 5001, 5000);
    expect(links.initiator.messageSeqs()).toEqual([1, 2]);
  });

  it("asks the node to delete the chat", () => {
    const { sender, links } = chatPair();
    sender.delete();
    expect(links.initiator.take()).toEqual([{ $case: "deleteChat", value: { chatId: sender.id } }]);
  });
});

describe("SDK Chat: receiving", () => {
  function sealedFor(pair: ReturnType<typeof chatPair>, n: number): Uint8Array[] {
    for (let k = 1; k <= n; k++) void pair.sender.send(`m${k}`);
    const all = ciphertexts(pair.links.initiator);
    return Array.from({ length: n }, (_, k) => all.get(k + 1)!);
  }

  it("hands messages over in order and acks them cumulatively", () => {
    const pair = chatPair(8);
    const [c1, c2, c3] = sealedFor(pair, 3);
    const seen: ReceivedMessage[] = [];
    pair.receiver.on("message", (m) => seen.push(m));
    pair.receiver.delivered(1, c1!);
    pair.receiver.delivered(2, c2!);
    pair.receiver.delivered(3, c3!);
    expect(seen.map((m) => [m.seq, m.text()])).toEqual([
      [1, "m1"],
      [2, "m2"],
      [3, "m3"],
    ]);
    flushAcks();
    expect(pair.links.target.ackSeqs()).toEqual([3]);
  });

  it("re-acks a duplicate with its own seq and does not surface it again", () => {
    const pair = chatPair(8);
    const [c1, c2] = sealedFor(pair, 2);
    const seen: number[] = [];
    pair.receiver.on("message", (m) => seen.push(m.seq));
    pair.receiver.delivered(1, c1!);
    pair.receiver.delivered(2, c2!);
    flushAcks();
    pair.links.target.take();
    pair.receiver.delivered(1, c1!);
    expect(pair.links.target.ackSeqs()).toEqual([1]);
    expect(seen).toEqual([1, 2]);
  });

  it("drops a message after a gap without acking it", () => {
    const pair = chatPair(8);
    const [c1, c2, c3] = sealedFor(pair, 3);
    const seen: number[] = [];
    pair.receiver.on("message", (m) => seen.push(m.seq));
    pair.receiver.delivered(1, c1!);
    flushAcks();
    pair.links.target.take();
    pair.receiver.delivered(3, c3!);
    flushAcks();
    expect(pair.links.target.take()).toEqual([]);
    expect(seen).toEqual([1]);
    pair.receiver.delivered(2, c2!);
    pair.receiver.delivered(3, c3!);
    expect(seen).toEqual([1, 2, 3]);
  });

  it("rejects a tampered message with an 'error' event and no ack, then takes the genuine one", () => {
    const pair = chatPair(8);
    const [c1] = sealedFor(pair, 1);
    const errors: Error[] = [];
    const seen: number[] = [];
    pair.receiver.on("error", (e) => errors.push(e));
    pair.receiver.on("message", (m) => seen.push(m.seq));
    pair.receiver.delivered(1, flipped(c1!, 3));
    flushAcks();
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/message 1 .* failed authentication/);
    expect(pair.links.target.take()).toEqual([]);
    expect(seen).toEqual([]);
    pair.receiver.delivered(1, c1!);
    expect(seen).toEqual([1]);
  });

  it("rejects a message sealed by someone without the key, even with no 'error' listener", () => {
    const pair = chatPair(8);
    const forged = seal(new Uint8Array(32).fill(7), pair.receiver.id, 1, new TextEncoder().encode("hi"));
    expect(() => pair.receiver.delivered(1, forged)).not.toThrow();
    flushAcks();
    expect(pair.links.target.take()).toEqual([]);
  });

  it("yields messages through messages() and ends the iteration when the chat ends", async () => {
    const pair = chatPair(8);
    const [c1, c2, c3] = sealedFor(pair, 3);
    pair.receiver.delivered(1, c1!); // no listener: kept for the iterator
    pair.receiver.delivered(2, c2!);
    const got: string[] = [];
    const done = (async () => {
      for await (const m of pair.receiver.messages()) got.push(m.text());
      return "ended";
    })();
    await vi.advanceTimersByTimeAsync(0);
    expect(got).toEqual(["m1", "m2"]);
    pair.receiver.delivered(3, c3!);
    await vi.advanceTimersByTimeAsync(0);
    expect(got).toEqual(["m1", "m2", "m3"]);
    pair.receiver.end(ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER);
    await expect(done).resolves.toBe("ended");
  });
});

describe("SDK Chat: ending", () => {
  it("rejects unacked sends with ChatEndedError, zeroes the keys and says so once", async () => {
    const { sender, links, keys } = chatPair(2);
    const sends = [1, 2, 3].map((k) => sender.send(`m${k}`));
    const log = track(sends);
    sender.acked(1);
    const ended: approuter.ChatEndReason[] = [];
    sender.on("ended", (r) => ended.push(r));
    sender.end(ChatEndReason.CHAT_END_REASON_IDLE_EXPIRED);
    sender.end(ChatEndReason.CHAT_END_REASON_DELETED);
    await vi.advanceTimersByTimeAsync(0);
    expect(log).toEqual(["ok 1", "ChatEndedError 2", "ChatEndedError 3"]);
    const error = await sends[1]!.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChatEndedError);
    expect(error).toMatchObject({ chatId: sender.id, reason: ChatEndReason.CHAT_END_REASON_IDLE_EXPIRED });
    expect(ended).toEqual([ChatEndReason.CHAT_END_REASON_IDLE_EXPIRED]);
    expect(sender.ended).toBe(true);
    expect(sender.unacked).toBe(0);
    expect(keys.initiator.send.every((b) => b === 0)).toBe(true);
    expect(keys.initiator.receive.every((b) => b === 0)).toBe(true);
    await expect(sender.send("late")).rejects.toBeInstanceOf(ChatEndedError);
    links.initiator.take();
    sender.delete();
    expect(links.initiator.take()).toEqual([]);
  });

  it("cancels a pending back-off and a pending ack when the chat ends", () => {
    const pair = chatPair(4);
    void pair.sender.send("a").catch(() => undefined);
    const c1 = ciphertexts(pair.links.initiator).get(1)!;
    pair.links.initiator.take();
    pair.sender.refused(1, 50);
    pair.sender.end(ChatEndReason.CHAT_END_REASON_DELETED);
    pair.links.initiator.clock.advance(100);
    expect(pair.links.initiator.take()).toEqual([]);

    pair.receiver.delivered(1, c1);
    pair.receiver.end(ChatEndReason.CHAT_END_REASON_DELETED);
    flushAcks();
    expect(pair.links.target.take()).toEqual([]);
  });
});
