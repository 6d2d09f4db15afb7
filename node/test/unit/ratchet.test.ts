import { afterEach, expect, it } from "vitest";
import { newEphemeral } from "../../src/sdk/e2e.js";
import { readHeader } from "../../src/sdk/ratchet/header.js";
import { describeEachBackend } from "../support/crypto-backends.js";
import { flipped } from "../support/frames.js";
import { recordKeys as record } from "../support/key-recorder.js";
import { hex, ratchetPair, secretsOf, T0 } from "../support/ratchet.js";

/**
 * The ratchet state machine (node/src/sdk/ratchet/ratchet.ts) between two ends, without a
 * node: keys agree in both directions, chains step on turns, counts and time, used keys are
 * gone, and every misuse is refused with its code.
 */

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});

function recordKeys() {
  const recorder = record();
  restore = recorder.stop;
  return recorder;
}

const header = (c: Uint8Array) => {
  const read = readHeader(c);
  if ("malformed" in read) throw new Error(read.malformed);
  return read.header;
};

describeEachBackend("ratchet", () => {
  it("carries messages both ways, each under its own key, across block boundaries", () => {
    const { a, b } = ratchetPair();
    const keys = recordKeys();
    for (let k = 1; k <= 40; k++) expect(b.read(a.seal(`a${k}`))).toBe(`a${k}`);
    for (let k = 1; k <= 20; k++) expect(a.read(b.seal(`b${k}`))).toBe(`b${k}`);
    const sealKeys = keys.sealed.map(hex);
    expect(new Set(sealKeys).size).toBe(60);
    expect(keys.opened.map(hex)).toEqual(sealKeys);
  });

  it("keeps no key it has used: message keys, old roots and chain keys are gone from the state", () => {
    const { a, b } = ratchetPair({ rekeyAfterMessages: 16 });
    const used = recordKeys();
    const before = [...secretsOf(a.state), ...secretsOf(b.state)];
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < 20; k++) b.read(a.seal(`a${k}`));
      for (let k = 0; k < 5; k++) a.read(b.seal(`b${k}`));
    }
    const now = new Set([...secretsOf(a.state), ...secretsOf(b.state)].map(hex));
    for (const key of [...used.sealed, ...used.opened, ...used.agreed, ...before])
      expect(now.has(hex(key))).toBe(false);
  });

  it("steps at each turn of the conversation and announces a fresh receive key", () => {
    const { a, b } = ratchetPair();
    const first = a.seal("hi");
    expect(header(first.ciphertext)).toMatchObject({ epoch: 0, n: 0, announce: { index: 1 } });
    expect(header(first.ciphertext).step).toBeUndefined();
    b.read(first);
    const reply = b.seal("hello");
    expect(header(reply.ciphertext)).toMatchObject({
      epoch: 1,
      step: { peerKeyIndex: 1 },
      announce: { index: 1 },
    });
    a.read(reply);
    const again = a.seal("how are you");
    expect(header(again.ciphertext)).toMatchObject({
      epoch: 1,
      step: { peerKeyIndex: 1 },
      announce: { index: 2 },
    });
    b.read(again);
    // Within a turn, no more steps or announces.
    const more = a.seal("and");
    expect(header(more.ciphertext)).toEqual({ epoch: 1, n: 1, sealedAtMs: T0 });
    b.read(more);
    // A keeps at most its newest key the peer uses and one announced after it.
    expect(a.state.myKeys.map((k) => k.index)).toEqual([1, 2]);
    b.read(a.seal("!"));
    a.read(b.seal("fine"));
    expect(a.state.myKeys.map((k) => k.index)).toEqual([2]);
  });

  it("steps after rekeyAfterMessages and after rekeyAfterMs, in one direction alone", () => {
    const { a, b } = ratchetPair({ rekeyAfterMessages: 16, rekeyAfterMs: 60_000 });
    const epochs: number[] = [];
    for (let k = 0; k < 40; k++) {
      const m = a.seal(`m${k}`);
      epochs.push(header(m.ciphertext).epoch);
      b.read(m);
    }
    expect(epochs.filter((e) => e === 0)).toHaveLength(16);
    expect(epochs.filter((e) => e === 1)).toHaveLength(16);
    expect(epochs.at(-1)).toBe(2);
    const late = a.seal("a minute later", T0 + 60_000);
    expect(header(late.ciphertext)).toMatchObject({ epoch: 3, n: 0, step: { peerKeyIndex: 0 } });
    expect(b.read(late, T0 + 60_000)).toBe("a minute later");
  });

  it("works full duplex: both ends seal before either reads, and each turn still agrees", () => {
    const { a, b } = ratchetPair({ rekeyAfterMessages: 16 });
    for (let round = 0; round < 5; round++) {
      const fromA = Array.from({ length: 7 + round * 5 }, (_, k) => a.seal(`a${round}.${k}`));
      const fromB = Array.from({ length: 3 + round * 7 }, (_, k) => b.seal(`b${round}.${k}`));
      expect(fromB.map((m) => a.read(m))).toEqual(fromB.map((_, k) => `b${round}.${k}`));
      expect(fromA.map((m) => b.read(m))).toEqual(fromA.map((_, k) => `a${round}.${k}`));
    }
  });

  it("refuses a replayed or reordered header before any key work, and the next genuine message still opens", () => {
    const { a, b } = ratchetPair();
    const [m1, m2, m3] = [a.seal("one"), a.seal("two"), a.seal("three")];
    b.read(m1);
    const replayed = b.open({ seq: 2, ciphertext: m1.ciphertext });
    expect(replayed).toMatchObject({ kind: "refused", error: { code: "out_of_order" } });
    expect(replayed.kind === "refused" && replayed.error.message).toMatch(
      /expected epoch 0 message 1, got epoch 0 message 0/,
    );
    expect(b.open({ seq: 2, ciphertext: m3.ciphertext })).toMatchObject({
      kind: "refused",
      error: { code: "out_of_order" },
    });
    expect(b.read(m2)).toBe("two");
    expect(b.read(m3)).toBe("three");
    // A step delivered again later: its epoch is gone.
    const step = b.seal("step");
    a.read(step);
    a.read(b.seal("after"));
    expect(a.open({ seq: 3, ciphertext: step.ciphertext })).toMatchObject({
      kind: "refused",
      error: { code: "out_of_order" },
    });
  });

  it("refuses a step against a receive key it never announced, or one it no longer holds", () => {
    const { a, b } = ratchetPair();
    b.read(a.seal("hi")); // announces A's key #1
    const step = b.seal("step"); // against A's #1
    const bytes = Uint8Array.from(step.ciphertext);
    new DataView(bytes.buffer).setUint32(18, 7);
    expect(a.open({ seq: step.seq, ciphertext: bytes })).toMatchObject({
      kind: "refused",
      error: { code: "unknown_key", message: expect.stringMatching(/#7, which this app has not announced/) },
    });
    expect(a.read(step)).toBe("step");
  });

  it("refuses a forged or altered message and keeps its state", () => {
    const { a, b } = ratchetPair();
    b.read(a.seal("hi"));
    const step = b.seal("with a step");
    for (const at of [17, 30, step.ciphertext.length - 1]) {
      expect(a.open({ seq: step.seq, ciphertext: flipped(step.ciphertext, at) })).toMatchObject({
        kind: "refused",
        error: { code: "authentication" },
      });
    }
    expect(a.open({ seq: step.seq + 1, ciphertext: step.ciphertext }).kind).toBe("refused"); // the seq is the nonce
    expect(a.read(step)).toBe("with a step");
    // Within a block too: the forgery leaves the genuine message's key where it was.
    const next = b.seal("no step");
    expect(a.open({ seq: next.seq, ciphertext: flipped(next.ciphertext, 30) }).kind).toBe("refused");
    expect(a.read(next)).toBe("no step");
  });

  it("refuses a step whose ratchet key is the current chain's, or a low-order point", () => {
    const { a, b, transcript } = ratchetPair({ rekeyAfterMessages: 16 });
    for (let k = 0; k < 16; k++) b.read(a.seal(`m${k}`));
    const step = a.seal("a count step"); // no announce: B has not used A's key #1 yet
    expect(header(step.ciphertext).announce).toBeUndefined();
    const replayed = Uint8Array.from(step.ciphertext);
    replayed.set(transcript.initiatorEphemeralKey, 22); // the key of B's current chain (epoch 0)
    expect(b.open({ seq: step.seq, ciphertext: replayed })).toMatchObject({
      kind: "refused",
      error: { code: "replayed_key" },
    });
    replayed.fill(0, 22, 54);
    expect(b.open({ seq: step.seq, ciphertext: replayed })).toMatchObject({
      kind: "refused",
      error: { code: "malformed", message: expect.stringMatching(/low-order/) },
    });
    expect(b.read(step)).toBe("a count step");
  });

  it("holds back rekeys beyond its budget and takes them when the budget refills", () => {
    // A peer that steps on a timer after every message, with a clock running fast.
    const { a, b } = ratchetPair({ rekeyAfterMs: 1000 });
    let t = T0;
    const held: number[] = [];
    for (let k = 0; k < 12; k++) {
      t += 1000;
      const m = a.seal(`m${k}`, t);
      const verdict = b.open(m, T0);
      if (verdict.kind === "held") {
        held.push(k);
        expect(verdict.retryAfterMs).toBeGreaterThan(0);
        expect(b.read(m, T0 + verdict.retryAfterMs)).toBe(`m${k}`);
        break;
      }
      expect(verdict.kind).toBe("message");
    }
    // The first message is on the handshake's chain; the next eight steps are the burst.
    expect(held).toEqual([9]);
  });

  it("lets no one make it agree beyond the budget with forged steps, and takes the genuine step after", () => {
    const { a, b } = ratchetPair();
    b.read(a.seal("hi")); // A announces its key #1: B's reply will be a free step against it
    const genuine = b.seal("reply");
    const verdicts: string[] = [];
    for (let k = 0; k < 10; k++) {
      // A node forges the step: the header as genuine, another ratchet key.
      const forged = Uint8Array.from(genuine.ciphertext);
      forged.set(newEphemeral().publicKey, 22);
      verdicts.push(a.open({ seq: genuine.seq, ciphertext: forged }).kind);
    }
    expect(verdicts).toEqual([...Array(8).fill("refused"), "held", "held"]);
    const verdict = a.open(genuine);
    expect(verdict.kind).toBe("held");
    expect(a.read(genuine, T0 + (verdict.kind === "held" ? verdict.retryAfterMs : 0))).toBe("reply");
  });

  it("ends the chat when the peer keeps one key too long or for too many messages", () => {
    const old = ratchetPair({ rekeyAfterMs: 3_600_000 }, { rekeyAfterMs: 60_000, maxKeyAgeMs: 60_000 });
    old.b.read(old.a.seal("first"));
    const verdict = old.b.open(old.a.seal("an hour later", T0 + 3_000_000));
    expect(verdict).toMatchObject({ kind: "fatal", error: { code: "key_too_old" } });
    const long = ratchetPair({ rekeyAfterMessages: 1000 }, { rekeyAfterMessages: 100, maxKeyMessages: 100 });
    for (let k = 0; k < 100; k++) long.b.read(long.a.seal(`m${k}`));
    expect(long.b.open(long.a.seal("one too many"))).toMatchObject({
      kind: "fatal",
      error: { code: "too_many_messages" },
    });
  });

  it("ends the chat when the peer announces a low-order receive key", () => {
    const lowOrder = () => ({ secretKey: new Uint8Array(32).fill(9), publicKey: new Uint8Array(32) });
    const { a, b } = ratchetPair({}, {}, { initiatorKeyPairs: lowOrder });
    expect(b.open(a.seal("hi"))).toMatchObject({ kind: "fatal", error: { code: "bad_key" } });
  });
});
