import type { KeyBackend } from "../../keystore/backend.js";
import { FileKeyBackend, type KdfParams, KeystoreError } from "../../keystore/file-backend.js";
import { MemoryKeyBackend } from "../../keystore/memory-backend.js";
import { type ChatSnapshot, decodeChatState, encodeChatState } from "./chat-state.js";

const PREFIX = "chat/";

/**
 * Where an app keeps its chats, so that a restarted app resumes them (ClientOptions.store):
 * `ChatStore.open(path, passphrase)` is one file in the keystore format (Argon2id from the
 * passphrase, each entry sealed with XChaCha20-Poly1305, a MAC over the file, written
 * atomically: docs/keystore.md); `ChatStore.inMemory()` lasts as long as the process, for apps
 * that make a new client without restarting. The client writes each chat's current state
 * (chat-state.ts) before what it changed leaves the app, and erases it when the chat ends.
 */
export class ChatStore {
  /** A store over any KeyBackend (the two below, or the app's own). */
  constructor(private readonly backend: KeyBackend) {}

  /**
   * Opens the store at `path`, or creates it there. A string passphrase is encoded as UTF-8; a
   * byte passphrase stays the caller's (not zeroed here).
   */
  static async open(
    path: string,
    passphrase: string | Uint8Array,
    options: { kdf?: KdfParams } = {},
  ): Promise<ChatStore> {
    const bytes = typeof passphrase === "string" ? new TextEncoder().encode(passphrase) : passphrase;
    try {
      return new ChatStore(await FileKeyBackend.open(path, bytes));
    } catch (error) {
      if (!(error instanceof KeystoreError && error.code === "not_found")) throw error;
      return new ChatStore(await FileKeyBackend.create(path, bytes, options.kdf));
    } finally {
      if (bytes !== passphrase) bytes.fill(0);
    }
  }

  static inMemory(): ChatStore {
    return new ChatStore(new MemoryKeyBackend());
  }

  /** The chats kept, and what could not be read (those entries stay as they are). */
  load(): { chats: ChatSnapshot[]; problems: Error[] } {
    const chats: ChatSnapshot[] = [];
    const problems: Error[] = [];
    for (const name of this.backend.list(PREFIX)) {
      const bytes = this.backend.get(name);
      if (!bytes) continue;
      try {
        chats.push(decodeChatState(bytes));
      } catch (error) {
        problems.push(new Error(`chat store entry ${name}: ${(error as Error).message}`, { cause: error }));
      } finally {
        bytes.fill(0);
      }
    }
    return { chats, problems };
  }

  /** Replaces what is kept of the chat; on disk at the next flush(). */
  put(snapshot: ChatSnapshot): void {
    const bytes = encodeChatState(snapshot);
    try {
      this.backend.put(PREFIX + snapshot.ready.chatId, bytes);
    } finally {
      bytes.fill(0);
    }
  }

  delete(chatId: string): void {
    this.backend.delete(PREFIX + chatId);
  }

  /** The chat ids kept. */
  list(): string[] {
    return this.backend.list(PREFIX).map((name) => name.slice(PREFIX.length));
  }

  /** Writes what changed, atomically. */
  flush(): Promise<void> {
    return this.backend.flush();
  }

  /** Flushes, then zeroes everything held in memory; the store is unusable afterwards. */
  close(): Promise<void> {
    return this.backend.close();
  }
}
