import type { approuter } from "@hermes/proto";
import { type Chat, type PendingChat, participants, type ReadyChat } from "./chat.js";

/** A chat that ended: when, and what each participant was (or would have been) told. */
export interface EndedChat {
  at: number;
  reasons: Map<string, approuter.ChatEndReason>;
}

/**
 * Every chat this node carries, by id and by participant, and the ids of chats that ended
 * recently (a signed StartChat could still be replayed for them). It holds state and sends
 * nothing: the router and the tieline handler decide, this table only remembers.
 */
export class ChatTable {
  private readonly chats = new Map<string, Chat>();
  /** Chat IDs per participant app, pending and ready. */
  private readonly byApp = new Map<string, Set<string>>();
  /** Chats that ended recently, by id. */
  private readonly ended = new Map<string, EndedChat>();
  private pendingCount = 0;
  private readyCount = 0;

  get(chatId: string): Chat | undefined {
    return this.chats.get(chatId);
  }

  has(chatId: string): boolean {
    return this.chats.has(chatId);
  }

  /** True for a chat id that ended within the replay window. */
  endedRecently(chatId: string): boolean {
    return this.ended.has(chatId);
  }

  /** How a recently ended chat ended. */
  endOf(chatId: string): EndedChat | undefined {
    return this.ended.get(chatId);
  }

  add(chat: Chat): void {
    this.chats.set(chat.id, chat);
    for (const appId of participants(chat)) {
      const set = this.byApp.get(appId) ?? new Set<string>();
      this.byApp.set(appId, set);
      set.add(chat.id);
    }
    if (chat.state === "pending") this.pendingCount++;
    else this.readyCount++;
  }

  /** Replaces a pending chat by its ready successor (same id, same participants). */
  promote(pending: PendingChat, ready: ReadyChat): void {
    if (this.chats.get(pending.id) !== pending) throw new Error(`chat ${pending.id} is not pending here`);
    this.chats.set(ready.id, ready);
    this.pendingCount--;
    this.readyCount++;
  }

  /** Removes a chat and remembers how it ended; the chat removed, or undefined when it was not here. */
  remove(
    chatId: string,
    now: number,
    reasons = new Map<string, approuter.ChatEndReason>(),
  ): Chat | undefined {
    const chat = this.drop(chatId);
    if (chat) this.ended.set(chatId, { at: now, reasons });
    return chat;
  }

  /** Removes a chat that goes on elsewhere: it did not end, so nothing is remembered of it. */
  drop(chatId: string): Chat | undefined {
    const chat = this.chats.get(chatId);
    if (!chat) return undefined;
    this.chats.delete(chatId);
    for (const appId of participants(chat)) {
      const set = this.byApp.get(appId);
      set?.delete(chat.id);
      if (set?.size === 0) this.byApp.delete(appId);
    }
    if (chat.state === "pending") this.pendingCount--;
    else this.readyCount--;
    return chat;
  }

  *all(): Iterable<Chat> {
    yield* this.chats.values();
  }

  *of(appId: string): Iterable<Chat> {
    for (const chatId of this.byApp.get(appId) ?? []) {
      const chat = this.chats.get(chatId);
      if (chat) yield chat;
    }
  }

  /** Offers waiting for `appId`'s answer. */
  pendingOffersTo(appId: string): number {
    let n = 0;
    for (const chat of this.of(appId)) if (chat.state === "pending" && chat.offer.targetAppId === appId) n++;
    return n;
  }

  /** Chats that count against an app's limit: ready ones and offers it made (not offers it received). */
  countedFor(appId: string): number {
    let n = 0;
    for (const chat of this.of(appId)) if (chat.state === "ready" || chat.offer.initiatorAppId === appId) n++;
    return n;
  }

  /** Forgets ended ids older than `windowMs`: their signed offers are stale by now. */
  forgetEnded(now: number, windowMs: number): void {
    for (const [chatId, { at }] of this.ended) if (now - at > windowMs) this.ended.delete(chatId);
  }

  get counts(): { pending: number; ready: number } {
    return { pending: this.pendingCount, ready: this.readyCount };
  }
}
