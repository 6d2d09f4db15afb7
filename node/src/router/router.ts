import { randomBytes } from "node:crypto";
import { approuter, type nodemesh } from "@hermes/proto";
import type { Logger } from "pino";
import { deriveId, ID_PATTERN, type Identity } from "../identity/index.js";
import { offerFrame, readyOf, type SignedOffer, verifyConnect } from "../protocol/index.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { Clock } from "../utils/clock.js";
import {
  applyAck,
  type Chat,
  directionFrom,
  isParticipant,
  judgeSeq,
  peerOf,
  resyncAfterRestore,
  rewind,
} from "./chat.js";
import type { ChatStore } from "./chat-store.js";
import { Chats, type NodeBody } from "./chats.js";
import {
  ABUSIVE,
  checkAccept,
  checkCiphertextSize,
  checkOffer,
  checkSkew,
  codeLabel,
  type Refusal,
} from "./checks.js";
import type { RouterLimits, RouterTimeouts } from "./config.js";
import { type AppLocator, localOnly, type MeshLink } from "./locator.js";
import { type AppBudgets, Session, type SessionSink } from "./session.js";
import { Tielines } from "./tielines.js";

const { ErrorCode, ChatEndReason, SessionCloseReason } = approuter;

export const PROTOCOL_VERSION = 1;

/** A frame as it comes off the wire: decoded, or the reason it could not be. */
export type InboundFrame = approuter.AppFrame | { malformed: string };

/** Unauthenticated streams get this long to connect (or sessionIdleMs, when that is shorter). */
const UNAUTHENTICATED_MAX_MS = 10_000;
/** Told to apps refused for capacity: when to try again. */
const AT_CAPACITY_RETRY_MS = 5000;
/** Told to senders whose peer app or node cannot take a message now. */
const PEER_RETRY_MS = 1000;

export interface RouterComponents {
  identity: Identity;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  store: ChatStore;
  /** The mesh, for chats with apps on other nodes; without it the node is alone. */
  mesh?: MeshLink;
}

export interface RouterInit {
  limits: RouterLimits;
  timeouts: RouterTimeouts;
}

interface ErrorDetail {
  correlationId?: string;
  chatId?: string;
  expectedSeq?: number;
  retryAfterMs?: number;
  seq?: number;
}

/**
 * The AppRouter state machine: sessions and the frames apps send. It does no I/O of its own:
 * frames come in through receive(), go out through each session's sink, and time comes from
 * the injected clock, so tests drive it directly. Chats live in `Chats` (shared with the
 * tieline handler, which takes the frames other nodes send about them).
 */
export class Router {
  private readonly sessions = new Set<Session>();
  private readonly byApp = new Map<string, Session>();
  /**
   * Budgets of apps that went away, kept until they would have refilled anyway, so that
   * disconnecting and connecting again does not reset an app's rate limits.
   */
  private readonly leftBudgets = new Map<string, { budgets: AppBudgets; at: number }>();
  private readonly locator: AppLocator;
  private readonly mesh: MeshLink | undefined;
  private readonly store: ChatStore;
  private readonly chats: Chats;
  private readonly tielines: Tielines | undefined;
  private readonly identity: Identity;
  private readonly clock: Clock;
  private readonly metrics: Metrics;
  private readonly logger: Logger;
  private readonly limits: RouterLimits;
  private readonly timeouts: RouterTimeouts;
  private accepting = true;

  constructor(components: RouterComponents, init: RouterInit) {
    const { identity, clock, metrics, logger, store, mesh } = components;
    this.identity = identity;
    this.clock = clock;
    this.metrics = metrics;
    this.logger = logger;
    this.limits = init.limits;
    this.timeouts = init.timeouts;
    this.locator = mesh ?? localOnly;
    this.mesh = mesh;
    this.store = store;
    this.chats = new Chats({
      clock,
      metrics,
      logger,
      store,
      ...(mesh ? { mesh } : {}),
      apps: {
        session: (appId) => this.byApp.get(appId),
        send: (session, body, correlationId) => this.send(session, body, correlationId),
      },
    });
    this.tielines = mesh
      ? new Tielines(
          {
            clock,
            metrics,
            logger,
            chats: this.chats,
            mesh,
            closeSession: (appId, reason, detail) => {
              const session = this.byApp.get(appId);
              if (session) this.close(session, reason, detail);
              return session !== undefined;
            },
          },
          { nodeId: identity.id, limits: init.limits, clockSkewMs: init.timeouts.clockSkewMs },
        )
      : undefined;
  }

  get nodeId(): string {
    return this.identity.id;
  }

  /** Restores the chats persisted by a previous run. */
  restore(): number {
    const restored = this.store.load((name, error) =>
      this.logger.warn({ entry: name, err: String(error) }, "skipping unreadable chat record"),
    );
    for (const chat of restored) this.chats.add(chat);
    return restored.length;
  }

  stats(): { sessions: number; chats: { pending: number; ready: number } } {
    return { sessions: this.byApp.size, chats: this.chats.table.counts };
  }

  // ---- frames from other nodes (tielines.ts)

  routeFrame(fromNode: string, frame: nodemesh.RouteFrame): void {
    this.tielines?.receive(fromNode, frame);
  }

  appMoved(appId: string, nodeId: string): void {
    this.tielines?.appMoved(appId, nodeId);
  }

  nodeLost(nodeId: string): number {
    return this.tielines?.nodeLost(nodeId) ?? 0;
  }

  // ---- session lifecycle

  open(sink: SessionSink): Session {
    const now = this.clock.now();
    const session = new Session(randomBytes(16).toString("hex"), randomBytes(32), sink, this.limits, now);
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
        nodePublicKey: this.identity.publicKey,
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
    session.lastSeen = this.clock.now();
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
        return this.send(session, { $case: "heartbeat", value: { timestampMs: this.clock.now() } }, cid);
    }
  }

  private connect(session: Session, connect: approuter.Connect, cid: string): void {
    if (session.state === "connected") {
      this.fail(session, ErrorCode.ERROR_CODE_ALREADY_CONNECTED, "this stream is already connected", {
        correlationId: cid,
      });
      return;
    }
    const problem = this.checkConnect(session, connect);
    if (problem) {
      this.metrics.connects.inc({ result: "auth_failed" });
      this.fail(session, ErrorCode.ERROR_CODE_AUTH_FAILED, problem, { correlationId: cid });
      this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_PROTOCOL, "authentication failed");
      return;
    }
    const appId = deriveId(connect.publicKey);
    const previous = this.byApp.get(appId);
    if (!previous && this.byApp.size >= this.limits.maxSessions) {
      this.metrics.connects.inc({ result: "refused" });
      this.metrics.limitRefusals.inc({ limit: "max_sessions" });
      this.fail(
        session,
        ErrorCode.ERROR_CODE_RATE_LIMITED,
        `node is at its limit of ${this.limits.maxSessions} sessions`,
        {
          correlationId: cid,
          retryAfterMs: AT_CAPACITY_RETRY_MS,
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
    session.publicKey = Uint8Array.from(connect.publicKey);
    this.byApp.set(appId, session);
    this.mesh?.appConnected(appId, this.clock.now());
    this.metrics.sessions.set(this.byApp.size);
    this.metrics.connects.inc({ result: previous ? "replaced" : "ok" });
    this.logger.info({ app: appId, session: session.id, replaced: Boolean(previous) }, "app connected");

    const chats: approuter.ChatState[] = [];
    const offers: SignedOffer[] = [];
    for (const chat of this.chats.table.of(appId)) {
      if (chat.state === "ready") {
        chats.push({
          ready: chat.ready,
          ackedByPeer: directionFrom(chat, appId).acked,
          deliveredToMe: directionFrom(chat, peerOf(chat, appId)).acked,
        });
      } else if (chat.offer.targetAppId === appId) {
        offers.push(chat.offer);
      }
    }
    const { limits, timeouts } = this;
    this.send(
      session,
      {
        $case: "connectAck",
        value: {
          sessionId: session.id,
          appId,
          nodeId: this.nodeId,
          nodePublicKey: this.identity.publicKey,
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
    for (const offer of offers) this.send(session, { $case: "chatOffer", value: offerFrame(offer) });
  }

  private checkConnect(session: Session, connect: approuter.Connect): string | undefined {
    if (connect.publicKey.length !== 32)
      return `public_key must be 32 bytes, got ${connect.publicKey.length}`;
    if (!Buffer.from(connect.nonce).equals(Buffer.from(session.nonce)))
      return "nonce does not match this stream's challenge";
    const skew = checkSkew(connect.timestampMs, this.timeContext());
    if (skew) return skew;
    if (!verifyConnect(this.nodeId, deriveId(connect.publicKey), connect)) {
      return "signature does not verify (is it signed for this node and this challenge?)";
    }
    return undefined;
  }

  // ---- chats

  private startChat(session: Session, start: approuter.StartChat, cid: string): void {
    const appId = session.appId;
    const refuse = (refusal: Refusal, retryAfterMs?: number) =>
      this.refuse(session, refusal, { correlationId: cid, chatId: start.chatId, retryAfterMs });
    const offer: SignedOffer = {
      chatId: start.chatId,
      initiatorAppId: appId,
      initiatorPublicKey: session.publicKey,
      targetAppId: start.targetAppId,
      ephemeralKey: Uint8Array.from(start.ephemeralKey),
      timestampMs: start.timestampMs,
      signature: Uint8Array.from(start.signature),
    };
    const now = this.clock.now();
    const invalid = checkOffer(offer, this.timeContext());
    if (invalid) return refuse(invalid);
    const { table } = this.chats;
    if (table.has(start.chatId))
      return refuse({ code: ErrorCode.ERROR_CODE_CHAT_EXISTS, message: "a chat with this id exists" });
    if (table.endedRecently(start.chatId))
      return refuse({ code: ErrorCode.ERROR_CODE_REPLAYED, message: "this chat id was used before" });
    const budget = session.budgets.chatStarts.take(now);
    if (!budget.ok) {
      return refuse(
        {
          code: ErrorCode.ERROR_CODE_RATE_LIMITED,
          message: `more than ${this.limits.chatStartsPerMinute} chat starts per minute`,
          limit: "chat_start_rate",
        },
        budget.retryAfterMs,
      );
    }
    if (table.countedFor(appId) >= this.limits.maxChatsPerApp) return refuse(this.tooManyChats());
    const target = this.byApp.get(start.targetAppId);
    const remote = target ? undefined : this.mesh?.locate(start.targetAppId);
    if (!target && !remote) {
      return refuse({
        code: ErrorCode.ERROR_CODE_UNKNOWN_APP,
        message: `app ${start.targetAppId} is not connected to any node this node knows`,
      });
    }
    const chat: Chat = {
      id: start.chatId,
      state: "pending",
      offer,
      createdAt: now,
      lastActivity: now,
      route: remote ? { kind: "remote", app: start.targetAppId, node: remote.nodeId } : { kind: "local" },
    };
    this.chats.add(chat);
    if (target) {
      this.send(target, { $case: "chatOffer", value: offerFrame(offer) });
    } else if (
      !this.chats.toRemote(chat, {
        $case: "offer",
        value: { ...offerFrame(offer), targetAppId: start.targetAppId },
      })
    ) {
      this.chats.end(chat, "route_unavailable", () => undefined);
      return refuse({
        code: ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE,
        message: `node ${remote?.nodeId} hosting the target cannot be reached now`,
      });
    }
    this.send(
      session,
      { $case: "chatPending", value: { chatId: start.chatId, targetAppId: start.targetAppId } },
      cid,
    );
  }

  private acceptChat(session: Session, accept: approuter.AcceptChat, cid: string): void {
    const appId = session.appId;
    const refuse = (refusal: Refusal) =>
      this.refuse(session, refusal, { correlationId: cid, chatId: accept.chatId });
    const chat = this.chats.table.get(accept.chatId);
    if (!chat)
      return refuse({
        code: ErrorCode.ERROR_CODE_UNKNOWN_CHAT,
        message: "no such chat (it may have expired)",
      });
    if (chat.offer.targetAppId !== appId)
      return refuse({
        code: ErrorCode.ERROR_CODE_NOT_PARTICIPANT,
        message: "only the chat's target can accept it",
      });
    if (chat.state !== "pending")
      return refuse({
        code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
        message: "the chat was already accepted",
      });
    const invalid = checkAccept(chat.offer, session.publicKey, accept, this.timeContext());
    if (invalid) return refuse(invalid);
    if (this.chats.table.countedFor(appId) >= this.limits.maxChatsPerApp) {
      refuse(this.tooManyChats());
      this.chats.reject(chat, "the target has too many chats");
      return;
    }
    const { route } = chat;
    const remoteInitiator = route.kind === "remote" && route.app === chat.offer.initiatorAppId;
    if (route.kind === "remote" && remoteInitiator) {
      // The initiator's node must hear of it, or the chat would be ready on this side only.
      const ready = readyOf(chat.offer, session.publicKey, accept);
      if (!this.chats.toRemote(chat, { $case: "accepted", value: { ready } }))
        return refuse({
          code: ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE,
          message: `node ${route.node} hosting the initiator cannot be reached now; accept again later`,
        });
    }
    const ready = this.chats.makeReady(chat, session.publicKey, accept);
    if (!remoteInitiator)
      this.chats.sendTo(chat.offer.initiatorAppId, { $case: "chatReady", value: ready.ready });
    this.send(session, { $case: "chatReady", value: ready.ready }, cid);
  }

  private rejectChat(session: Session, reject: approuter.RejectChat, cid: string): void {
    const refuse = (refusal: Refusal) =>
      this.refuse(session, refusal, { correlationId: cid, chatId: reject.chatId });
    const chat = this.chats.table.get(reject.chatId);
    if (!chat)
      return refuse({
        code: ErrorCode.ERROR_CODE_UNKNOWN_CHAT,
        message: "no such chat (it may have expired)",
      });
    if (chat.offer.targetAppId !== session.appId)
      return refuse({
        code: ErrorCode.ERROR_CODE_NOT_PARTICIPANT,
        message: "only the chat's target can reject it",
      });
    if (chat.state !== "pending")
      return refuse({
        code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
        message: "the chat was already accepted; delete it instead",
      });
    this.chats.reject(chat, reject.reason.slice(0, 200));
  }

  private deleteChat(session: Session, del: approuter.DeleteChat, cid: string): void {
    const chat = this.chats.table.get(del.chatId);
    const detail = { correlationId: cid, chatId: del.chatId };
    if (!chat) return this.fail(session, ErrorCode.ERROR_CODE_UNKNOWN_CHAT, "no such chat", detail);
    if (!isParticipant(chat, session.appId))
      return this.fail(
        session,
        ErrorCode.ERROR_CODE_NOT_PARTICIPANT,
        "this app is not part of the chat",
        detail,
      );
    this.chats.end(
      chat,
      "deleted",
      (appId) =>
        appId === session.appId
          ? ChatEndReason.CHAT_END_REASON_DELETED
          : ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER,
      cid,
    );
  }

  // ---- messages and acks (the hot path)

  private message(session: Session, m: approuter.ChatMessage, cid: string): void {
    const appId = session.appId;
    const detail = { correlationId: cid, chatId: m.chatId, seq: m.seq };
    const chat = this.chats.table.get(m.chatId);
    if (!chat) return this.fail(session, ErrorCode.ERROR_CODE_UNKNOWN_CHAT, "no such chat", detail);
    if (!isParticipant(chat, appId))
      return this.fail(
        session,
        ErrorCode.ERROR_CODE_NOT_PARTICIPANT,
        "this app is not part of the chat",
        detail,
      );
    if (chat.state !== "ready")
      return this.fail(
        session,
        ErrorCode.ERROR_CODE_CHAT_NOT_READY,
        "the chat has not been accepted yet",
        detail,
      );
    const tooLarge = checkCiphertextSize(m.ciphertext.length, this.limits.maxCiphertextBytes);
    if (tooLarge) return this.refuse(session, tooLarge, detail);
    const now = this.clock.now();
    const budget = session.budgets.messages.take(now);
    if (!budget.ok) {
      return this.refuse(
        session,
        {
          code: ErrorCode.ERROR_CODE_RATE_LIMITED,
          message: `more than ${this.limits.messagesPerSecond} messages per second`,
          limit: "message_rate",
        },
        { ...detail, retryAfterMs: budget.retryAfterMs },
      );
    }
    const dir = directionFrom(chat, appId);
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
        if (chat.route.kind === "local") return;
        break;
      case "out_of_order":
        return this.fail(
          session,
          ErrorCode.ERROR_CODE_OUT_OF_ORDER,
          `expected seq ${verdict.expected}, got ${m.seq}`,
          {
            ...detail,
            expectedSeq: verdict.expected,
          },
        );
      case "forward":
        break;
    }
    const peerId = peerOf(chat, appId);
    if (chat.route.kind === "remote") {
      const relay = {
        chatId: chat.id,
        fromAppId: appId,
        seq: m.seq,
        ciphertext: m.ciphertext,
        sentAtMs: now,
      };
      if (!this.chats.toRemote(chat, { $case: "relay", value: relay })) {
        return this.fail(
          session,
          ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE,
          `node ${chat.route.node} is not reachable now; retry later`,
          { ...detail, retryAfterMs: PEER_RETRY_MS },
        );
      }
      this.chats.relayed(chat, dir, m.seq, now);
      this.chats.hot.meshRelayed.inc();
      this.chats.hot.meshBytes.inc(m.ciphertext.length);
      return;
    }
    const peer = this.byApp.get(peerId);
    if (!peer) {
      return this.fail(
        session,
        ErrorCode.ERROR_CODE_PEER_UNAVAILABLE,
        "the peer app is not connected; retry later",
        {
          ...detail,
          retryAfterMs: PEER_RETRY_MS,
        },
      );
    }
    this.chats.deliver(peer, chat, dir, appId, m.seq, m.ciphertext, now);
    this.chats.hot.relayed.inc();
    this.chats.hot.bytes.inc(m.ciphertext.length);
  }

  private ack(session: Session, a: approuter.MessageAck, cid: string): void {
    const detail = { correlationId: cid, chatId: a.chatId, seq: a.seq };
    const chat = this.chats.table.get(a.chatId);
    if (!chat)
      return this.fail(session, ErrorCode.ERROR_CODE_UNKNOWN_CHAT, "cannot ack in this chat", detail);
    if (!isParticipant(chat, session.appId))
      return this.fail(session, ErrorCode.ERROR_CODE_NOT_PARTICIPANT, "cannot ack in this chat", detail);
    if (chat.state !== "ready")
      return this.fail(session, ErrorCode.ERROR_CODE_CHAT_NOT_READY, "cannot ack in this chat", detail);
    const senderId = peerOf(chat, session.appId);
    const dir = directionFrom(chat, senderId);
    if (a.seq > dir.forwarded) {
      return this.fail(
        session,
        ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
        `ack for seq ${a.seq}, but only ${dir.forwarded} were delivered`,
        detail,
      );
    }
    const now = this.clock.now();
    if (!applyAck(dir, a.seq, now, (s) => this.metrics.ackLatency.observe(s))) return;
    chat.lastActivity = now;
    this.chats.save(chat);
    if (chat.route.kind === "remote") {
      this.chats.hot.meshAcks.inc();
      this.chats.toRemote(chat, { $case: "relayAck", value: { chatId: chat.id, seq: a.seq } });
    } else {
      this.chats.hot.acks.inc();
      this.chats.sendTo(senderId, { $case: "ack", value: { chatId: chat.id, seq: a.seq } });
    }
  }

  // ---- lookups

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

  // ---- housekeeping

  /** Expires idle sessions, idle chats and unanswered offers. Called every sweep interval. */
  sweep(): void {
    const now = this.clock.now();
    const t = this.timeouts;
    const unauthenticatedMs = Math.min(t.sessionIdleMs, UNAUTHENTICATED_MAX_MS);
    for (const session of this.sessions) {
      const limit = session.state === "connected" ? t.sessionIdleMs : unauthenticatedMs;
      if (now - session.lastSeen > limit) {
        this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_IDLE, `no frame for ${limit} ms`);
      }
    }
    for (const chat of [...this.chats.table.all()]) {
      if (chat.state === "pending" && now - chat.createdAt > t.offerTimeoutMs) {
        this.chats.end(chat, "offer_expired", () => ChatEndReason.CHAT_END_REASON_OFFER_EXPIRED);
      } else if (chat.state === "ready" && now - chat.lastActivity > t.chatIdleMs) {
        this.chats.end(chat, "idle_expired", () => ChatEndReason.CHAT_END_REASON_IDLE_EXPIRED);
      }
    }
    // A signed StartChat is refused as stale after clockSkewMs: its id need not be remembered longer.
    this.chats.table.forgetEnded(now, 2 * t.clockSkewMs);
    const { messageBurst, messagesPerSecond } = this.limits;
    const refillMs = Math.max(60_000, Math.ceil((messageBurst / messagesPerSecond) * 1000));
    for (const [appId, left] of this.leftBudgets)
      if (now - left.at > refillMs) this.leftBudgets.delete(appId);
  }

  /**
   * On a graceful stop: the chats through other nodes end here (their nodes see this one leave
   * and end their side), so a restart does not bring back copies nobody shares any more.
   */
  dropRemoteChats(): void {
    for (const chat of [...this.chats.table.all()]) {
      if (chat.route.kind === "remote") this.chats.end(chat, "route_unavailable", () => undefined);
    }
  }

  /** Stops taking sessions and tells every app to reconnect elsewhere or later. */
  shutdown(): void {
    this.accepting = false;
    for (const session of this.sessions) {
      this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_SHUTDOWN, "node is shutting down");
    }
  }

  // ---- helpers

  private timeContext() {
    return { now: this.clock.now(), clockSkewMs: this.timeouts.clockSkewMs };
  }

  private tooManyChats(): Refusal {
    return {
      code: ErrorCode.ERROR_CODE_TOO_MANY_CHATS,
      message: `this app has ${this.limits.maxChatsPerApp} chats, the maximum`,
      limit: "max_chats",
    };
  }

  private detach(session: Session): void {
    if (session.state !== "connected" || this.byApp.get(session.appId) !== session) return;
    this.byApp.delete(session.appId);
    this.mesh?.appDisconnected(session.appId);
    this.leftBudgets.set(session.appId, { budgets: session.budgets, at: this.clock.now() });
    this.metrics.sessions.set(this.byApp.size);
    for (const chat of this.chats.table.of(session.appId)) {
      if (chat.state === "ready") rewind(directionFrom(chat, peerOf(chat, session.appId)));
    }
    this.logger.info({ app: session.appId, session: session.id }, "app disconnected");
  }

  private close(session: Session, reason: approuter.SessionCloseReason, detail: string): void {
    if (session.state === "closed") return;
    this.detach(session);
    session.state = "closed";
    this.sessions.delete(session);
    session.sink.send({ correlationId: "", body: { $case: "sessionClosed", value: { reason, detail } } });
    session.sink.end();
  }

  private send(session: Session, body: NodeBody, correlationId = ""): void {
    session.sink.send({ correlationId, body });
  }

  /** Refuses a frame of the app's: the refusal's limit (if any) is counted, then as fail(). */
  private refuse(session: Session, refusal: Refusal, detail: ErrorDetail): void {
    if (refusal.limit) this.metrics.limitRefusals.inc({ limit: refusal.limit });
    this.fail(session, refusal.code, refusal.message, detail);
  }

  private fail(session: Session, code: approuter.ErrorCode, message: string, detail: ErrorDetail = {}): void {
    const label = codeLabel(code);
    this.metrics.refusedFrames.inc({ code: label });
    this.logger.debug(
      { app: session.appId || undefined, session: session.id, code: label, message },
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
    if (ABUSIVE.has(code) && !session.badFrames.take(this.clock.now()).ok) {
      this.metrics.limitRefusals.inc({ limit: "bad_frames" });
      this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_PROTOCOL, "too many bad frames");
    }
  }
}
