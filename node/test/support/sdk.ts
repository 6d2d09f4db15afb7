import type { approuter } from "@hermes/proto";
import { Chat, type ChatLink } from "../../src/sdk/chat.js";
import { type ChatKeys, deriveChatKeys, newEphemeral, type Transcript } from "../../src/sdk/e2e.js";
import type { E2eConfig } from "../../src/sdk/ratchet/config.js";
import { FakeClock } from "../../src/utils/fake-clock.js";
import { newChatId } from "./frames.js";
import { ratchetPair } from "./ratchet.js";

export type AppBody = NonNullable<approuter.AppFrame["body"]>;

/**
 * A ChatLink that records what the chat writes; `up = false` makes writes fail like a broken
 * stream. Its clock drives the chat's retry timers.
 */
export class FakeLink implements ChatLink {
  readonly written: AppBody[] = [];
  up = true;
  reachable = true;
  private cursor = 0;

  constructor(
    public maxInFlight = 4,
    private readonly onWrite?: (body: AppBody) => void,
    public maxCiphertextBytes = 65_536,
    readonly clock: FakeClock = new FakeClock(),
  ) {}

  write(body: AppBody): boolean {
    if (!this.up) return false;
    this.written.push(body);
    this.onWrite?.(body);
    return true;
  }

  /** What was written since the last take(). */
  take(): AppBody[] {
    const fresh = this.written.slice(this.cursor);
    this.cursor = this.written.length;
    return fresh;
  }

  /** Seqs of the messages written since the last take(). */
  messageSeqs(): number[] {
    return this.take().flatMap((b) => (b.$case === "message" ? [b.value.seq] : []));
  }

  /** Seqs of the acks written since the last take(). */
  ackSeqs(): number[] {
    return this.take().flatMap((b) => (b.$case === "ack" ? [b.value.seq] : []));
  }
}

/** Matching key sets for both ends of a chat, derived from a real X25519 exchange. */
export function chatKeys(transcript: Partial<Transcript> = {}): {
  transcript: Transcript;
  initiator: ChatKeys;
  target: ChatKeys;
} {
  const i = newEphemeral();
  const t = newEphemeral();
  const full: Transcript = {
    chatId: newChatId(),
    initiatorAppId: "a".repeat(32),
    targetAppId: "b".repeat(32),
    initiatorEphemeralKey: i.publicKey,
    targetEphemeralKey: t.publicKey,
    ...transcript,
  };
  return {
    transcript: full,
    initiator: deriveChatKeys(full, "initiator", i.secretKey),
    target: deriveChatKeys(full, "target", t.secretKey),
  };
}

/** Lets the chats' coalesced acks (written on setImmediate) go out. */
export function flushAcks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Two SDK chats, each over its own FakeLink. */
export function chatPair(maxInFlight = 4) {
  const { transcript, initiator, target } = chatKeys();
  const links = { initiator: new FakeLink(maxInFlight), target: new FakeLink(maxInFlight) };
  const id = transcript.chatId;
  return {
    links,
    keys: { initiator, target },
    sender: new Chat(id, transcript.targetAppId, "initiator", initiator, links.initiator),
    receiver: new Chat(id, transcript.initiatorAppId, "target", target, links.target),
  };
}

/** The ciphertexts of the messages a link carried, by seq. */
export function ciphertexts(link: FakeLink): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (const b of link.written) if (b.$case === "message") out.set(b.value.seq, b.value.ciphertext);
  return out;
}

/** Two SDK chats under the ratchet (e2e v2), each over its own FakeLink and clock. */
export function ratchetChatPair(
  maxInFlight = 4,
  config: Partial<E2eConfig> = {},
  peerConfig: Partial<E2eConfig> = config,
) {
  const { transcript, a, b } = ratchetPair(config, peerConfig);
  const links = { initiator: new FakeLink(maxInFlight), target: new FakeLink(maxInFlight) };
  const id = transcript.chatId;
  return {
    links,
    sender: new Chat(id, transcript.targetAppId, "initiator", a.ratchet, links.initiator),
    receiver: new Chat(id, transcript.initiatorAppId, "target", b.ratchet, links.target),
  };
}
