import type { approuter } from "@hermes/proto";
import { offerOf, type SignedOffer } from "../protocol/index.js";

/** One sender's side of a chat, as this node sees it. */
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

/**
 * Where the chat's participants are carried. "local": both by this node (each may be away for
 * a while). "remote": `app` by another node, `node`, whose tieline carries its frames and which
 * holds the mirror of this chat. `node` is empty while this node does not know where `app` went
 * (its node died and it has not resumed anywhere known yet), and `reachable` is false while that
 * node is lost; the chat waits for the app to resume, it does not end.
 *
 * Another node moves a participant away from here only on a resume that app signed later than
 * the one that bound it where it is: `boundAtMs` for the remote app (0 when the chat started
 * there), `resumedAtMs` per app for a local chat (absent: since the start).
 */
export type ChatRoute =
  | { kind: "local"; resumedAtMs: Record<string, number> }
  | { kind: "remote"; app: string; node: string; reachable: boolean; boundAtMs: number };

export type RemoteRoute = Extract<ChatRoute, { kind: "remote" }>;

export function localRoute(resumedAtMs: Record<string, number> = {}): ChatRoute {
  return { kind: "local", resumedAtMs };
}

/** When `appId` signed the resume that bound it where this node last saw it (0: from the start). */
export function boundAt(route: ChatRoute, appId: string): number {
  if (route.kind === "local") return route.resumedAtMs[appId] ?? 0;
  return route.app === appId ? route.boundAtMs : 0;
}

export function remoteRoute(app: string, node: string, boundAtMs = 0): RemoteRoute {
  return { kind: "remote", app, node, reachable: node !== "", boundAtMs };
}

interface ChatBase {
  id: string;
  offer: SignedOffer;
  createdAt: number;
  lastActivity: number;
  route: ChatRoute;
}

/** Offered, waiting for the target's answer. */
export interface PendingChat extends ChatBase {
  state: "pending";
}

/** Accepted: both sides hold keys, messages flow. */
export interface ReadyChat extends ChatBase {
  state: "ready";
  ready: approuter.ChatReady;
  fromInitiator: Direction;
  fromTarget: Direction;
  /**
   * The latest signed resume of the participant this node carries in a cross-node chat: shown
   * to the other participant's node when that one is new (the peer failed over). Memory only.
   */
  proof?: approuter.ChatResume;
}

export type Chat = PendingChat | ReadyChat;

export function newDirection(acked = 0): Direction {
  return { forwarded: acked, acked, sentAt: new Map() };
}

/**
 * A ready chat rebuilt from its signed transcript and one participant's own marks (its
 * resume): `appId` received up to `delivered`, and its peer acked its messages up to
 * `ackedByPeer`. For a chat this node takes over from another.
 */
export function chatFromTranscript(
  ready: approuter.ChatReady,
  marks: { appId: string; delivered: number; ackedByPeer: number },
  route: ChatRoute,
  now: number,
): ReadyChat {
  const own = newDirection(marks.ackedByPeer);
  const peers = newDirection(marks.delivered);
  const isInitiator = ready.initiatorAppId === marks.appId;
  return {
    id: ready.chatId,
    state: "ready",
    offer: offerOf(ready),
    ready,
    createdAt: now,
    lastActivity: now,
    route,
    fromInitiator: isInitiator ? own : peers,
    fromTarget: isInitiator ? peers : own,
  };
}

/** The direction `senderId` sends in; `senderId` must be a participant. */
export function directionFrom(chat: ReadyChat, senderId: string): Direction {
  return senderId === chat.offer.initiatorAppId ? chat.fromInitiator : chat.fromTarget;
}

export function peerOf(chat: Chat, appId: string): string {
  return chat.offer.initiatorAppId === appId ? chat.offer.targetAppId : chat.offer.initiatorAppId;
}

export function isParticipant(chat: Chat, appId: string): boolean {
  return chat.offer.initiatorAppId === appId || chat.offer.targetAppId === appId;
}

export function participants(chat: Chat): [string, string] {
  return [chat.offer.initiatorAppId, chat.offer.targetAppId];
}

/** The participant on another node, if the chat crosses nodes. */
export function remoteApp(chat: Chat): string | undefined {
  return chat.route.kind === "remote" ? chat.route.app : undefined;
}

/** The participant on this node of a cross-node chat. */
export function localApp(chat: Chat & { route: { kind: "remote" } }): string {
  return peerOf(chat, chat.route.app);
}

/**
 * A chat restored after a crash may have an older ack mark than the sender saw (records are
 * written behind). An app that states its marks when it connects settles that (settleTo,
 * raiseAcked); one that does not (an older SDK) resumes sending from its first unacked seq,
 * which only the sender itself can know: its first message moves the marks up to it instead
 * of being refused forever as out of order. Never applied to relayed frames: a relay's seq
 * says what the far node sent, not what the receiver has.
 */
export function resyncAfterRestore(dir: Direction, seq: number): void {
  if (!dir.restored) return;
  dir.restored = false;
  if (seq > dir.forwarded + 1) dir.acked = dir.forwarded = seq - 1;
}

/**
 * The receiver of `dir` has everything up to `delivered` (its own statement, or its node's
 * report of its acks): the ack mark moves up to it, and relaying starts again right after the
 * ack mark, since what went beyond may have been lost on the way. Marks never move back.
 */
export function settleTo(dir: Direction, delivered: number): { ackedMoved: boolean; rewound: boolean } {
  const ackedMoved = delivered > dir.acked;
  if (ackedMoved) dir.acked = delivered;
  const rewound = dir.forwarded > dir.acked;
  dir.forwarded = dir.acked;
  dir.sentAt.clear();
  dir.restored = false;
  return { ackedMoved, rewound };
}

/**
 * The receiver acknowledged up to `acked`, as the sender or the receiver's node reports it
 * (both saw the receiver's own acks): the ack mark moves up, beyond what this node relayed if
 * need be (frames that went another way). False when it adds nothing.
 */
export function raiseAcked(
  dir: Direction,
  acked: number,
  now: number,
  observe: (seconds: number) => void,
): boolean {
  if (acked <= dir.acked) return false;
  for (const [seq, at] of dir.sentAt) {
    if (seq > acked) continue;
    observe((now - at) / 1000);
    dir.sentAt.delete(seq);
  }
  dir.acked = acked;
  dir.forwarded = Math.max(dir.forwarded, acked);
  dir.restored = false;
  return true;
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
  for (const [s, at] of dir.sentAt) {
    if (s > seq) continue;
    observe((now - at) / 1000);
    dir.sentAt.delete(s);
  }
  dir.acked = seq;
  return true;
}

/** A receiver's session went away: what it had not acked must be sent again. */
export function rewind(dir: Direction): void {
  dir.forwarded = dir.acked;
  dir.sentAt.clear();
}

/** The sender must send again from `back + 1` (the far side expects it): forget what was relayed beyond. */
export function rewindTo(dir: Direction, back: number): void {
  if (back < dir.acked || back >= dir.forwarded) return;
  dir.forwarded = back;
  for (const seq of dir.sentAt.keys()) if (seq > back) dir.sentAt.delete(seq);
}
