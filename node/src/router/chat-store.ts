import type { KeyBackend } from "../keystore/backend.js";
import type { ReadyChat } from "./chat.js";
import { decodeChatRecord, encodeChatRecord } from "./chat-record.js";

const PREFIX = "chat/";

/**
 * Write-behind persistence of chat records in the keystore. The message path only marks a
 * chat dirty; a periodic flush seals the dirty records and writes the keystore once.
 */
export class ChatStore {
  private readonly dirty = new Map<string, ReadyChat>();
  private erased = false;

  constructor(private readonly backend: KeyBackend) {}

  /** Every stored chat. A record that does not decode is reported and skipped, never fatal. */
  load(onBad: (name: string, error: unknown) => void): ReadyChat[] {
    const chats: ReadyChat[] = [];
    for (const name of this.backend.list(PREFIX)) {
      const bytes = this.backend.get(name);
      if (!bytes) continue;
      try {
        chats.push(decodeChatRecord(bytes));
      } catch (error) {
        onBad(name, error);
      } finally {
        bytes.fill(0);
      }
    }
    return chats;
  }

  save(chat: ReadyChat): void {
    this.dirty.set(chat.id, chat);
  }

  erase(chatId: string): void {
    this.dirty.delete(chatId);
    if (this.backend.delete(PREFIX + chatId)) this.erased = true;
  }

  get pending(): boolean {
    return this.dirty.size > 0 || this.erased || this.backend.dirty;
  }

  async flush(): Promise<void> {
    for (const chat of this.dirty.values()) {
      const record = encodeChatRecord(chat);
      this.backend.put(PREFIX + chat.id, record);
      record.fill(0);
    }
    this.dirty.clear();
    this.erased = false;
    await this.backend.flush();
  }

  get size(): number {
    return this.backend.list(PREFIX).length;
  }
}
