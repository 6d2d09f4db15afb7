import { TAG_BYTES, type X25519KeyPair } from "../crypto/backend.js";
import type { ChatCipher, CipherState, OpenVerdict } from "./chat-cipher.js";
import { agreedVersion, type ChatKeys, deriveChatKeys, open, seal, type Transcript } from "./e2e.js";
import { RatchetError } from "./errors.js";
import type { E2eConfig } from "./ratchet/config.js";
import { Ratchet } from "./ratchet/ratchet.js";
import { initialState } from "./ratchet/state.js";

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
