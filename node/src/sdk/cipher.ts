import { TAG_BYTES, type X25519KeyPair } from "../crypto/backend.js";
import {
  agreedVersion,
  type ChatKeys,
  deriveChatKeys,
  type E2eVersion,
  open,
  seal,
  type Transcript,
} from "./e2e.js";
import { RatchetError } from "./errors.js";
import type { E2eConfig } from "./ratchet/config.js";
import { Ratchet } from "./ratchet/ratchet.js";
import { initialState, type RatchetState } from "./ratchet/state.js";

/** What opening a delivered message came to. */
export type OpenVerdict =
  /** Authenticated and in order: hand it to the app. */
  | { kind: "message"; plaintext: Uint8Array }
  /** Dropped, not acknowledged, nothing changed: a node may have made it up. */
  | { kind: "refused"; error: RatchetError }
  /** A rekey beyond the peer's budget: open it again after `retryAfterMs`, and hold what follows. */
  | { kind: "held"; retryAfterMs: number }
  /** From the peer itself, and against the rules (it does not rekey): the chat ends. */
  | { kind: "fatal"; error: RatchetError };

/** A chat's keys in the form the store keeps them. */
export type CipherState = { version: 1; keys: ChatKeys } | { version: 2; ratchet: RatchetState };

/** How a chat seals and opens its messages: fixed keys (e2e v1) or the ratchet (e2e v2). */
export interface ChatCipher {
  readonly version: E2eVersion;
  /** The most a sealed message adds to its plaintext. */
  readonly overheadBytes: number;
  /** Seals message `seq`; each call uses a key no other call used. */
  seal(seq: number, plaintext: Uint8Array, nowMs: number): Uint8Array;
  open(seq: number, ciphertext: Uint8Array, nowMs: number): OpenVerdict;
  /** A copy of what the store must keep to go on after a restart. */
  state(): CipherState;
  /** Zeroes every key. */
  erase(): void;
}

/** e2e v1: one key per direction for the whole chat, the seq as nonce. */
export class StaticCipher implements ChatCipher {
  readonly version = 1;
  readonly overheadBytes = TAG_BYTES;

  constructor(
    private readonly keys: ChatKeys,
    private readonly chatId: string,
  ) {}

  seal(seq: number, plaintext: Uint8Array): Uint8Array {
    return seal(this.keys.send, this.chatId, seq, plaintext);
  }

  open(seq: number, ciphertext: Uint8Array): OpenVerdict {
    try {
      return { kind: "message", plaintext: open(this.keys.receive, this.chatId, seq, ciphertext) };
    } catch {
      return {
        kind: "refused",
        error: new RatchetError(
          "authentication",
          `message ${seq} of chat ${this.chatId} failed authentication; dropped`,
        ),
      };
    }
  }

  state(): CipherState {
    return {
      version: 1,
      keys: { send: Uint8Array.from(this.keys.send), receive: Uint8Array.from(this.keys.receive) },
    };
  }

  erase(): void {
    this.keys.send.fill(0);
    this.keys.receive.fill(0);
  }
}

/** Zeroes the keys of a state copy once it has been encoded. */
export function wipeCipherState(state: CipherState): void {
  if (state.version === 1) {
    state.keys.send.fill(0);
    state.keys.receive.fill(0);
    return;
  }
  const r = state.ratchet;
  for (const c of [r.send, r.receive]) {
    c.root.fill(0);
    c.chain.key.fill(0);
    c.chain.block.fill(0);
  }
  for (const k of r.myKeys) k.secretKey.fill(0);
}

/** The cipher of a chat just agreed: the ratchet when both ephemeral keys carry its bit, else fixed keys. */
export function handshakeCipher(
  ready: Transcript,
  role: "initiator" | "target",
  mySecret: Uint8Array,
  config: E2eConfig,
  nowMs: number,
  agree?: X25519KeyPair["agree"],
): ChatCipher {
  if (agreedVersion(ready) === 2)
    return new Ratchet(initialState(ready, role, mySecret, agree), { chatId: ready.chatId, config, nowMs });
  return new StaticCipher(deriveChatKeys(ready, role, mySecret), ready.chatId);
}

/** The cipher of a chat a store kept (it takes the state over). */
export function restoredCipher(
  state: CipherState,
  chatId: string,
  config: E2eConfig,
  nowMs: number,
): ChatCipher {
  return state.version === 1
    ? new StaticCipher(state.keys, chatId)
    : new Ratchet(state.ratchet, { chatId, config, nowMs });
}
