import { EventEmitter } from "node:events";
import { approuter } from "@hermes/proto";
import type { Clock } from "../utils/clock.js";
import type { ChatCipher } from "./chat-cipher.js";
import { StaticCipher } from "./cipher.js";
import type { ChatKeys, E2eVersion } from "./e2e.js";
import { ChatEndedError, NodeUnreachableError, type RatchetError } from "./errors.js";
import type { ChatSnapshot } from "./store/chat-state.js";

export interface ReceivedMessage {
  seq: number;
  data: Uint8Array;
  /** The bytes as UTF-8 text. */
  text(): string;
}

interface Outgoing {
  seq: number;
  ciphertext: Uint8Array;
  sentAt: number;
  /** Settled already (rejected while no node was reachable); its later ack is only an event. */
  settled: boolean;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** What a Chat needs from its client: a way to write frames and to know if the stream is up. */
export interface ChatLink {
  write(body: NonNullable<approuter.AppFrame["body"]>): boolean;
  readonly clock: Clock;
  readonly maxInFlight: number;
  /** The node's limit from ConnectAck; larger messages are refused here, before they use a seq. */
  readonly maxCiphertextBytes: number;
  /** False while no node has taken the app back for longer than the client's bound. */
  readonly reachable: boolean;
  /**
   * With a store: the chat changed; save it, then call `saved()`. Until then nothing sealed
   * since the last save goes out and nothing received since is acknowledged, so that a restarted
   * app never seals twice under one key and never loses a message it acknowledged.
   */
  save?(chat: Chat): void;
}

const decoder = new TextDecoder();
/**
 * The most deliveries held back behind a rekey beyond the peer's budget (a node's default
 * limits.maxInFlightPerChat): a node cannot make the app buffer more; those after are dropped
 * unopened and come again with the sender's retransmission.
 */
const MAX_HELD = 256;

/**
 * One end-to-end encrypted chat. send() resolves once the peer app has acknowledged the
 * message; up to maxInFlight messages travel at once. Unacked messages are kept, as sealed, and
 * sent again after a reconnect or a refusal (never sealed again: under the ratchet their keys
 * are gone), and the receiving side drops duplicates, so the peer sees every message once and
 * in order. Deliveries are opened strictly in seq order; one the ratchet holds back (a rekey
 * beyond the peer's budget) holds back those after it.
 */
export class Chat extends EventEmitter<{
  message: [ReceivedMessage];
  /** The peer acknowledged every message up to this seq. */
  acked: [number];
  ended: [approuter.ChatEndReason];
  error: [Error];
}> {
  private nextSeq = 1;
  /** Sent or waiting, ordered by seq; `sentCount` of them are on the wire. */
  private readonly outbox: Outgoing[] = [];
  private sentCount = 0;
  private lastReceived = 0;
  private ackScheduled = false;
  /** Cancels the pending retry after a refusal. */
  private cancelRetry: (() => void) | undefined;
  private inbox: ReceivedMessage[] = [];
  private waiter: (() => void) | undefined;
  /** Deliveries in seq order, opened from the front; more than one only while the first is held back. */
  private readonly held: { seq: number; ciphertext: Uint8Array }[] = [];
  private cancelHeld: (() => void) | undefined;
  /** The peer broke the ratchet's rules: the chat is being deleted, nothing more is opened. */
  private broken = false;
  private readonly cipher: ChatCipher;
  /** With a store: what the last save holds (sealed up to, received up to). */
  private readonly persistent: boolean;
  private savedSeq = 0;
  private savedReceived = 0;
  endedWith: approuter.ChatEndReason | undefined;

  constructor(
    readonly id: string,
    readonly peerAppId: string,
    readonly role: "initiator" | "target",
    cipher: ChatCipher | ChatKeys,
    private readonly link: ChatLink,
    /** The signed transcript: what a node needs to carry the chat on (Connect.resume). */
    readonly transcript?: approuter.ChatReady,
  ) {
    super();
    this.cipher = "seal" in cipher ? cipher : new StaticCipher(cipher, id);
    this.persistent = link.save !== undefined;
  }

  /** A chat as a store kept it, its unacked messages queued to go again. */
  static restore(snapshot: ChatSnapshot, peerAppId: string, cipher: ChatCipher, link: ChatLink): Chat {
    const chat = new Chat(snapshot.ready.chatId, peerAppId, snapshot.role, cipher, link, snapshot.ready);
    chat.nextSeq = snapshot.nextSeq;
    chat.lastReceived = chat.savedReceived = snapshot.receivedSeq;
    chat.savedSeq = snapshot.nextSeq - 1;
    for (const { seq, ciphertext } of snapshot.outbox)
      chat.outbox.push({ seq, ciphertext, sentAt: 0, settled: true, resolve: () => {}, reject: () => {} });
    return chat;
  }

  /** 2 under the ratchet (forward secrecy within the chat), 1 with fixed keys (a peer SDK without it). */
  get e2eVersion(): E2eVersion {
    return this.cipher.version;
  }

  /** The highest seq received from the peer (every one before it too). */
  get receivedSeq(): number {
    return this.lastReceived;
  }

  /** The highest seq of ours the peer acknowledged (every one before it too). */
  get ackedSeq(): number {
    return (this.outbox[0]?.seq ?? this.nextSeq) - 1;
  }

  get ended(): boolean {
    return this.endedWith !== undefined;
  }

  /** Messages sent and not yet acknowledged by the peer. */
  get unacked(): number {
    return this.outbox.length;
  }

  /** Encrypts and sends; resolves when the peer app acknowledged it end to end. */
  send(data: Uint8Array | string): Promise<void> {
    if (this.endedWith !== undefined) return Promise.reject(new ChatEndedError(this.id, this.endedWith));
    if (!this.link.reachable) return Promise.reject(new NodeUnreachableError(this.id, false));
    const plaintext = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const limit = this.link.maxCiphertextBytes - this.cipher.overheadBytes;
    if (plaintext.length > limit) {
      return Promise.reject(
        new RangeError(`message of ${plaintext.length} bytes exceeds the node's limit of ${limit}`),
      );
    }
    const seq = this.nextSeq++;
    const ciphertext = this.cipher.seal(seq, plaintext, this.link.clock.now());
    return new Promise((resolve, reject) => {
      this.outbox.push({ seq, ciphertext, sentAt: 0, settled: false, resolve, reject });
      this.link.save?.(this);
      this.pump();
    });
  }

  /** Incoming messages as an async iterator; ends when the chat ends. */
  async *messages(): AsyncGenerator<ReceivedMessage> {
    while (true) {
      const next = this.inbox.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.endedWith !== undefined) return;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  /** Asks the node to delete the chat on both sides. */
  delete(): void {
    if (this.endedWith === undefined) this.link.write({ $case: "deleteChat", value: { chatId: this.id } });
  }

  // ---- driven by the client

  /** Writes waiting messages while the window has room (and, with a store, once saved). */
  pump(): void {
    if (this.cancelRetry) return; // backing off after a refusal
    while (this.sentCount < this.outbox.length && this.sentCount < this.link.maxInFlight) {
      const out = this.outbox[this.sentCount]!;
      if (this.persistent && out.seq > this.savedSeq) return;
      if (
        !this.link.write({
          $case: "message",
          value: { chatId: this.id, seq: out.seq, ciphertext: out.ciphertext },
        })
      ) {
        return;
      }
      out.sentAt = this.link.clock.now();
      this.sentCount++;
    }
  }

  /** Everything after `ackedByPeer` goes again (after a reconnect or an ack timeout). */
  resend(ackedByPeer?: number): void {
    if (ackedByPeer !== undefined) this.acked(ackedByPeer);
    this.sentCount = 0;
    this.pump();
  }

  /**
   * The node refused message `seq` (rate limit, peer offline, out of order), and so every later
   * one: send again from there after `delayMs`. Earlier messages are still in flight.
   */
  refused(seq: number, delayMs: number): void {
    const index = this.outbox.findIndex((out) => out.seq >= seq);
    if (index >= 0 && index < this.sentCount) this.sentCount = index;
    if (this.cancelRetry) return;
    this.cancelRetry = this.link.clock.setTimeout(() => {
      this.cancelRetry = undefined;
      this.pump();
    }, delayMs);
  }

  /** Re-sends when the oldest unacked message has waited longer than `afterMs`. */
  checkTimeout(now: number, afterMs: number): void {
    const oldest = this.outbox[0];
    if (oldest && this.sentCount > 0 && now - oldest.sentAt > afterMs && !this.cancelRetry) this.resend();
  }

  acked(seq: number): void {
    let n = 0;
    while (n < this.outbox.length && this.outbox[n]!.seq <= seq) n++;
    if (n === 0) return;
    const done = this.outbox.splice(0, n);
    this.sentCount = Math.max(0, this.sentCount - n);
    for (const out of done) if (!out.settled) out.resolve();
    this.emit("acked", done[done.length - 1]!.seq);
    this.link.save?.(this);
    this.pump();
  }

  /**
   * No node has taken the app back for longer than the client's bound: every pending send()
   * rejects with NodeUnreachableError. The messages stay queued, in order: once a node carries
   * the chat again they go out, exactly once, and their acks come as `acked` events.
   */
  unreachable(): void {
    const error = new NodeUnreachableError(this.id, true);
    for (const out of this.outbox) {
      if (out.settled) continue;
      out.settled = true;
      out.reject(error);
    }
  }

  delivered(seq: number, ciphertext: Uint8Array): void {
    if (seq <= this.lastReceived) {
      // A retransmission of something we already have: ack again, surface nothing.
      // (Ack that seq, not the latest: after a node-side rewind the node may not have relayed the latest yet.)
      if (!this.persistent || seq <= this.savedReceived)
        this.link.write({ $case: "ack", value: { chatId: this.id, seq } });
      return;
    }
    // A gap, a copy of one held, or too many held: the sender will retransmit in order.
    if (this.broken || seq !== (this.held.at(-1)?.seq ?? this.lastReceived) + 1) return;
    if (this.held.length >= MAX_HELD) return;
    if (this.held.length > 0 || !this.open(seq, ciphertext)) this.held.push({ seq, ciphertext });
  }

  /** Opens what was held back, in order, until one is held back again or none is left. */
  private openHeld(): void {
    this.cancelHeld = undefined;
    while (this.held.length > 0 && this.endedWith === undefined) {
      const { seq, ciphertext } = this.held[0]!;
      if (!this.open(seq, ciphertext)) return;
      this.held.shift();
    }
  }

  /** Opens one delivery and carries out the verdict; false when it is held back (and a retry set). */
  private open(seq: number, ciphertext: Uint8Array): boolean {
    const verdict = this.cipher.open(seq, ciphertext, this.link.clock.now());
    switch (verdict.kind) {
      case "message":
        this.accept(seq, verdict.plaintext);
        return true;
      case "held":
        this.cancelHeld ??= this.link.clock.setTimeout(() => this.openHeld(), verdict.retryAfterMs);
        return false;
      default:
        // Dropped and not acknowledged; what was held after it is a gap now.
        this.held.length = 0;
        this.report(verdict.error);
        if (verdict.kind === "fatal") {
          this.broken = true;
          this.delete();
        }
        return true;
    }
  }

  private accept(seq: number, data: Uint8Array): void {
    this.lastReceived = seq;
    const message: ReceivedMessage = { seq, data, text: () => decoder.decode(data) };
    if (this.persistent) this.link.save?.(this);
    else this.scheduleAck();
    if (this.listenerCount("message") > 0) this.emit("message", message);
    else this.inbox.push(message);
    this.wake();
  }

  /**
   * With a store: the save holding everything sealed up to `sealedSeq` and received up to
   * `receivedSeq` is on disk, so those messages may go out and be acknowledged.
   */
  saved(sealedSeq: number, receivedSeq: number): void {
    this.savedSeq = Math.max(this.savedSeq, sealedSeq);
    if (receivedSeq > this.savedReceived) {
      this.savedReceived = receivedSeq;
      this.scheduleAck();
    }
    this.pump();
  }

  /** What a store keeps of the chat: the transcript, the marks, what is unacked, as sealed, and the keys. */
  snapshot(): ChatSnapshot {
    if (!this.transcript) throw new Error(`chat ${this.id} has no transcript to keep`);
    return {
      ready: this.transcript,
      role: this.role,
      nextSeq: this.nextSeq,
      receivedSeq: this.lastReceived,
      outbox: this.outbox.map(({ seq, ciphertext }) => ({ seq, ciphertext })),
      cipher: this.cipher.state(),
    };
  }

  /** Only with a listener: an unhandled 'error' would throw into the stream's handler, so one
   * forged delivery (the node is not trusted) could take the app down. */
  private report(error: RatchetError): void {
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }

  /**
   * Acks are cumulative, so the messages that arrive together (one read from the socket) are
   * acknowledged with one frame, sent once they have been handed to the app.
   */
  private scheduleAck(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      const seq = this.persistent ? this.savedReceived : this.lastReceived;
      if (this.endedWith === undefined && seq > 0)
        this.link.write({ $case: "ack", value: { chatId: this.id, seq } });
    });
  }

  /** The chat is over: fail what is unacked, zero the keys. */
  end(reason: approuter.ChatEndReason): void {
    if (this.endedWith !== undefined) return;
    this.endedWith = reason;
    this.cancelRetry?.();
    this.cancelRetry = undefined;
    this.cancelHeld?.();
    this.held.length = 0;
    const error = new ChatEndedError(this.id, reason);
    for (const out of this.outbox.splice(0)) if (!out.settled) out.reject(error);
    this.sentCount = 0;
    this.cipher.erase();
    this.emit("ended", reason);
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}

export function endReasonName(reason: approuter.ChatEndReason): string {
  return approuter.ChatEndReason[reason]?.replace("CHAT_END_REASON_", "").toLowerCase() ?? String(reason);
}
