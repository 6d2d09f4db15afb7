import type { ChatKeys, E2eVersion } from "./e2e.js";
import type { RatchetError } from "./errors.js";
import type { RatchetState } from "./ratchet/state.js";

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
