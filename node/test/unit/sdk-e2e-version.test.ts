import { approuter } from "@hermes/proto";
import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import { checkReady, readyOf, signAccept, signOffer, verifyOffer } from "../../src/protocol/index.js";
import type { Chat } from "../../src/sdk/chat.js";
import { agreedVersion, newEphemeral, withRatchetBit } from "../../src/sdk/e2e.js";
import { ChatRejectedError, E2eVersionError } from "../../src/sdk/errors.js";
import { newChatId } from "../support/frames.js";
import { chat, connected, received, world } from "../support/sdk-world.js";

/**
 * Which e2e version a chat runs at: v2 (the ratchet) when both apps set the ratchet bit in the
 * ephemeral keys they sign, else v1, or refused at the start by an app that requires v2. An app
 * with `e2e.ratchet: "off"` is an SDK from before the ratchet: it neither sets nor reads the bit.
 */

const { ChatEndReason } = approuter;

/** The ciphertexts of the messages apps wrote, by chat. */
function sealed(written: approuter.AppFrame[]): Uint8Array[] {
  return written.flatMap((f) => {
    const body = f.body;
    if (body?.$case === "message") return [body.value.ciphertext];
    if (body?.$case === "batch") return body.value.messages.map((m) => m.ciphertext);
    return [];
  });
}

describe("e2e version", () => {
  it("two apps with the ratchet chat at e2e v2, each message led by its header", async () => {
    const w = world(1);
    const [a, b] = [w.client(w.nodes[0]!), w.client(w.nodes[0]!)];
    await connected(w, a, b);
    const [ab, ba] = await chat(w, a, b);
    expect([ab.e2eVersion, ba.e2eVersion]).toEqual([2, 2]);
    const atB = received(ba);
    await Promise.all([ab.send("hello"), ab.send("again"), w.tick()]);
    expect(atB).toEqual(["hello", "again"]);
    const messages = sealed(w.streams.written);
    expect(messages.map((m) => m[0])).toEqual([2, 2]);
  });

  it.each([
    ["the older app starts", "off", "on"],
    ["the newer app starts", "on", "off"],
  ] as const)(
    "an app without the ratchet (an older SDK) and one with it chat at e2e v1 (%s)",
    async (_name, first, second) => {
      const w = world(1);
      const a = w.client(w.nodes[0]!, { e2e: { ratchet: first } });
      const b = w.client(w.nodes[0]!, { e2e: { ratchet: second } });
      await connected(w, a, b);
      const [ab, ba] = await chat(w, a, b);
      expect([ab.e2eVersion, ba.e2eVersion]).toEqual([1, 1]);
      const [atA, atB] = [received(ab), received(ba)];
      await Promise.all([ab.send("hello"), ba.send("hi"), w.tick()]);
      expect([atA, atB]).toEqual([["hi"], ["hello"]]);
      // e2e v1 as before the ratchet: the AEAD output alone, plaintext + 16 bytes.
      expect(sealed(w.streams.written).map((m) => m.length)).toEqual(expect.arrayContaining([21, 18]));
    },
  );

  it("an app that requires the ratchet refuses an older SDK's offer at the start, and says why", async () => {
    const w = world(1);
    const old = w.client(w.nodes[0]!, { e2e: { ratchet: "off" } });
    const strict = w.client(w.nodes[0]!, { e2e: { ratchet: "required" } });
    await connected(w, old, strict);
    const errors: Error[] = [];
    strict.on("error", (e) => errors.push(e));
    let offered = false;
    strict.on("offer", () => {
      offered = true;
    });
    const started = old.startChat(strict.appId).catch((e: Error) => e);
    await w.tick();
    const refusal = (await started) as Error;
    expect(refusal).toBeInstanceOf(ChatRejectedError);
    expect(refusal.message).toMatch(/requires forward secrecy \(Hermes e2e v2, the ratchet\)/);
    expect(offered).toBe(false);
    expect(errors).toEqual([expect.any(E2eVersionError)]);
  });

  it("an app that requires the ratchet ends a chat an older SDK accepted, at the start", async () => {
    const w = world(1);
    const strict = w.client(w.nodes[0]!, { e2e: { ratchet: "required" } });
    const old = w.client(w.nodes[0]!, { e2e: { ratchet: "off" } });
    await connected(w, strict, old);
    const accepted = new Promise<Chat>((resolve) => old.once("chat", resolve));
    old.on("offer", (offer) => void offer.accept());
    const started = strict.startChat(old.appId).catch((e: Error) => e);
    await w.tick();
    const refusal = (await started) as Error;
    expect(refusal).toBeInstanceOf(E2eVersionError);
    expect(refusal.message).toMatch(/answered without the ratchet/);
    const theirs = await accepted;
    await w.until(() => theirs.ended);
    expect(theirs.endedWith).toBe(ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER);
  });

  it("no node can clear a ratchet bit to force v1: both signatures cover both keys", () => {
    const [initiator, target] = [Identity.generate(), Identity.generate()];
    const [i, t] = [newEphemeral(), newEphemeral()];
    const offer = {
      ...signOffer(initiator, {
        chatId: newChatId(),
        targetAppId: target.id,
        ephemeralKey: withRatchetBit(i.publicKey),
        timestampMs: 1,
      }),
      initiatorAppId: initiator.id,
      initiatorPublicKey: initiator.publicKey,
    };
    const accept = signAccept(target, offer, withRatchetBit(t.publicKey), 2);
    const ready = readyOf(offer, target.publicKey, accept);
    expect(checkReady(ready)).toBeUndefined();
    expect(agreedVersion(ready)).toBe(2);
    // The bit is what both apps signed; clearing it anywhere breaks a signature.
    const cleared = (key: Uint8Array) => Uint8Array.from(key, (b, k) => (k === 31 ? b & 0x7f : b));
    expect(verifyOffer({ ...offer, ephemeralKey: cleared(offer.ephemeralKey) })).toBe(false);
    expect(checkReady({ ...ready, initiatorEphemeralKey: cleared(ready.initiatorEphemeralKey) })).toMatch(
      /signature does not verify/,
    );
    expect(checkReady({ ...ready, targetEphemeralKey: cleared(ready.targetEphemeralKey) })).toMatch(
      /target's signature does not verify/,
    );
  });
});
