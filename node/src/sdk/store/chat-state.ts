import { approuter } from "@hermes/proto";
import type { CipherState } from "../chat-cipher.js";
import type { ChainState } from "../ratchet/chain.js";
import type { RatchetState, ReceivingChain, SendingChain } from "../ratchet/state.js";

/**
 * What an app's chat store keeps of one chat, and its byte encoding. The state is the current
 * one only: chain keys where they stand, the message keys of the current block not yet used,
 * the receive keys still needed. No key that was used, stepped past or erased is ever in it.
 *
 *   u8 format (1) · u8 role (0 initiator, 1 target) · bytes ChatReady (protobuf)
 *   u64 next_seq · u64 received_seq · u32 count, then per unacked message: u64 seq · bytes ciphertext
 *   u8 e2e version, then
 *     v1: key32 send · key32 receive
 *     v2: sending chain · receiving chain · u8 count, then per receive key: u32 index · key32 secret ·
 *         key32 public · u32 peer key index · key32 peer key
 *   a chain: key32 root · key32 chain key · bytes block · u32 epoch · u32 n · u64 started_at_ms ·
 *            (sending) u32 peer key index | (receiving) key32 ratchet key · u32 my key index
 *
 * Integers are big-endian; `bytes` is a u32 length and the bytes.
 */
export interface ChatSnapshot {
  /** The signed transcript, as the app received it. */
  ready: approuter.ChatReady;
  role: "initiator" | "target";
  /** The seq the next message will take. */
  nextSeq: number;
  /** The highest seq received from the peer (every one before it too). */
  receivedSeq: number;
  /** Sent and not acknowledged by the peer, as sealed (never sealed again). */
  outbox: { seq: number; ciphertext: Uint8Array }[];
  cipher: CipherState;
}

const FORMAT = 1;
const KEY = 32;

export class ChatStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChatStateError";
  }
}

export function encodeChatState(s: ChatSnapshot): Uint8Array {
  const w = new Writer();
  w.u8(FORMAT);
  w.u8(s.role === "initiator" ? 0 : 1);
  w.bytes(approuter.ChatReady.encode(s.ready).finish());
  w.u64(s.nextSeq);
  w.u64(s.receivedSeq);
  w.u32(s.outbox.length);
  for (const m of s.outbox) {
    w.u64(m.seq);
    w.bytes(m.ciphertext);
  }
  w.u8(s.cipher.version);
  if (s.cipher.version === 1) {
    w.key(s.cipher.keys.send);
    w.key(s.cipher.keys.receive);
  } else {
    const r = s.cipher.ratchet;
    writeChain(w, r.send);
    w.u32(r.send.peerKeyIndex);
    writeChain(w, r.receive);
    w.key(r.receive.ratchetKey);
    w.u32(r.receive.myKeyIndex);
    w.u8(r.myKeys.length);
    for (const k of r.myKeys) {
      w.u32(k.index);
      w.key(k.secretKey);
      w.key(k.publicKey);
    }
    w.u32(r.peerKey.index);
    w.key(r.peerKey.publicKey);
  }
  return w.finish();
}

/** Decodes a kept chat; throws ChatStateError saying what is wrong. */
export function decodeChatState(bytes: Uint8Array): ChatSnapshot {
  const r = new Reader(bytes);
  const format = r.u8();
  if (format !== FORMAT) throw new ChatStateError(`chat state format ${format}, this SDK reads ${FORMAT}`);
  const roleByte = r.u8();
  if (roleByte > 1) throw new ChatStateError(`role ${roleByte} is neither initiator (0) nor target (1)`);
  let ready: approuter.ChatReady;
  try {
    ready = approuter.ChatReady.decode(r.bytes());
  } catch (error) {
    throw new ChatStateError(`the transcript does not decode: ${(error as Error).message}`);
  }
  const nextSeq = r.u64();
  const receivedSeq = r.u64();
  const outbox = Array.from({ length: r.count(12) }, () => ({ seq: r.u64(), ciphertext: r.bytes() }));
  const version = r.u8();
  let cipher: CipherState;
  if (version === 1) {
    cipher = { version: 1, keys: { send: r.key(), receive: r.key() } };
  } else if (version === 2) {
    const sendChain = readChain(r);
    const send: SendingChain = { ...sendChain, peerKeyIndex: r.u32() };
    const receiveChain = readChain(r);
    const receive: ReceivingChain = { ...receiveChain, ratchetKey: r.key(), myKeyIndex: r.u32() };
    const myKeys = Array.from({ length: r.u8() }, () => ({
      index: r.u32(),
      secretKey: r.key(),
      publicKey: r.key(),
    }));
    if (myKeys.length === 0) throw new ChatStateError("the ratchet holds no receive key");
    const ratchet: RatchetState = { send, receive, myKeys, peerKey: { index: r.u32(), publicKey: r.key() } };
    cipher = { version: 2, ratchet };
  } else {
    throw new ChatStateError(`e2e version ${version} is neither 1 nor 2`);
  }
  r.end();
  if (nextSeq < 1 || outbox.some((m, i) => m.seq !== nextSeq - outbox.length + i))
    throw new ChatStateError(`the unacked messages are not the ${outbox.length} before seq ${nextSeq}`);
  return { ready, role: roleByte === 0 ? "initiator" : "target", nextSeq, receivedSeq, outbox, cipher };
}

function writeChain(
  w: Writer,
  c: { root: Uint8Array; chain: ChainState; epoch: number; n: number; startedAtMs: number },
) {
  w.key(c.root);
  w.key(c.chain.key);
  w.bytes(c.chain.block);
  w.u32(c.epoch);
  w.u32(c.n);
  w.u64(c.startedAtMs);
}

function readChain(r: Reader) {
  return {
    root: r.key(),
    chain: { key: r.key(), block: r.bytes() },
    epoch: r.u32(),
    n: r.u32(),
    startedAtMs: r.u64(),
  };
}

class Writer {
  private buffer = new Uint8Array(256);
  private view = new DataView(this.buffer.buffer);
  private at = 0;

  u8(v: number): void {
    this.room(1);
    this.view.setUint8(this.at, v);
    this.at += 1;
  }

  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.at, v);
    this.at += 4;
  }

  u64(v: number): void {
    this.room(8);
    this.view.setBigUint64(this.at, BigInt(v));
    this.at += 8;
  }

  key(v: Uint8Array): void {
    if (v.length !== KEY) throw new ChatStateError(`a key must be ${KEY} bytes, got ${v.length}`);
    this.raw(v);
  }

  bytes(v: Uint8Array): void {
    this.u32(v.length);
    this.raw(v);
  }

  /** The encoding; the growing buffers it went through are zeroed (they held keys). */
  finish(): Uint8Array {
    const out = this.buffer.slice(0, this.at);
    this.buffer.fill(0);
    return out;
  }

  private raw(v: Uint8Array): void {
    this.room(v.length);
    this.buffer.set(v, this.at);
    this.at += v.length;
  }

  private room(n: number): void {
    if (this.at + n <= this.buffer.length) return;
    const bigger = new Uint8Array(Math.max(this.buffer.length * 2, this.at + n));
    bigger.set(this.buffer.subarray(0, this.at));
    this.buffer.fill(0);
    this.buffer = bigger;
    this.view = new DataView(bigger.buffer);
  }
}

class Reader {
  private at = 0;
  private readonly view: DataView;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.at++);
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at);
    this.at += 4;
    return v;
  }

  u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.at);
    this.at += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new ChatStateError(`a number beyond 2^53 − 1 at byte ${this.at - 8}`);
    return Number(v);
  }

  key(): Uint8Array {
    return this.take(KEY);
  }

  bytes(): Uint8Array {
    return this.take(this.u32());
  }

  /** A u32 count of items of at least `bytesEach`, no more than the bytes left can hold. */
  count(bytesEach: number): number {
    const n = this.u32();
    if (n * bytesEach > this.data.length - this.at)
      throw new ChatStateError(`a count of ${n} at byte ${this.at - 4} is more than the bytes left hold`);
    return n;
  }

  end(): void {
    if (this.at !== this.data.length)
      throw new ChatStateError(`${this.data.length - this.at} bytes left over after the chat state`);
  }

  private take(n: number): Uint8Array {
    this.need(n);
    const out = this.data.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }

  private need(n: number): void {
    if (this.at + n > this.data.length)
      throw new ChatStateError(`cut short: ${n} bytes needed at byte ${this.at} of ${this.data.length}`);
  }
}
