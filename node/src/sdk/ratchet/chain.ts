import { cryptoBackend } from "../../crypto/index.js";

/**
 * A symmetric KDF chain: one sending chain per direction and epoch, each message its own key.
 * A chain key yields a block of ChaCha20 keystream (key = chain key, nonce = 12 zero bytes,
 * counter from 0): its first 32 bytes are the next chain key, the next 32 × 32 bytes the keys of
 * the next 32 messages. This is the "fast-key-erasure" generator (D. J. Bernstein, 2017): one
 * cipher call per 32 messages instead of two HMACs per message, and the same erasure: the chain
 * key is zeroed once its block exists, each message key once it was used, so nothing held can
 * derive a key that was used before.
 */

/** Message keys per block: one cipher call makes the keys of 32 messages. */
export const KEYS_PER_BLOCK = 32;
export const KEY_BYTES = 32;
const BLOCK_BYTES = KEY_BYTES * (1 + KEYS_PER_BLOCK);

/** Where a chain stands: the key of the next block, and what is left of the current one. */
export interface ChainState {
  /** The chain key that makes the next block. */
  key: Uint8Array;
  /**
   * The current block's message keys (32 × 32 bytes; empty before the first), those already
   * used zeroed. Message n of the chain takes slot n mod 32.
   */
  block: Uint8Array;
}

export function newChain(key: Uint8Array): ChainState {
  return { key, block: new Uint8Array(0) };
}

/** The next block from a chain key: [next chain key, 32 message keys]. */
export function chainBlock(key: Uint8Array): { next: Uint8Array; keys: Uint8Array } {
  const stream = cryptoBackend().keystream(key, BLOCK_BYTES);
  return { next: stream.subarray(0, KEY_BYTES), keys: stream.subarray(KEY_BYTES) };
}

/** The key of a chain's next message, worked out without touching the chain. */
export interface ChainStep {
  /** The message key: a view of its slot in the block, zeroed by advance() (use it before). */
  key: Uint8Array;
  slot: number;
  /** The new block when the message opens one. */
  made?: { next: Uint8Array; keys: Uint8Array };
}

/**
 * The key of message `n` (the chain's next). Nothing changes until `advance()`, so a receiver
 * can drop the step when the message does not authenticate.
 */
export function nextKey(chain: ChainState, n: number): ChainStep {
  const slot = n % KEYS_PER_BLOCK;
  const at = slot * KEY_BYTES;
  if (slot === 0) {
    const made = chainBlock(chain.key);
    return { key: made.keys.subarray(at, at + KEY_BYTES), slot, made };
  }
  if (chain.block.length !== KEYS_PER_BLOCK * KEY_BYTES)
    throw new Error(`chain has no block for message ${n}`);
  return { key: chain.block.subarray(at, at + KEY_BYTES), slot };
}

/** Takes the step: a new block replaces the old (both zeroed), and the used key's slot is zeroed. */
export function advance(chain: ChainState, step: ChainStep): void {
  if (step.made) {
    eraseChain(chain);
    chain.key = step.made.next;
    chain.block = step.made.keys;
  }
  chain.block.fill(0, step.slot * KEY_BYTES, (step.slot + 1) * KEY_BYTES);
}

/** Drops a step that was not taken: a new block goes; a key of the current one stays for the genuine message. */
export function dropStep(step: ChainStep): void {
  step.made?.next.fill(0);
  step.made?.keys.fill(0);
}

export function eraseChain(chain: ChainState): void {
  chain.key.fill(0);
  chain.block.fill(0);
}
