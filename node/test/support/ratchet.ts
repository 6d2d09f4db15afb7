import type { CipherState, OpenVerdict } from "../../src/sdk/chat-cipher.js";
import { newEphemeral, type Transcript, withRatchetBit } from "../../src/sdk/e2e.js";
import { type E2eConfig, resolveE2eConfig } from "../../src/sdk/ratchet/config.js";
import { Ratchet } from "../../src/sdk/ratchet/ratchet.js";
import { initialState, type KeyPair, type RatchetState } from "../../src/sdk/ratchet/state.js";
import { newChatId } from "./frames.js";

export const T0 = 1_700_000_000_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The two ends of one ratcheted chat, from a real X25519 handshake with marked keys. */
export function ratchetPair(
  config: Partial<E2eConfig> = {},
  peerConfig: Partial<E2eConfig> = config,
  options: { initiatorKeyPairs?: () => KeyPair } = {},
) {
  const i = newEphemeral();
  const t = newEphemeral();
  const transcript: Transcript = {
    chatId: newChatId(),
    initiatorAppId: "a".repeat(32),
    targetAppId: "b".repeat(32),
    initiatorEphemeralKey: withRatchetBit(i.publicKey),
    targetEphemeralKey: withRatchetBit(t.publicKey),
  };
  // As the client does: the ephemeral pair's agree() goes along, and its secret is zeroed after.
  const make = (role: "initiator" | "target", pair: KeyPair, c: Partial<E2eConfig>) =>
    new Ratchet(initialState(transcript, role, pair.secretKey, pair.agree), {
      chatId: transcript.chatId,
      config: resolveE2eConfig(c),
      nowMs: T0,
      ...(role === "initiator" && options.initiatorKeyPairs ? { newKeyPair: options.initiatorKeyPairs } : {}),
    });
  const ends = {
    transcript,
    a: new End(make("initiator", i, config)),
    b: new End(make("target", t, peerConfig)),
  };
  i.secretKey.fill(0);
  t.secretKey.fill(0);
  return ends;
}

/** One end: its own seq counter, sealing and opening text. */
export class End {
  seq = 0;
  received = 0;
  constructor(readonly ratchet: Ratchet) {}

  seal(text: string, nowMs = T0): { seq: number; ciphertext: Uint8Array } {
    this.seq++;
    return { seq: this.seq, ciphertext: this.ratchet.seal(this.seq, encoder.encode(text), nowMs) };
  }

  open(message: { seq: number; ciphertext: Uint8Array }, nowMs = T0): OpenVerdict {
    return this.ratchet.open(message.seq, message.ciphertext, nowMs);
  }

  /** Opens and expects the text; returns it. */
  read(message: { seq: number; ciphertext: Uint8Array }, nowMs = T0): string {
    const verdict = this.open(message, nowMs);
    if (verdict.kind !== "message")
      throw new Error(
        `expected a message, got ${verdict.kind}: ${"error" in verdict ? verdict.error.message : ""}`,
      );
    this.received = message.seq;
    return decoder.decode(verdict.plaintext);
  }

  get state(): RatchetState {
    return (this.ratchet.state() as Extract<CipherState, { version: 2 }>).ratchet;
  }
}

/** Every key a chat's cipher state holds: fixed keys (v1), or the ratchet's secrets (v2). */
export function keysOf(state: CipherState): Uint8Array[] {
  return state.version === 1 ? [state.keys.send, state.keys.receive] : secretsOf(state.ratchet);
}

/** Every secret 32-byte value a state holds: roots, chain keys, unused message keys, receive secrets. */
export function secretsOf(state: RatchetState): Uint8Array[] {
  const out: Uint8Array[] = [
    state.send.root,
    state.receive.root,
    state.send.chain.key,
    state.receive.chain.key,
  ];
  for (const chain of [state.send.chain, state.receive.chain])
    for (let at = 0; at < chain.block.length; at += 32) {
      const key = chain.block.subarray(at, at + 32);
      if (key.some((b) => b !== 0)) out.push(key);
    }
  for (const key of state.myKeys) out.push(key.secretKey);
  return out.map((k) => Uint8Array.from(k));
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
