import { randomBytes } from "node:crypto";
import { approuter, type nodemesh } from "@hermes/proto";
import type { Logger } from "pino";
import type { NodeConfig } from "../config/types.js";
import {
  CHAT_ID_PATTERN,
  deriveId,
  ID_PATTERN,
  type Identity,
  idMatchesKey,
  verify,
} from "../identity/index.js";
import type { Metrics } from "../telemetry/metrics.js";
import {
  applyAck,
  type Chat,
  type Direction,
  isParticipant,
  judgeSeq,
  newDirection,
  type Offer,
  peerOf,
  resyncAfterRestore,
  rewind,
} from "./chat.js";
import type { ChatStore } from "./chat-store.js";
import type { Clock } from "./clock.js";
import { type AppLocator, localOnly, type MeshLink } from "./locator.js";
import { type AppBudgets, Session, type SessionSink } from "./session.js";

const { ErrorCode, ChatEndReason, SessionCloseReason } = approuter;
type AppFrame = approuter.AppFrame;
type NodeFrame = approuter.NodeFrame;
type Body = NonNullable<NodeFrame["body"]>;

export const PROTOCOL_VERSION = 1;

/** A frame as it comes off the wire: decoded, or the reason it could not be. */
export type InboundFrame = AppFrame | { malformed: string };

/** Codes that mean the app misbehaves (as opposed to ordinary flow control); they spend its bad-frame budget. */
const ABUSIVE = new Set<approuter.ErrorCode>([
  ErrorCode.ERROR_CODE_MALFORMED_FRAME,
  ErrorCode.ERROR_CODE_FRAME_TOO_LARGE,
  ErrorCode.ERROR_CODE_NOT_CONNECTED,
  ErrorCode.ERROR_CODE_AUTH_FAILED,
  ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
  ErrorCode.ERROR_CODE_NOT_PARTICIPANT,
  ErrorCode.ERROR_CODE_REPLAYED,
]);

/** At most this many relayed-but-unacked messages per direction are timed for the latency histogram. */
const MAX_TIMED = 4096;

export interface RouterOptions {
  identity: Identity;
  limits: NodeConfig["limits"];
  timeouts: NodeConfig["timeouts"];
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  store: ChatStore;
  /** The mesh, for chats with apps on other nodes; without it the node is alone. */
  mesh?: MeshLink;
}

interface ErrorDetail {
  correlationId?: string;
  chatId?: string;
  expectedSeq?: number;
  retryAfterMs?: number;
  seq?: number;
}

/**
 * The AppRouter state machine: sessions, chats, ordering and acks. It does no I/O of its own:
 * frames come in through receive(), go out through each session's sink, and time comes from
 * the injected clock, so tests drive it directly.
 */
export class Router {
  private readonly sessions = new Set<Session>();
  private readonly byApp = new Map<string, Session>();
  private readonly chats = new Map<string, Chat>();
  /** Chat IDs per participant app, pending and ready. */
  private readonly appChats = new Map<string, Set<string>>();
  /** Ended chat IDs, remembered while their signed StartChat could still be replayed. */
  private readonly ended = new Map<string, number>();
  /**
   * Budgets of apps that went away, kept until they would have refilled anyway, so that
   * disconnecting and connecting again does not reset an app's rate limits.
   */
  private readonly leftBudgets = new Map<string, { budgets: AppBudgets; at: number }>();
  private readonly locator: AppLocator;
  private pendingCount = 0;
  private readyCount = 0;
  private accepting = true;
  /** Metric children for the per-message path, bound once (label lookups cost per call). */
  private readonly hot;

  constructor(private readonly o: RouterOptions) {
    this.locator = o.mesh ?? localOnly;
    this.hot = {
      relayed: o.metrics.messagesRelayed.labels({ scope: "local" }),
      bytes: o.metrics.bytesRelayed.labels({ scope: "local" }),
      acks: o.metrics.acksRelayed.labels({ scope: "local" }),
      meshRelayed: o.metrics.messagesRelayed.labels({ scope: "mesh" }),
      meshBytes: o.metrics.bytesRelayed.labels({ scope: "mesh" }),
      meshAcks: o.metrics.acksRelayed.labels({ scope: "mesh" }),
    };
  }

  get nodeId(): string {
    return this.o.identity.id;
  }

  /** Restores the chats persisted by a previous run. */
  restore(): number {
    const chats = this.o.store.load((name, error) =>
      this.o.logger.warn({ entry: name, err: String(error) }, "skipping unreadable chat record"),
    );
    for (const chat of chats) this.addChat(chat);
    return chats.length;
  }

  stats(): { sessions: number; chats: { pending: number; ready: number } } {
    return { sessions: this.byApp.size, chats: { pending: this.pendingCount, ready: this.readyCount } };
  }

  // ------------------------------------------------------------------ session lifecycle

  open(sink: SessionSink): Session {
    const now = this.o.clock.now();
    const session = new Session(randomBytes(16).toString("hex"), randomBytes(32), sink, this.o.limits, now);
    this.sessions.add(session);
    if (!this.accepting) {
      this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_SHUTDOWN, "node is shutting down");
      return session;
    }
    this.send(session, {
      $case: "challenge",
      value: {
        nonce: session.nonce,
        nodeId: this.nodeId,
        nodePublicKey: this.o.identity.publicKey,
        protocolVersion: PROTOCOL_VERSION,
      },
    });
    return session;
  }

  /** The stream ended or broke. Chats stay; what the app had not acked will be sent again. */
  disconnected(session: Session): void {
    this.sessions.delete(session);
    if (session.state === "closed") return;
    this.detach(session);
    session.state = "closed";
  }

  receive(session: Session, frame: InboundFrame): void {
    if (session.state === "closed") return;
    session.lastSeen = this.o.clock.now();
    if ("malformed" in frame) {
      this.fail(session, ErrorCode.ERROR_CODE_MALFORMED_FRAME, `not an AppFrame: ${frame.malformed}`);
      return;
    }
    const cid = frame.correlationId;
    const body = frame.body;
    if (!body) {
      this.fail(session, ErrorCode.ERROR_CODE_MALFORMED_FRAME, "frame has no body", { correlationId: cid });
      return;
    }
    if (body.$case === "connect") return this.connect(session, body.value, cid);
    if (session.state !== "connected") {
      this.fail(session, ErrorCode.ERROR_CODE_NOT_CONNECTED, `${body.$case} before connect`, {
        correlationId: cid,
      });
      return;
    }
    switch (body.$case) {
      case "message":
        return this.message(session, body.value, cid);
      case "ack":
        return this.ack(session, body.value, cid);
      case "startChat":
        return this.startChat(session, body.value, cid);
      case "acceptChat":
        return this.acceptChat(session, body.value, cid);
      case "rejectChat":
        return this.rejectChat(session, body.value, cid);
      case "deleteChat":
        return this.deleteChat(session, body.value, cid);
      case "findApp":
        return this.findApp(session, body.value, cid);
      case "heartbeat":
        return this.send(session, { $case: "heartbeat", value: { timestampMs: this.o.clock.now() } }, cid);
    }
  }

  private connect(session: Session, c: approuter.Connect, cid: string): void {
    if (session.state === "connected") {
      this.fail(session, ErrorCode.ERROR_CODE_ALREADY_CONNECTED, "this stream is already connected", {
        correlationId: cid,
      });
      return;
    }
    const problem = this.checkConnect(session, c);
    if (problem) {
      this.o.metrics.connects.inc({ result: "auth_failed" });
      this.fail(session, ErrorCode.ERROR_CODE_AUTH_FAILED, problem, { correlationId: cid });
      this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_PROTOCOL, "authentication failed");
      return;
    }
    const appId = deriveId(c.publicKey);
    const previous = this.byApp.get(appId);
    if (!previous && this.byApp.size >= this.o.limits.maxSessions) {
      this.o.metrics.connects.inc({ result: "refused" });
      this.o.metrics.limitRefusals.inc({ limit: "max_sessions" });
      this.fail(
        session,
        ErrorCode.ERROR_CODE_RATE_LIMITED,
        `node is at its limit of ${this.o.limits.maxSessions} sessions`,
        {
          correlationId: cid,
          retryAfterMs: 5000,
        },
      );
      this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_SHUTDOWN, "node at capacity");
      return;
    }
    const left = this.leftBudgets.get(appId);
    if (left) session.budgets = left.budgets;
    if (previous) {
      session.budgets = previous.budgets;
      this.close(
        previous,
        SessionCloseReason.SESSION_CLOSE_REASON_REPLACED,
        `replaced by session ${session.id}`,
      );
    }
    this.leftBudgets.delete(appId);
    session.state = "connected";
    session.appId = appId;
    session.publicKey = Uint8Array.from(c.publicKey);
    this.byApp.set(appId, session);
    this.o.mesh?.appConnected(appId, this.o.clock.now());
    this.o.metrics.sessions.set(this.byApp.size);
    this.o.metrics.connects.inc({ result: previous ? "replaced" : "ok" });
    this.o.logger.info({ app: appId, session: session.id, replaced: Boolean(previous) }, "app connected");

    const chats: approuter.ChatState[] = [];
    const offers: Chat[] = [];
    for (const chat of this.chatsOf(appId)) {
      if (chat.ready) {
        chats.push({
          ready: chat.ready,
          ackedByPeer: chat.directions.get(appId)?.acked ?? 0,
          deliveredToMe: chat.directions.get(peerOf(chat, appId))?.acked ?? 0,
        });
      } else if (chat.offer.targetAppId === appId) {
        offers.push(chat);
      }
    }
    const { limits, timeouts } = this.o;
    this.send(
      session,
      {
        $case: "connectAck",
        value: {
          sessionId: session.id,
          appId,
          nodeId: this.nodeId,
          nodePublicKey: this.o.identity.publicKey,
          heartbeatIntervalMs: timeouts.heartbeatIntervalMs,
          limits: {
            maxFrameBytes: limits.maxFrameBytes,
            maxCiphertextBytes: limits.maxCiphertextBytes,
            messagesPerSecond: limits.messagesPerSecond,
            chatStartsPerMinute: limits.chatStartsPerMinute,
            maxChats: limits.maxChatsPerApp,
            sessionIdleMs: timeouts.sessionIdleMs,
            chatIdleMs: timeouts.chatIdleMs,
          },
          endpoints: this.locator.endpoints().map((l) => ({ nodeId: l.nodeId, appEndpoint: l.appEndpoint })),
          chats,
          replacedSession: Boolean(previous),
        },
      },
      cid,
    );
    for (const chat of offers) this.send(session, { $case: "chatOffer", value: offerFrame(chat.offer) });
  }

  private checkConnect(session: Session, c: approuter.Connect): string | undefined {
    if (c.publicKey.length !== 32) return `public_key must be 32 bytes, got ${c.publicKey.length}`;
    if (!Buffer.from(c.nonce).equals(Buffer.from(session.nonce)))
      return "nonce does not match this stream's challenge";
    const skew = this.skewProblem(c.timestampMs);
    if (skew) return skew;
    const appId = deriveId(c.publicKey);
    const fields = [this.nodeId, appId, c.nonce, c.timestampMs];
    if (!verify(c.publicKey, c.signature, "hermes/app-connect/v1", fields)) {
      return "signature does not verify (is it signed for this node and this challenge?)";
    }
    return undefined;
  }

  // ------------------------------------------------------------------ chats

  private startChat(session: Session, s: approuter.StartChat, cid: string): void {
    const appId = session.appId;
    const bad = (code: approuter.ErrorCode, message: string) =>
      this.fail(session, code, message, { correlationId: cid, chatId: s.chatId });
    if (!CHAT_ID_PATTERN.test(s.chatId))
      return bad(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "chat_id must be 32 lowercase hex characters");
    if (!ID_PATTERN.test(s.targetAppId))
      return bad(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "target_app_id is not an app ID");
    if (s.targetAppId === appId)
      return bad(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "an app cannot chat with itself");
    if (s.ephemeralKey.length !== 32)
      return bad(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "ephemeral_key must be 32 bytes");
    const skew = this.skewProblem(s.timestampMs);
    if (skew) return bad(ErrorCode.ERROR_CODE_AUTH_FAILED, skew);
    const fields = [s.chatId, appId, s.targetAppId, s.ephemeralKey, s.timestampMs];
    if (!verify(session.publicKey, s.signature, "hermes/chat-offer/v1", fields)) {
      return bad(ErrorCode.ERROR_CODE_AUTH_FAILED, "offer signature does not verify");
    }
    if (this.chats.has(s.chatId)) return bad(ErrorCode.ERROR_CODE_CHAT_EXISTS, "a chat with this id exists");
    if (this.ended.has(s.chatId)) return bad(ErrorCode.ERROR_CODE_REPLAYED, "this chat id was used before");
    const budget = session.budgets.chatStarts.take(this.o.clock.now());
    if (!budget.ok) {
      this.o.metrics.limitRefusals.inc({ limit: "chat_start_rate" });
      this.fail(
        session,
        ErrorCode.ERROR_CODE_RATE_LIMITED,
        `more than ${this.o.limits.chatStartsPerMinute} chat starts per minute`,
        {
          correlationId: cid,
          chatId: s.chatId,
          retryAfterMs: budget.retryAfterMs,
        },
      );
      return;
    }
    if (this.countedChats(appId) >= this.o.limits.maxChatsPerApp) {
      this.o.metrics.limitRefusals.inc({ limit: "max_chats" });
      return bad(
        ErrorCode.ERROR_CODE_TOO_MANY_CHATS,
        `this app has ${this.o.limits.maxChatsPerApp} chats, the maximum`,
      );
    }
    const target = this.byApp.get(s.targetAppId);
    const remote = target ? undefined : this.o.mesh?.locate(s.targetAppId);
    if (!target && !remote) {
      return bad(
        ErrorCode.ERROR_CODE_UNKNOWN_APP,
        `app ${s.targetAppId} is not connected to any node this node knows`,
      );
    }
    const now = this.o.clock.now();
    const offer: Offer = {
      chatId: s.chatId,
      initiatorAppId: appId,
      initiatorPublicKey: session.publicKey,
      ephemeralKey: Uint8Array.from(s.ephemeralKey),
      timestampMs: s.timestampMs,
      signature: Uint8Array.from(s.signature),
      targetAppId: s.targetAppId,
    };
    const chat: Chat = {
      id: s.chatId,
      state: "pending",
      offer,
      createdAt: now,
      lastActivity: now,
      directions: new Map(),
      ...(remote ? { remoteApp: s.targetAppId, remoteNode: remote.nodeId } : {}),
    };
    this.addChat(chat);
    if (target) {
      this.send(target, { $case: "chatOffer", value: offerFrame(offer) });
    } else if (
      !this.toRemote(chat, { $case: "offer", value: { ...offerFrame(offer), targetAppId: s.targetAppId } })
    ) {
      this.endChat(chat, "route_unavailable", () => undefined);
      return bad(
        ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE,
        `node ${remote?.nodeId} hosting the target cannot be reached now`,
      );
    }
    this.send(
      session,
      { $case: "chatPending", value: { chatId: s.chatId, targetAppId: s.targetAppId } },
      cid,
    );
  }

  private acceptChat(session: Session, a: approuter.AcceptChat, cid: string): void {
    const appId = session.appId;
    const bad = (code: approuter.ErrorCode, message: string) =>
      this.fail(session, code, message, { correlationId: cid, chatId: a.chatId });
    const chat = this.chats.get(a.chatId);
    if (!chat) return bad(ErrorCode.ERROR_CODE_UNKNOWN_CHAT, "no such chat (it may have expired)");
    if (chat.offer.targetAppId !== appId)
      return bad(ErrorCode.ERROR_CODE_NOT_PARTICIPANT, "only the chat's target can accept it");
    if (chat.state !== "pending")
      return bad(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "the chat was already accepted");
    if (a.ephemeralKey.length !== 32)
      return bad(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "ephemeral_key must be 32 bytes");
    const skew = this.skewProblem(a.timestampMs);
    if (skew) return bad(ErrorCode.ERROR_CODE_AUTH_FAILED, skew);
    const { offer } = chat;
    const fields = [chat.id, offer.initiatorAppId, appId, offer.ephemeralKey, a.ephemeralKey, a.timestampMs];
    if (!verify(session.publicKey, a.signature, "hermes/chat-accept/v1", fields)) {
      return bad(ErrorCode.ERROR_CODE_AUTH_FAILED, "accept signature does not verify");
    }
    if (this.countedChats(appId) >= this.o.limits.maxChatsPerApp) {
      this.o.metrics.limitRefusals.inc({ limit: "max_chats" });
      bad(
        ErrorCode.ERROR_CODE_TOO_MANY_CHATS,
        `this app has ${this.o.limits.maxChatsPerApp} chats, the maximum`,
      );
      this.rejectOffer(chat, "the target has too many chats");
      return;
    }
    if (chat.remoteApp === offer.initiatorAppId) {
      // The initiator's node must hear of it, or the chat would be ready on this side only.
      const ready = readyOf(offer, session.publicKey, a);
      if (!this.toRemote(chat, { $case: "accepted", value: { ready } }))
        return bad(
          ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE,
          `node ${chat.remoteNode} hosting the initiator cannot be reached now; accept again later`,
        );
      this.makeReady(chat, session.publicKey, a);
    } else {
      this.makeReady(chat, session.publicKey, a);
      this.sendTo(offer.initiatorAppId, { $case: "chatReady", value: chat.ready! });
    }
    this.send(session, { $case: "chatReady", value: chat.ready! }, cid);
  }

  private rejectChat(session: Session, r: approuter.RejectChat, cid: string): void {
    const chat = this.chats.get(r.chatId);
    const bad = (code: approuter.ErrorCode, message: string) =>
      this.fail(session, code, message, { correlationId: cid, chatId: r.chatId });
    if (!chat) return bad(ErrorCode.ERROR_CODE_UNKNOWN_CHAT, "no such chat (it may have expired)");
    if (chat.offer.targetAppId !== session.appId)
      return bad(ErrorCode.ERROR_CODE_NOT_PARTICIPANT, "only the chat's target can reject it");
    if (chat.state !== "pending")
      return bad(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "the chat was already accepted; delete it instead");
    this.rejectOffer(chat, r.reason.slice(0, 200));
  }

  /** Ends a pending chat and tells the initiator, wherever it is. */
  private rejectOffer(chat: Chat, reason: string): void {
    this.endChat(chat, "rejected", () => undefined);
    if (chat.remoteApp === chat.offer.initiatorAppId) {
      this.toRemote(chat, { $case: "rejected", value: { chatId: chat.id, reason } });
    } else {
      this.sendTo(chat.offer.initiatorAppId, { $case: "chatRejected", value: { chatId: chat.id, reason } });
    }
  }

  /** The target's signed answer makes the chat ready; both sides' records start here. */
  private makeReady(
    chat: Chat,
    targetPublicKey: Uint8Array,
    a: { ephemeralKey: Uint8Array; timestampMs: number; signature: Uint8Array },
  ): void {
    const { offer } = chat;
    chat.ready = readyOf(offer, targetPublicKey, a);
    chat.state = "ready";
    chat.lastActivity = this.o.clock.now();
    chat.directions.set(offer.initiatorAppId, newDirection());
    chat.directions.set(offer.targetAppId, newDirection());
    this.pendingCount--;
    this.readyCount++;
    this.updateChatGauges();
    this.o.metrics.chatsStarted.inc();
    this.o.store.save(chat);
    this.o.logger.info(
      {
        chat: chat.id,
        initiator: offer.initiatorAppId,
        target: offer.targetAppId,
        remoteNode: chat.remoteNode,
      },
      "chat ready",
    );
  }

  private deleteChat(session: Session, d: approuter.DeleteChat, cid: string): void {
    const chat = this.chats.get(d.chatId);
    if (!chat) {
      this.fail(session, ErrorCode.ERROR_CODE_UNKNOWN_CHAT, "no such chat", {
        correlationId: cid,
        chatId: d.chatId,
      });
      return;
    }
    if (!isParticipant(chat, session.appId)) {
      this.fail(session, ErrorCode.ERROR_CODE_NOT_PARTICIPANT, "this app is not part of the chat", {
        correlationId: cid,
        chatId: d.chatId,
      });
      return;
    }
    this.endChat(
      chat,
      "deleted",
      (appId) =>
        appId === session.appId
          ? ChatEndReason.CHAT_END_REASON_DELETED
          : ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER,
      cid,
    );
  }

  // ------------------------------------------------------------------ messages and acks (the hot path)

  private message(session: Session, m: approuter.ChatMessage, cid: string): void {
    const appId = session.appId;
    const chat = this.chats.get(m.chatId);
    if (!chat || !isParticipant(chat, appId)) {
      const code = chat ? ErrorCode.ERROR_CODE_NOT_PARTICIPANT : ErrorCode.ERROR_CODE_UNKNOWN_CHAT;
      this.fail(session, code, chat ? "this app is not part of the chat" : "no such chat", {
        correlationId: cid,
        chatId: m.chatId,
        seq: m.seq,
      });
      return;
    }
    if (chat.state !== "ready") {
      this.fail(session, ErrorCode.ERROR_CODE_CHAT_NOT_READY, "the chat has not been accepted yet", {
        correlationId: cid,
        chatId: m.chatId,
        seq: m.seq,
      });
      return;
    }
    if (m.ciphertext.length > this.o.limits.maxCiphertextBytes) {
      this.o.metrics.limitRefusals.inc({ limit: "frame_size" });
      this.fail(
        session,
        ErrorCode.ERROR_CODE_FRAME_TOO_LARGE,
        `ciphertext of ${m.ciphertext.length} bytes exceeds the limit of ${this.o.limits.maxCiphertextBytes}`,
        { correlationId: cid, chatId: m.chatId, seq: m.seq },
      );
      return;
    }
    const now = this.o.clock.now();
    const budget = session.budgets.messages.take(now);
    if (!budget.ok) {
      this.o.metrics.limitRefusals.inc({ limit: "message_rate" });
      this.fail(
        session,
        ErrorCode.ERROR_CODE_RATE_LIMITED,
        `more than ${this.o.limits.messagesPerSecond} messages per second`,
        {
          correlationId: cid,
          chatId: m.chatId,
          seq: m.seq,
          retryAfterMs: budget.retryAfterMs,
        },
      );
      return;
    }
    const dir = chat.directions.get(appId)!;
    resyncAfterRestore(dir, m.seq);
    const verdict = judgeSeq(dir, m.seq);
    switch (verdict.kind) {
      case "reack":
        // Already delivered and acked: tell the sender again, deliver nothing.
        this.send(session, { $case: "ack", value: { chatId: chat.id, seq: verdict.seq } });
        return;
      case "in_flight":
        // Relayed and not yet acked; the receiver's ack (or a rewind on its reconnect) settles it.
        // A remote receiver's node may have rewound without our knowing: pass it on, it dedupes.
        if (chat.remoteApp === undefined) return;
        break;
      case "out_of_order":
        this.fail(
          session,
          ErrorCode.ERROR_CODE_OUT_OF_ORDER,
          `expected seq ${verdict.expected}, got ${m.seq}`,
          {
            correlationId: cid,
            chatId: m.chatId,
            seq: m.seq,
            expectedSeq: verdict.expected,
          },
        );
        return;
      case "forward":
        break;
    }
    const peerId = peerOf(chat, appId);
    if (chat.remoteApp === peerId) {
      const relay = {
        chatId: chat.id,
        fromAppId: appId,
        seq: m.seq,
        ciphertext: m.ciphertext,
        sentAtMs: now,
      };
      if (!this.toRemote(chat, { $case: "relay", value: relay })) {
        this.fail(
          session,
          ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE,
          `node ${chat.remoteNode} is not reachable now; retry later`,
          {
            correlationId: cid,
            chatId: m.chatId,
            seq: m.seq,
            retryAfterMs: 1000,
          },
        );
        return;
      }
      this.relayed(chat, dir, m.seq, now);
      this.hot.meshRelayed.inc();
      this.hot.meshBytes.inc(m.ciphertext.length);
      return;
    }
    const peer = this.byApp.get(peerId);
    if (!peer) {
      this.fail(
        session,
        ErrorCode.ERROR_CODE_PEER_UNAVAILABLE,
        "the peer app is not connected; retry later",
        {
          correlationId: cid,
          chatId: m.chatId,
          seq: m.seq,
          retryAfterMs: 1000,
        },
      );
      return;
    }
    this.deliver(peer, chat, dir, appId, m.seq, m.ciphertext, now);
    this.hot.relayed.inc();
    this.hot.bytes.inc(m.ciphertext.length);
  }

  /** Hands a message to the receiving app's session and notes it as relayed. */
  private deliver(
    receiver: Session,
    chat: Chat,
    dir: Direction,
    fromAppId: string,
    seq: number,
    ciphertext: Uint8Array,
    now: number,
  ): void {
    this.relayed(chat, dir, seq, now);
    receiver.sink.send({
      correlationId: "",
      body: { $case: "delivery", value: { chatId: chat.id, fromAppId, seq, ciphertext } },
    });
  }

  private ack(session: Session, a: approuter.MessageAck, cid: string): void {
    const chat = this.chats.get(a.chatId);
    if (!chat?.ready || !isParticipant(chat, session.appId)) {
      const code = !chat
        ? ErrorCode.ERROR_CODE_UNKNOWN_CHAT
        : !isParticipant(chat, session.appId)
          ? ErrorCode.ERROR_CODE_NOT_PARTICIPANT
          : ErrorCode.ERROR_CODE_CHAT_NOT_READY;
      this.fail(session, code, "cannot ack in this chat", {
        correlationId: cid,
        chatId: a.chatId,
        seq: a.seq,
      });
      return;
    }
    const senderId = peerOf(chat, session.appId);
    const dir = chat.directions.get(senderId)!;
    if (a.seq > dir.forwarded) {
      this.fail(
        session,
        ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
        `ack for seq ${a.seq}, but only ${dir.forwarded} were delivered`,
        {
          correlationId: cid,
          chatId: a.chatId,
          seq: a.seq,
        },
      );
      return;
    }
    const now = this.o.clock.now();
    if (!applyAck(dir, a.seq, now, (s) => this.o.metrics.ackLatency.observe(s))) return;
    chat.lastActivity = now;
    this.o.store.save(chat);
    if (chat.remoteApp === senderId) {
      this.hot.meshAcks.inc();
      this.toRemote(chat, { $case: "relayAck", value: { chatId: chat.id, seq: a.seq } });
    } else {
      this.hot.acks.inc();
      this.sendTo(senderId, { $case: "ack", value: { chatId: chat.id, seq: a.seq } });
    }
  }

  private relayed(chat: Chat, dir: Direction, seq: number, now: number): void {
    dir.forwarded = Math.max(dir.forwarded, seq);
    if (dir.sentAt.size < MAX_TIMED) dir.sentAt.set(seq, now);
    chat.lastActivity = now;
    this.o.store.save(chat);
  }

  // ------------------------------------------------------------------ tielines: frames from other nodes
  // A node speaks for its apps: these handlers mirror the app-facing ones above, with the
  // remote node in the place of the remote app's session. App signatures are still checked.

  /** A frame from node `fromNode` on its tieline stream. */
  routeFrame(fromNode: string, frame: nodemesh.RouteFrame): void {
    const body = frame.body;
    switch (body?.$case) {
      case "offer":
        return this.remoteOffer(fromNode, body.value);
      case "accepted":
        return this.remoteAccepted(fromNode, body.value.ready);
      case "rejected":
        return this.remoteRejected(fromNode, body.value);
      case "relay":
        return this.remoteRelay(fromNode, body.value);
      case "relayAck":
        return this.remoteRelayAck(fromNode, body.value);
      case "teardown":
        return this.remoteTeardown(fromNode, body.value);
      case "error":
        return this.remoteError(fromNode, body.value);
      default:
        return;
    }
  }

  /**
   * The app connected to another node after connecting here: this session is stale, and its
   * chats (whose state lives here) cannot follow it. Their peers are told so they can start anew.
   */
  appMoved(appId: string, nodeId: string): void {
    const session = this.byApp.get(appId);
    if (session) {
      this.close(
        session,
        SessionCloseReason.SESSION_CLOSE_REASON_REPLACED,
        `the app connected to node ${nodeId}`,
      );
    }
    let ended = 0;
    for (const chat of [...this.chatsOf(appId)]) {
      if (chat.remoteApp === appId) continue; // its state is on the other node, not ours
      this.endChat(chat, "route_unavailable", (other) =>
        other === appId ? undefined : ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE,
      );
      ended++;
    }
    if (session || ended > 0) {
      this.o.logger.info({ app: appId, toNode: nodeId, chats: ended }, "app moved to another node");
    }
  }

  /** The node is gone (dead, left, or its tieline did not come back): its chats end here. */
  nodeLost(nodeId: string): number {
    let ended = 0;
    for (const chat of [...this.chats.values()]) {
      if (chat.remoteNode !== nodeId) continue;
      const local = peerOf(chat, chat.remoteApp!);
      this.endChat(chat, "route_unavailable", (appId) =>
        appId === local ? ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE : undefined,
      );
      ended++;
    }
    if (ended > 0) this.o.logger.warn({ peer: nodeId, chats: ended }, "chats through a lost node ended");
    return ended;
  }

  private remoteOffer(node: string, o: nodemesh.TielineOffer): void {
    const refuse = (code: approuter.ErrorCode, message: string) =>
      this.routeError(node, o.chatId, code, message);
    if (!CHAT_ID_PATTERN.test(o.chatId) || !ID_PATTERN.test(o.targetAppId) || o.ephemeralKey.length !== 32) {
      return refuse(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "malformed tieline offer");
    }
    if (!idMatchesKey(o.initiatorAppId, o.initiatorPublicKey)) {
      return refuse(ErrorCode.ERROR_CODE_AUTH_FAILED, "initiator ID does not match its key");
    }
    const skew = this.skewProblem(o.timestampMs);
    if (skew) return refuse(ErrorCode.ERROR_CODE_AUTH_FAILED, skew);
    const fields = [o.chatId, o.initiatorAppId, o.targetAppId, o.ephemeralKey, o.timestampMs];
    if (!verify(o.initiatorPublicKey, o.signature, "hermes/chat-offer/v1", fields)) {
      return refuse(ErrorCode.ERROR_CODE_AUTH_FAILED, "offer signature does not verify");
    }
    if (this.chats.has(o.chatId))
      return refuse(ErrorCode.ERROR_CODE_CHAT_EXISTS, "a chat with this id exists");
    if (this.ended.has(o.chatId))
      return refuse(ErrorCode.ERROR_CODE_REPLAYED, "this chat id was used before");
    const target = this.byApp.get(o.targetAppId);
    if (!target)
      return refuse(
        ErrorCode.ERROR_CODE_UNKNOWN_APP,
        `app ${o.targetAppId} is not connected to node ${this.nodeId}`,
      );
    const now = this.o.clock.now();
    const offer: Offer = {
      chatId: o.chatId,
      initiatorAppId: o.initiatorAppId,
      initiatorPublicKey: Uint8Array.from(o.initiatorPublicKey),
      ephemeralKey: Uint8Array.from(o.ephemeralKey),
      timestampMs: o.timestampMs,
      signature: Uint8Array.from(o.signature),
      targetAppId: o.targetAppId,
    };
    this.addChat({
      id: o.chatId,
      state: "pending",
      offer,
      createdAt: now,
      lastActivity: now,
      directions: new Map(),
      remoteApp: o.initiatorAppId,
      remoteNode: node,
    });
    this.send(target, { $case: "chatOffer", value: offerFrame(offer) });
  }

  private remoteAccepted(node: string, r: approuter.ChatReady | undefined): void {
    const chat = r && this.remoteChat(node, r.chatId);
    if (!r || !chat || chat.state !== "pending" || chat.remoteApp !== chat.offer.targetAppId) return;
    const { offer } = chat;
    const consistent =
      r.targetAppId === offer.targetAppId &&
      Buffer.from(r.initiatorEphemeralKey).equals(Buffer.from(offer.ephemeralKey)) &&
      r.targetEphemeralKey.length === 32 &&
      idMatchesKey(r.targetAppId, r.targetPublicKey) &&
      verify(r.targetPublicKey, r.acceptSignature, "hermes/chat-accept/v1", [
        chat.id,
        offer.initiatorAppId,
        offer.targetAppId,
        offer.ephemeralKey,
        r.targetEphemeralKey,
        r.acceptTimestampMs,
      ]);
    if (!consistent) {
      this.o.logger.warn({ chat: chat.id, peer: node }, "remote acceptance failed verification");
      this.endChat(chat, "rejected", (appId) =>
        appId === chat.remoteApp ? ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER : undefined,
      );
      this.sendTo(offer.initiatorAppId, {
        $case: "chatRejected",
        value: { chatId: chat.id, reason: "the acceptance failed verification" },
      });
      return;
    }
    this.makeReady(chat, r.targetPublicKey, {
      ephemeralKey: r.targetEphemeralKey,
      timestampMs: r.acceptTimestampMs,
      signature: r.acceptSignature,
    });
    this.sendTo(offer.initiatorAppId, { $case: "chatReady", value: chat.ready! });
  }

  private remoteRejected(node: string, r: nodemesh.TielineRejected): void {
    const chat = this.remoteChat(node, r.chatId);
    if (chat?.state !== "pending") return;
    this.endChat(chat, "rejected", () => undefined);
    this.sendTo(chat.offer.initiatorAppId, {
      $case: "chatRejected",
      value: { chatId: chat.id, reason: r.reason.slice(0, 200) },
    });
  }

  private remoteRelay(node: string, r: nodemesh.Relay): void {
    const chat = this.remoteChat(node, r.chatId);
    if (!chat)
      return this.routeError(node, r.chatId, ErrorCode.ERROR_CODE_UNKNOWN_CHAT, "no such chat on this node", {
        seq: r.seq,
      });
    if (chat.state !== "ready" || r.fromAppId !== chat.remoteApp) {
      return this.routeError(
        node,
        r.chatId,
        ErrorCode.ERROR_CODE_NOT_PARTICIPANT,
        "relay for a chat not ready or not yours",
        { seq: r.seq },
      );
    }
    if (r.ciphertext.length > this.o.limits.maxCiphertextBytes) {
      // The sending node may allow more than this one; this node's apps were promised this limit.
      this.o.metrics.limitRefusals.inc({ limit: "frame_size" });
      return this.routeError(
        node,
        chat.id,
        ErrorCode.ERROR_CODE_FRAME_TOO_LARGE,
        `ciphertext of ${r.ciphertext.length} bytes exceeds this node's limit of ${this.o.limits.maxCiphertextBytes}`,
        { seq: r.seq },
      );
    }
    const now = this.o.clock.now();
    if (r.sentAtMs > 0) this.o.mesh?.observeRelayLatency((now - r.sentAtMs) / 1000);
    const dir = chat.directions.get(r.fromAppId)!;
    resyncAfterRestore(dir, r.seq);
    const verdict = judgeSeq(dir, r.seq);
    switch (verdict.kind) {
      case "reack":
        this.toRemote(chat, { $case: "relayAck", value: { chatId: chat.id, seq: verdict.seq } });
        return;
      case "in_flight":
        return;
      case "out_of_order":
        this.routeError(
          node,
          chat.id,
          ErrorCode.ERROR_CODE_OUT_OF_ORDER,
          `expected seq ${verdict.expected}, got ${r.seq}`,
          {
            seq: r.seq,
            expectedSeq: verdict.expected,
          },
        );
        return;
      case "forward":
        break;
    }
    const receiver = this.byApp.get(peerOf(chat, r.fromAppId));
    if (!receiver) {
      this.routeError(
        node,
        chat.id,
        ErrorCode.ERROR_CODE_PEER_UNAVAILABLE,
        "the peer app is not connected; retry later",
        {
          seq: r.seq,
          retryAfterMs: 1000,
        },
      );
      return;
    }
    this.deliver(receiver, chat, dir, r.fromAppId, r.seq, r.ciphertext, now);
    this.hot.meshRelayed.inc();
    this.hot.meshBytes.inc(r.ciphertext.length);
  }

  private remoteRelayAck(node: string, a: nodemesh.RelayAck): void {
    const chat = this.remoteChat(node, a.chatId);
    if (!chat?.ready) return;
    const sender = peerOf(chat, chat.remoteApp!);
    const dir = chat.directions.get(sender)!;
    const now = this.o.clock.now();
    if (!applyAck(dir, a.seq, now, (s) => this.o.metrics.ackLatency.observe(s))) return;
    chat.lastActivity = now;
    this.o.store.save(chat);
    this.hot.meshAcks.inc();
    this.sendTo(sender, { $case: "ack", value: { chatId: chat.id, seq: a.seq } });
  }

  private remoteTeardown(node: string, t: nodemesh.Teardown): void {
    const chat = this.remoteChat(node, t.chatId);
    if (!chat) return;
    const local = peerOf(chat, chat.remoteApp!);
    const metric =
      t.reason === ChatEndReason.CHAT_END_REASON_IDLE_EXPIRED
        ? "idle_expired"
        : t.reason === ChatEndReason.CHAT_END_REASON_OFFER_EXPIRED
          ? "offer_expired"
          : "deleted";
    this.endChat(chat, metric, (appId) => (appId === local ? t.reason : undefined));
  }

  /** The other node refused something of ours: correct our view, tell the local app. */
  private remoteError(node: string, e: nodemesh.RouteError): void {
    const chat = this.remoteChat(node, e.chatId);
    if (!chat) return;
    const local = peerOf(chat, chat.remoteApp!);
    if (chat.state === "pending") {
      this.endChat(chat, "rejected", () => undefined);
    } else if (
      e.code === ErrorCode.ERROR_CODE_UNKNOWN_CHAT ||
      e.code === ErrorCode.ERROR_CODE_NOT_PARTICIPANT
    ) {
      // The other node has no such chat (it expired or was lost there): it cannot go on.
      // A delete racing with this error arrives first on the same stream, so this is no delete.
      this.endChat(chat, "route_unavailable", (appId) =>
        appId === local ? ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE : undefined,
      );
      return;
    } else {
      const dir = chat.directions.get(local)!;
      // Its side expects an earlier seq (the receiver went away, or frames were lost): resend from there.
      const back = (e.expectedSeq || e.seq) - 1;
      if (back >= dir.acked && back < dir.forwarded) {
        dir.forwarded = back;
        for (const seq of dir.sentAt.keys()) if (seq > back) dir.sentAt.delete(seq);
      }
    }
    const session = this.byApp.get(local);
    if (!session) return;
    this.send(session, {
      $case: "error",
      value: {
        code: e.code,
        message: `node ${node}: ${e.message}`,
        chatId: e.chatId,
        expectedSeq: e.expectedSeq,
        retryAfterMs: e.retryAfterMs,
        seq: e.seq,
      },
    });
  }

  /** The chat `chatId` if node `node` is its other end; anything else from that node is ignored. */
  private remoteChat(node: string, chatId: string): Chat | undefined {
    const chat = this.chats.get(chatId);
    if (chat?.remoteNode === node) return chat;
    this.o.logger.debug({ peer: node, chat: chatId }, "tieline frame for a chat that node is not part of");
    return undefined;
  }

  private toRemote(chat: Chat, body: nodemesh.RouteFrame["body"]): boolean {
    return chat.remoteNode !== undefined && this.o.mesh?.sendRoute(chat.remoteNode, { body }) === true;
  }

  private routeError(
    node: string,
    chatId: string,
    code: approuter.ErrorCode,
    message: string,
    extra: { seq?: number; expectedSeq?: number; retryAfterMs?: number } = {},
  ): void {
    const name = approuter.ErrorCode[code].replace("ERROR_CODE_", "").toLowerCase();
    this.o.metrics.refusedFrames.inc({ code: name });
    this.o.mesh?.sendRoute(node, {
      body: {
        $case: "error",
        value: {
          chatId,
          code,
          message,
          seq: extra.seq ?? 0,
          expectedSeq: extra.expectedSeq ?? 0,
          retryAfterMs: extra.retryAfterMs ?? 0,
        },
      },
    });
  }

  // ------------------------------------------------------------------ lookups

  private findApp(session: Session, f: approuter.FindApp, cid: string): void {
    if (!ID_PATTERN.test(f.appId)) {
      this.fail(session, ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "app_id is not an app ID", {
        correlationId: cid,
      });
      return;
    }
    const value: approuter.FindAppResult = { appId: f.appId, online: false, nodeId: "", appEndpoint: "" };
    if (this.byApp.has(f.appId)) {
      value.online = true;
      value.nodeId = this.nodeId;
    } else {
      const remote = this.locator.locate(f.appId);
      if (remote)
        Object.assign(value, { online: true, nodeId: remote.nodeId, appEndpoint: remote.appEndpoint });
    }
    this.send(session, { $case: "findAppResult", value }, cid);
  }

  // ------------------------------------------------------------------ housekeeping

  /** Expires idle sessions, idle chats and unanswered offers. Called every sweep interval. */
  sweep(): void {
    const now = this.o.clock.now();
    const t = this.o.timeouts;
    const unauthenticatedMs = Math.min(t.sessionIdleMs, 10_000);
    for (const session of this.sessions) {
      const limit = session.state === "connected" ? t.sessionIdleMs : unauthenticatedMs;
      if (now - session.lastSeen > limit) {
        this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_IDLE, `no frame for ${limit} ms`);
      }
    }
    for (const chat of this.chats.values()) {
      if (chat.state === "pending" && now - chat.createdAt > t.offerTimeoutMs) {
        this.endChat(chat, "offer_expired", () => ChatEndReason.CHAT_END_REASON_OFFER_EXPIRED);
      } else if (chat.state === "ready" && now - chat.lastActivity > t.chatIdleMs) {
        this.endChat(chat, "idle_expired", () => ChatEndReason.CHAT_END_REASON_IDLE_EXPIRED);
      }
    }
    for (const [chatId, at] of this.ended) if (now - at > 2 * t.clockSkewMs) this.ended.delete(chatId);
    const { messageBurst, messagesPerSecond } = this.o.limits;
    const refillMs = Math.max(60_000, Math.ceil((messageBurst / messagesPerSecond) * 1000));
    for (const [appId, left] of this.leftBudgets)
      if (now - left.at > refillMs) this.leftBudgets.delete(appId);
  }

  /**
   * On a graceful stop: the chats through other nodes end here (their nodes see this one leave
   * and end their side), so a restart does not bring back copies nobody shares any more.
   */
  dropRemoteChats(): void {
    for (const chat of [...this.chats.values()]) {
      if (chat.remoteNode !== undefined) this.endChat(chat, "route_unavailable", () => undefined);
    }
  }

  /** Stops taking sessions and tells every app to reconnect elsewhere or later. */
  shutdown(): void {
    this.accepting = false;
    for (const session of this.sessions) {
      this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_SHUTDOWN, "node is shutting down");
    }
  }

  // ------------------------------------------------------------------ helpers

  private addChat(chat: Chat): void {
    this.chats.set(chat.id, chat);
    for (const appId of [chat.offer.initiatorAppId, chat.offer.targetAppId]) {
      const set = this.appChats.get(appId) ?? new Set<string>();
      this.appChats.set(appId, set);
      set.add(chat.id);
    }
    if (chat.state === "pending") this.pendingCount++;
    else this.readyCount++;
    this.updateChatGauges();
  }

  /**
   * Removes a chat, erases its record and tells each participant `reasonFor(app)` (nobody when
   * it returns undefined).
   */
  private endChat(
    chat: Chat,
    metricReason: string,
    reasonFor: (appId: string) => approuter.ChatEndReason | undefined,
    cid = "",
  ): void {
    if (!this.chats.delete(chat.id)) return;
    const now = this.o.clock.now();
    this.ended.set(chat.id, now);
    for (const appId of [chat.offer.initiatorAppId, chat.offer.targetAppId]) {
      const set = this.appChats.get(appId);
      set?.delete(chat.id);
      if (set?.size === 0) this.appChats.delete(appId);
    }
    if (chat.state === "pending") this.pendingCount--;
    else this.readyCount--;
    this.updateChatGauges();
    this.o.store.erase(chat.id);
    this.o.metrics.chatsEnded.inc({ reason: metricReason });
    this.o.logger.info({ chat: chat.id, reason: metricReason }, "chat ended");
    for (const appId of [chat.offer.initiatorAppId, chat.offer.targetAppId]) {
      const reason = reasonFor(appId);
      if (reason === undefined) continue;
      if (chat.remoteApp === appId) {
        this.toRemote(chat, { $case: "teardown", value: { chatId: chat.id, reason } });
        continue;
      }
      const session = this.byApp.get(appId);
      if (session)
        this.send(
          session,
          { $case: "chatDeleted", value: { chatId: chat.id, reason } },
          reason === ChatEndReason.CHAT_END_REASON_DELETED ? cid : "",
        );
    }
  }

  private updateChatGauges(): void {
    this.o.metrics.chats.set({ state: "pending" }, this.pendingCount);
    this.o.metrics.chats.set({ state: "ready" }, this.readyCount);
  }

  private *chatsOf(appId: string): Iterable<Chat> {
    for (const chatId of this.appChats.get(appId) ?? []) {
      const chat = this.chats.get(chatId);
      if (chat) yield chat;
    }
  }

  /** Chats that count against an app's limit: ready ones and offers it made (not offers it received). */
  private countedChats(appId: string): number {
    let n = 0;
    for (const chat of this.chatsOf(appId))
      if (chat.state === "ready" || chat.offer.initiatorAppId === appId) n++;
    return n;
  }

  private skewProblem(timestampMs: number): string | undefined {
    const drift = Math.abs(this.o.clock.now() - timestampMs);
    if (drift > this.o.timeouts.clockSkewMs) {
      return `timestamp is ${drift} ms away from the node's clock (limit ${this.o.timeouts.clockSkewMs} ms)`;
    }
    return undefined;
  }

  private detach(session: Session): void {
    if (session.state !== "connected" || this.byApp.get(session.appId) !== session) return;
    this.byApp.delete(session.appId);
    this.o.mesh?.appDisconnected(session.appId);
    this.leftBudgets.set(session.appId, { budgets: session.budgets, at: this.o.clock.now() });
    this.o.metrics.sessions.set(this.byApp.size);
    for (const chat of this.chatsOf(session.appId)) {
      const dir = chat.directions.get(peerOf(chat, session.appId));
      if (dir) rewind(dir);
    }
    this.o.logger.info({ app: session.appId, session: session.id }, "app disconnected");
  }

  private close(session: Session, reason: approuter.SessionCloseReason, detail: string): void {
    if (session.state === "closed") return;
    this.detach(session);
    session.state = "closed";
    this.sessions.delete(session);
    session.sink.send({ correlationId: "", body: { $case: "sessionClosed", value: { reason, detail } } });
    session.sink.end();
  }

  private sendTo(appId: string, body: Body): void {
    const session = this.byApp.get(appId);
    if (session) this.send(session, body);
  }

  private send(session: Session, body: Body, correlationId = ""): void {
    session.sink.send({ correlationId, body });
  }

  private fail(session: Session, code: approuter.ErrorCode, message: string, detail: ErrorDetail = {}): void {
    const name = approuter.ErrorCode[code].replace("ERROR_CODE_", "").toLowerCase();
    this.o.metrics.refusedFrames.inc({ code: name });
    this.o.logger.debug(
      { app: session.appId || undefined, session: session.id, code: name, message },
      "frame refused",
    );
    this.send(
      session,
      {
        $case: "error",
        value: {
          code,
          message,
          chatId: detail.chatId ?? "",
          expectedSeq: detail.expectedSeq ?? 0,
          retryAfterMs: detail.retryAfterMs ?? 0,
          seq: detail.seq ?? 0,
        },
      },
      detail.correlationId ?? "",
    );
    if (ABUSIVE.has(code) && !session.badFrames.take(this.o.clock.now()).ok) {
      this.o.metrics.limitRefusals.inc({ limit: "bad_frames" });
      this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_PROTOCOL, "too many bad frames");
    }
  }
}

/** The whole transcript of an accepted offer, as both apps (and both nodes) get it. */
function readyOf(
  offer: Offer,
  targetPublicKey: Uint8Array,
  a: { ephemeralKey: Uint8Array; timestampMs: number; signature: Uint8Array },
): approuter.ChatReady {
  return {
    chatId: offer.chatId,
    initiatorAppId: offer.initiatorAppId,
    initiatorPublicKey: offer.initiatorPublicKey,
    initiatorEphemeralKey: offer.ephemeralKey,
    offerTimestampMs: offer.timestampMs,
    offerSignature: offer.signature,
    targetAppId: offer.targetAppId,
    targetPublicKey: Uint8Array.from(targetPublicKey),
    targetEphemeralKey: Uint8Array.from(a.ephemeralKey),
    acceptTimestampMs: a.timestampMs,
    acceptSignature: Uint8Array.from(a.signature),
  };
}

function offerFrame(offer: Offer): approuter.ChatOffer {
  return {
    chatId: offer.chatId,
    initiatorAppId: offer.initiatorAppId,
    initiatorPublicKey: offer.initiatorPublicKey,
    ephemeralKey: offer.ephemeralKey,
    timestampMs: offer.timestampMs,
    signature: offer.signature,
  };
}
