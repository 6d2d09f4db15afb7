import type { approuter } from "@hermes/proto";

/** One sender's side of a chat, as the node sees it. */
export interface Direction {
  /** Highest seq relayed towards the receiver (messages beyond `acked` may still be lost). */
  forwarded: number;
  /** Highest seq the receiving app acknowledged end to end. */
  acked: number;
  /** When each un-acked seq was relayed, for the ack-latency histogram. */
  sentAt: Map<number, number>;
  /** Loaded from the keystore and not yet confirmed by the sender (see resyncAfterRestore). */
  restored?: boolean;
}

export interface Offer {
  chatId: string;
  initiatorAppId: string;
  initiatorPublicKey: Uint8Array;
  ephemeralKey: Uint8Array;
  timestampMs: number;
  signature: Uint8Array;
  targetAppId: string;
}

export interface Chat {
  id: string;
  state: "pending" | "ready";
  offer: Offer;
  /** Set once the target accepted. */
  ready?: approuter.ChatReady;
  createdAt: number;
  lastActivity: number;
  /** Keyed by sender app ID. */
  directions: Map<string, Direction>;
  /** Cross-node chats: the participant connected to another node, and that node. */
  remoteApp?: string;
  remoteNode?: string;
}

export function newDirection(acked = 0): Direction {
  return { forwarded: acked, acked, sentAt: new Map() };
}

/**
 * A chat restored after a crash may have an older ack mark than the sender saw (records are
 * written behind). The sender resumes from its first unacked seq; the first message after the
 * restore moves the marks up to it instead of being refused forever as out of order.
 */
export function resyncAfterRestore(dir: Direction, seq: number): void {
  if (!dir.restored) return;
  dir.restored = false;
  if (seq > dir.forwarded + 1) dir.acked = dir.forwarded = seq - 1;
}

export function peerOf(chat: Chat, appId: string): string {
  return chat.offer.initiatorAppId === appId ? chat.offer.targetAppId : chat.offer.initiatorAppId;
}

export function isParticipant(chat: Chat, appId: string): boolean {
  return chat.offer.initiatorAppId === appId || chat.offer.targetAppId === appId;
}

/** What the node does with an incoming message, by its seq against the sender's direction. */
export type SeqVerdict =
  | { kind: "forward" }
  | { kind: "reack"; seq: number }
  | { kind: "in_flight" }
  | { kind: "out_of_order"; expected: number };

export function judgeSeq(dir: Direction, seq: number): SeqVerdict {
  if (seq === dir.forwarded + 1) return { kind: "forward" };
  if (seq >= 1 && seq <= dir.acked) return { kind: "reack", seq: dir.acked };
  if (seq > dir.acked && seq <= dir.forwarded) return { kind: "in_flight" };
  return { kind: "out_of_order", expected: dir.forwarded + 1 };
}

/** Acks are cumulative: `seq` acknowledges every message up to it. Returns false if it adds nothing. */
export function applyAck(
  dir: Direction,
  seq: number,
  now: number,
  observe: (seconds: number) => void,
): boolean {
  if (seq <= dir.acked || seq > dir.forwarded) return false;
  for (let s = dir.acked + 1; s <= seq; s++) {
    const at = dir.sentAt.get(s);
    if (at !== undefined) {
      observe((now - at) / 1000);
      dir.sentAt.delete(s);
    }
  }
  dir.acked = seq;
  return true;
}

/** A receiver's session went away: what it had not acked must be sent again. */
export function rewind(dir: Direction): void {
  dir.forwarded = dir.acked;
  dir.sentAt.clear();
}

// ---- persistence: what a node keeps of a ready chat so it survives a restart.

interface ChatRecordJson {
  v: 1;
  ready: Record<string, string | number>;
  acked: Record<string, number>;
  lastActivity: number;
  createdAt: number;
  remote?: { app: string; node: string };
}

const BYTES_FIELDS = [
  "initiatorPublicKey",
  "initiatorEphemeralKey",
  "offerSignature",
  "targetPublicKey",
  "targetEphemeralKey",
  "acceptSignature",
] as const;

export function encodeChatRecord(chat: Chat): Uint8Array {
  if (!chat.ready) throw new Error(`chat ${chat.id} is not ready`);
  const ready: Record<string, string | number> = {
    ...(chat.ready as unknown as Record<string, string | number>),
  };
  for (const field of BYTES_FIELDS) ready[field] = Buffer.from(chat.ready[field]).toString("base64");
  const acked: Record<string, number> = {};
  for (const [appId, dir] of chat.directions) acked[appId] = dir.acked;
  const json: ChatRecordJson = {
    v: 1,
    ready,
    acked,
    lastActivity: chat.lastActivity,
    createdAt: chat.createdAt,
  };
  if (chat.remoteApp && chat.remoteNode) json.remote = { app: chat.remoteApp, node: chat.remoteNode };
  return new TextEncoder().encode(JSON.stringify(json));
}

export function decodeChatRecord(bytes: Uint8Array): Chat {
  const json = JSON.parse(new TextDecoder().decode(bytes)) as ChatRecordJson;
  if (json.v !== 1) throw new Error(`unsupported chat record version ${String(json.v)}`);
  const raw = json.ready;
  const bytesOf = (field: (typeof BYTES_FIELDS)[number]) =>
    new Uint8Array(Buffer.from(String(raw[field]), "base64"));
  const ready: approuter.ChatReady = {
    chatId: String(raw.chatId),
    initiatorAppId: String(raw.initiatorAppId),
    initiatorPublicKey: bytesOf("initiatorPublicKey"),
    initiatorEphemeralKey: bytesOf("initiatorEphemeralKey"),
    offerTimestampMs: Number(raw.offerTimestampMs),
    offerSignature: bytesOf("offerSignature"),
    targetAppId: String(raw.targetAppId),
    targetPublicKey: bytesOf("targetPublicKey"),
    targetEphemeralKey: bytesOf("targetEphemeralKey"),
    acceptTimestampMs: Number(raw.acceptTimestampMs),
    acceptSignature: bytesOf("acceptSignature"),
  };
  const directions = new Map<string, Direction>();
  for (const appId of [ready.initiatorAppId, ready.targetAppId]) {
    directions.set(appId, { ...newDirection(json.acked[appId] ?? 0), restored: true });
  }
  return {
    id: ready.chatId,
    state: "ready",
    offer: {
      chatId: ready.chatId,
      initiatorAppId: ready.initiatorAppId,
      initiatorPublicKey: ready.initiatorPublicKey,
      ephemeralKey: ready.initiatorEphemeralKey,
      timestampMs: ready.offerTimestampMs,
      signature: ready.offerSignature,
      targetAppId: ready.targetAppId,
    },
    ready,
    createdAt: json.createdAt,
    lastActivity: json.lastActivity,
    directions,
    ...(json.remote ? { remoteApp: json.remote.app, remoteNode: json.remote.node } : {}),
  };
}
