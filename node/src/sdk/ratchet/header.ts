/**
 * The header of a ratcheted message (e2e v2). It travels in clear before the AEAD output inside
 * ChatMessage.ciphertext, and is authenticated as part of the associated data, so the node
 * relays the same opaque bytes as before and cannot change a header unnoticed.
 *
 *   0   version (2)
 *   1   flags: 0x01 step (a new sending chain), 0x02 announce (a new receive key)
 *   2   epoch, u32 BE: the sending chain (0 = from the handshake, +1 per step)
 *   6   n, u32 BE: the message within its chain, from 0
 *   10  sealed_at_ms, u64 BE: the sender's clock when it sealed the message
 *   18  step only: peer_key_index u32 BE, ratchet_key (32): the receiver's key the new chain
 *       was made against, and the sender's fresh X25519 public key
 *   ..  announce only: key_index u32 BE, receive_key (32): the sender's new receive key
 */

import { writeU64 } from "../e2e.js";

export const HEADER_VERSION = 2;
export const STEP = 0x01;
export const ANNOUNCE = 0x02;
const BASE_BYTES = 18;
const KEY_BLOCK_BYTES = 36;
/** The largest header: a step and an announce. */
export const MAX_HEADER_BYTES = BASE_BYTES + 2 * KEY_BLOCK_BYTES;

export interface KeyRef {
  index: number;
  publicKey: Uint8Array;
}

export interface Header {
  epoch: number;
  n: number;
  sealedAtMs: number;
  /** A new sending chain, made with `ratchetKey` against the receiver's key `peerKeyIndex`. */
  step?: { peerKeyIndex: number; ratchetKey: Uint8Array };
  /** The sender's new receive key. */
  announce?: KeyRef;
}

/** Writes the header at the start of `out` (which has room for it); returns its length. */
export function writeHeader(header: Header, out: Uint8Array): number {
  out[0] = HEADER_VERSION;
  out[1] = (header.step ? STEP : 0) | (header.announce ? ANNOUNCE : 0);
  writeU32(out, 2, header.epoch);
  writeU32(out, 6, header.n);
  writeU64(out, 10, header.sealedAtMs);
  let at = BASE_BYTES;
  if (header.step) {
    writeU32(out, at, header.step.peerKeyIndex);
    out.set(header.step.ratchetKey, at + 4);
    at += KEY_BLOCK_BYTES;
  }
  if (header.announce) {
    writeU32(out, at, header.announce.index);
    out.set(header.announce.publicKey, at + 4);
    at += KEY_BLOCK_BYTES;
  }
  return at;
}

/** The header at the start of a message, and its length; or what is wrong with it. */
export function readHeader(bytes: Uint8Array): { header: Header; length: number } | { malformed: string } {
  if (bytes.length < BASE_BYTES) return { malformed: `${bytes.length} bytes is shorter than a header` };
  if (bytes[0] !== HEADER_VERSION)
    return { malformed: `header version ${bytes[0]}, expected ${HEADER_VERSION}` };
  const flags = bytes[1]!;
  if ((flags & ~(STEP | ANNOUNCE)) !== 0)
    return { malformed: `unknown header flags 0x${flags.toString(16)}` };
  const high = readU32(bytes, 10);
  if (high >= 2 ** 21) return { malformed: "sealed_at_ms beyond 2^53 − 1" };
  const header: Header = {
    epoch: readU32(bytes, 2),
    n: readU32(bytes, 6),
    sealedAtMs: high * 2 ** 32 + readU32(bytes, 14),
  };
  let at = BASE_BYTES;
  const keyBlock = (): KeyRef | undefined => {
    if (bytes.length < at + KEY_BLOCK_BYTES) return undefined;
    const ref = { index: readU32(bytes, at), publicKey: bytes.slice(at + 4, at + KEY_BLOCK_BYTES) };
    at += KEY_BLOCK_BYTES;
    return ref;
  };
  if (flags & STEP) {
    const ref = keyBlock();
    if (!ref) return { malformed: "header cut short in its step" };
    header.step = { peerKeyIndex: ref.index, ratchetKey: ref.publicKey };
  }
  if (flags & ANNOUNCE) {
    const ref = keyBlock();
    if (!ref) return { malformed: "header cut short in its announced key" };
    header.announce = ref;
  }
  return { header, length: at };
}

// Byte by byte, not through a DataView: no allocation on the per-message path.
function writeU32(out: Uint8Array, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
}

function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}
