import { EventEmitter } from "node:events";
import { approuter } from "@hermes/proto";
import type { Clock } from "../utils/clock.js";
import { type ChatKeys, open, seal } from "./e2e.js";
import { ChatEndedError, NodeUnreachableError } from "./errors.js";

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
}

const decoder = new TextDecoder();

/**
 * One end-to-end encrypted chat. send() resolves once the peer app has acknowledged the
 * message; up to maxInFlight messages travel at once. Unacked messages are kept and sent again
 * after a reconnect or a refusal, and the receiving side drops duplicates, so the peer sees
 * every message once and in order.
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
  endedWith: approuter.ChatEndReason | undefined;

  constructor(
    readonly id: string,
    readonly peerAppId: string,
    readonly role: "initiator" | "target",
    private readonly keys: ChatKeys,
    private readonly link: ChatLink,
    /** The signed transcript: what a node needs to carry the chat on (Connect.resume). */
    readonly transcript?: approuter.ChatReady,
  ) {
    super();
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
    const seq = this.nextSeq;
    const ciphertext = seal(this.keys.send, this.id, seq, plaintext);
    if (ciphertext.length > this.link.maxCiphertextBytes) {
      return Promise.reject(
        new RangeError(
          `message of ${plaintext.length} bytes exceeds the node's limit of ${this.link.maxCiphertextBytes - 16}`,
        ),
      );
    }
    this.nextSeq++;
    return new Promise((resolve, reject) => {
      this.outbox.push({ seq, ciphertext, sentAt: 0, settled: false, resolve, reject });
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

  /** Writes waiting messages while the window has room. */
  pump(): void {
    if (this.cancelRetry) return; // backing off after a refusal
    while (this.sentCount < this.outbox.length && this.sentCount < this.link.maxInFlight) {
      const out = this.outbox[this.sentCount]!;
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
      this.link.write({ $case: "ack", value: { chatId: this.id, seq } });
      return;
    }
    if (seq !== this.lastReceived + 1) return; // a gap: the sender will retransmit in order
    let data: Uint8Array;
    try {
      data = open(this.keys.receive, this.id, seq, ciphertext);
    } catch {
      // Only with a listener: an unhandled 'error' would throw into the stream's handler, so one
      // forged delivery (the node is not trusted) could take the app down.
      const error = new Error(`message ${seq} of chat ${this.id} failed authentication; dropped`);
      if (this.listenerCount("error") > 0) this.emit("error", error);
      return;
    }
    this.lastReceived = seq;
    const message: ReceivedMessage = { seq, data, text: () => decoder.decode(data) };
    this.scheduleAck();
    if (this.listenerCount("message") > 0) this.emit("message", message);
    else this.inbox.push(message);
    this.wake();
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
      if (this.endedWith === undefined)
        this.link.write({ $case: "ack", value: { chatId: this.id, seq: this.lastReceived } });
    });
  }

  /** The chat is over: fail what is unacked, zero the keys. */
  end(reason: approuter.ChatEndReason): void {
    if (this.endedWith !== undefined) return;
    this.endedWith = reason;
    this.cancelRetry?.();
    this.cancelRetry = undefined;
    const error = new ChatEndedError(this.id, reason);
    for (const out of this.outbox.splice(0)) if (!out.settled) out.reject(error);
    this.sentCount = 0;
    this.keys.send.fill(0);
    this.keys.receive.fill(0);
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
