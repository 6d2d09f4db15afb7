import { randomBytes } from "node:crypto";
import { approuter, type nodemesh } from "@hermes/proto";
import type { Logger } from "pino";
import { CHAT_ID_PATTERN, deriveId, ID_PATTERN, type Identity } from "../identity/index.js";
import { type ConnectProof, connectProof, offerFrame } from "../protocol/index.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { TurnAway } from "../transport/door.js";
import type { Clock } from "../utils/clock.js";
import { AddressBudgets } from "./address-budgets.js";
import type { AppFrameHost, ErrorDetail } from "./app-host.js";
import { directionFrom, peerOf, rewind } from "./chat.js";
import { acceptChat, deleteChat, rejectChat, startChat } from "./chat-requests.js";
import type { ChatStore } from "./chat-store.js";
import { Chats, type NodeBody } from "./chats.js";
import { ABUSIVE, checkConnect, codeLabel, type Refusal } from "./checks.js";
import type { RouterLimits, RouterTimeouts } from "./config.js";
import { connectAck } from "./connect-ack.js";
import { type AppLocator, localOnly, type MeshLink } from "./locator.js";
import { ack, message } from "./messages.js";
import { resumeChats } from "./resume.js";
import { type AppBudgets, Session, type SessionSink } from "./session.js";
import { Tielines } from "./tielines.js";

const { ErrorCode, ChatEndReason, SessionCloseReason } = approuter;

export const PROTOCOL_VERSION = 1;

/** A frame as it comes off the wire: decoded, or the reason it could not be. */
export type InboundFrame = approuter.AppFrame | { malformed: string };

/** Refusals are all counted; each kind is logged at most once per this interval. */
const REFUSAL_LOG_INTERVAL_MS = 1000;
/** Longest correlation_id taken (the SDK's are a few characters); a longer one is refused, not echoed. */
const MAX_CORRELATION_ID_LENGTH = 128;
/** Told to apps refused for capacity: when to try again. */
const AT_CAPACITY_RETRY_MS = 5000;

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
  private readonly addresses: AddressBudgets;
  /** When each kind of rate-limited warning was last logged. */
  private readonly lastWarned = new Map<string, number>();
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
  private readonly host: AppFrameHost;
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
    this.addresses = new AddressBudgets(init.limits);
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
            closeSession: (appId, reason, detail, replacedBy) => {
              const session = this.byApp.get(appId);
              if (session) this.close(session, reason, detail, replacedBy);
              return session !== undefined;
            },
          },
          { nodeId: identity.id, limits: init.limits, clockSkewMs: init.timeouts.clockSkewMs },
        )
      : undefined;
    // Moves of the apps its chats follow need proof too: a claimed move would send them after it.
    mesh?.followApps((appId) => {
      for (const _ of this.chats.table.of(appId)) return true;
      return false;
    });
    this.host = {
      nodeId: identity.id,
      chats: this.chats,
      clock,
      metrics,
      limits: init.limits,
      mesh,
      timeContext: () => this.timeContext(),
      session: (appId) => this.byApp.get(appId),
      send: (session, body, correlationId) => this.send(session, body, correlationId),
      fail: (session, code, message, detail) => this.fail(session, code, message, detail),
      refuse: (session, refusal, detail) => this.refuse(session, refusal, detail),
      note: (session, code, message) => this.note(session, code, message),
    };
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

  nodeLost(nodeId: string): number {
    return this.tielines?.nodeLost(nodeId) ?? 0;
  }

  tielineUp(nodeId: string): void {
    this.tielines?.tielineUp(nodeId);
  }

  /** The app connected to node `nodeId`, as `proof` (its signed Connect there) shows. */
  appLocated(appId: string, nodeId: string, proof: ConnectProof): void {
    this.tielines?.appLocated(appId, nodeId, proof);
  }

  // ---- session lifecycle

  /** A new stream from `remoteAddress` (its host; empty when unknown). */
  open(sink: SessionSink, remoteAddress = ""): Session {
    const now = this.clock.now();
    const id = randomBytes(16).toString("hex");
    const session = new Session(id, randomBytes(32), sink, this.limits, now, remoteAddress);
    this.sessions.add(session);
    if (!this.accepting) {
      this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_SHUTDOWN, "node is shutting down");
      return session;
    }
    if (this.sessions.size - this.byApp.size > this.limits.maxUnauthenticatedSessions) {
      this.metrics.limitRefusals.inc({ limit: "unauthenticated_sessions" });
      this.warnOnce(
        "unauthenticated_sessions",
        { remote: remoteAddress },
        "too many streams not yet connected",
      );
      this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_SHUTDOWN, "node at capacity");
      return session;
    }
    // Whatever it sends meanwhile, a stream that does not connect in time goes.
    const within = this.timeouts.authenticateWithinMs;
    session.cancelAuthDeadline = this.clock.setTimeout(() => {
      if (session.state !== "challenged") return;
      this.limitReached("authenticate_within", session, `no connect within ${within} ms`);
      this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_IDLE, `no connect within ${within} ms`);
    }, within);
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
    session.cancelAuthDeadline?.();
    this.detach(session);
    session.state = "closed";
  }

  /**
   * The shell cut `session` for not reading what it was sent: that counts against its address,
   * whose next connects are refused once it has been cut too often.
   */
  cutSlow(session: Session): void {
    this.addresses.cutSlow(session.remoteAddress, this.clock.now());
    this.disconnected(session);
  }

  receive(session: Session, frame: InboundFrame): void {
    if (session.state === "closed") return;
    const now = this.clock.now();
    session.lastSeen = now;
    const frames = session.frames.take(now, frameCost(frame));
    if (!frames.ok) {
      // Every kind of frame counts, the ignored ones too (an ack for seq 0 costs as much to read).
      this.refuseFrameRate(session, frame, frames.retryAfterMs);
      this.spendBadFrame(session);
      return;
    }
    if ("malformed" in frame) {
      this.fail(session, ErrorCode.ERROR_CODE_MALFORMED_FRAME, `not an AppFrame: ${frame.malformed}`);
      // Before a Connect there is nothing to keep the stream for.
      if (session.state === "challenged")
        this.close(
          session,
          SessionCloseReason.SESSION_CLOSE_REASON_PROTOCOL,
          "a malformed frame before connect",
        );
      return;
    }
    // What a node echoes back stays small: an oversized id is refused, not repeated.
    if (frame.correlationId.length > MAX_CORRELATION_ID_LENGTH) {
      const message = `correlation_id longer than ${MAX_CORRELATION_ID_LENGTH} characters`;
      this.fail(session, ErrorCode.ERROR_CODE_INVALID_ARGUMENT, message);
      return;
    }
    const cid = frame.correlationId;
    const body = frame.body;
    if (!body) {
      this.fail(session, ErrorCode.ERROR_CODE_MALFORMED_FRAME, "frame has no body", { correlationId: cid });
      return;
    }
    const chatId = (body.value as { chatId?: string }).chatId;
    if (chatId !== undefined && !this.chatIdOk(session, chatId, cid)) return;
    if (body.$case === "connect") return this.connect(session, body.value, cid);
    if (session.state !== "connected") {
      this.fail(session, ErrorCode.ERROR_CODE_NOT_CONNECTED, `${body.$case} before connect`, {
        correlationId: cid,
      });
      return;
    }
    switch (body.$case) {
      case "message":
        return message(this.host, session, body.value, cid);
      case "ack":
        return ack(this.host, session, body.value, cid);
      case "startChat":
        return startChat(this.host, session, body.value, cid);
      case "acceptChat":
        return acceptChat(this.host, session, body.value, cid);
      case "rejectChat":
        return rejectChat(this.host, session, body.value, cid);
      case "deleteChat":
        return deleteChat(this.host, session, body.value, cid);
      case "findApp":
        return this.findApp(session, body.value, cid);
      case "heartbeat":
        return this.send(session, { $case: "heartbeat", value: { timestampMs: this.clock.now() } }, cid);
      case "batch":
        return this.batch(session, body.value);
    }
  }

  /** Each message, then each ack, as if it had come alone. */
  private batch(session: Session, batch: approuter.MessageBatch): void {
    for (const m of batch.messages) {
      if (session.state !== "connected") return;
      if (this.chatIdOk(session, m.chatId, "")) message(this.host, session, m, "");
    }
    for (const a of batch.acks) {
      if (session.state !== "connected") return;
      if (this.chatIdOk(session, a.chatId, "")) ack(this.host, session, a, "");
    }
  }

  /**
   * A frame over the frame budget. The sender is told, for each chat with messages in it, which
   * seq to send again and when (an SDK retries that chat then); a request gets its answer.
   */
  private refuseFrameRate(session: Session, frame: InboundFrame, retryAfterMs: number): void {
    const refusal = {
      code: ErrorCode.ERROR_CODE_RATE_LIMITED,
      message: `more than ${this.limits.framesPerSecond} frames per second`,
      limit: "frame_rate",
    };
    const body = "malformed" in frame ? undefined : frame.body;
    const messages =
      body?.$case === "message" ? [body.value] : body?.$case === "batch" ? body.value.messages : [];
    const firstSeq = new Map<string, number>();
    for (const m of messages)
      if (CHAT_ID_PATTERN.test(m.chatId) && !firstSeq.has(m.chatId)) firstSeq.set(m.chatId, m.seq);
    if (firstSeq.size === 0) {
      const cid =
        "malformed" in frame || frame.correlationId.length > MAX_CORRELATION_ID_LENGTH
          ? ""
          : frame.correlationId;
      this.refuse(session, refusal, { correlationId: cid, retryAfterMs });
      return;
    }
    for (const [chatId, seq] of firstSeq) this.refuse(session, refusal, { chatId, seq, retryAfterMs });
  }

  /** A chat id the node would echo must be one: anything else is refused without echo. */
  private chatIdOk(session: Session, chatId: string, cid: string): boolean {
    if (CHAT_ID_PATTERN.test(chatId)) return true;
    const message = "chat_id must be 32 lowercase hex characters";
    this.fail(session, ErrorCode.ERROR_CODE_INVALID_ARGUMENT, message, { correlationId: cid });
    return false;
  }

  private connect(session: Session, connect: approuter.Connect, cid: string): void {
    if (session.state === "connected") {
      this.fail(session, ErrorCode.ERROR_CODE_ALREADY_CONNECTED, "this stream is already connected", {
        correlationId: cid,
      });
      return;
    }
    // A signature check is the dearest thing a stranger can ask for: budgeted per address.
    const allowed = this.addresses.takeConnect(session.remoteAddress, this.clock.now());
    if (!allowed.ok) {
      this.metrics.connects.inc({ result: "refused" });
      const from = session.remoteAddress || "this address";
      const why =
        allowed.bar === "slow_reader"
          ? `streams from ${from} were cut too often for not reading what they were sent`
          : `too many connects from ${from}`;
      this.refuse(
        session,
        { code: ErrorCode.ERROR_CODE_RATE_LIMITED, message: `${why}; retry later`, limit: "connect_rate" },
        { correlationId: cid, retryAfterMs: allowed.retryAfterMs },
      );
      this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_PROTOCOL, "too many connects");
      // A barred address is sent to the door, which turns it away (admitConnection).
      if (allowed.bar) session.sink.goAway?.();
      return;
    }
    const problem = checkConnect(connect, this.nodeId, session.nonce, this.timeContext());
    if (problem) {
      this.metrics.connects.inc({ result: "auth_failed" });
      this.addresses.failed(session.remoteAddress, this.clock.now());
      this.fail(session, ErrorCode.ERROR_CODE_AUTH_FAILED, problem, { correlationId: cid });
      this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_PROTOCOL, "authentication failed");
      return;
    }
    const appId = deriveId(connect.publicKey);
    const previous = this.byApp.get(appId);
    if (!previous && this.byApp.size >= this.limits.maxSessions) {
      this.metrics.connects.inc({ result: "refused" });
      this.limitReached(
        "max_sessions",
        session,
        `node is at its limit of ${this.limits.maxSessions} sessions`,
      );
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
    // Kept for the directory (other nodes believe a move on it) and shown to a replaced session.
    const proof = connectProof(this.nodeId, connect);
    if (previous) {
      session.budgets = previous.budgets;
      this.close(
        previous,
        SessionCloseReason.SESSION_CLOSE_REASON_REPLACED,
        `replaced by session ${session.id}`,
        proof,
      );
    }
    this.leftBudgets.delete(appId);
    session.state = "connected";
    session.cancelAuthDeadline?.();
    session.appId = appId;
    session.publicKey = Uint8Array.from(connect.publicKey);
    session.takesBatches = connect.takesBatches;
    this.byApp.set(appId, session);
    this.mesh?.appConnected(appId, proof);
    this.metrics.sessions.set(this.byApp.size);
    this.metrics.connects.inc({ result: previous ? "replaced" : "ok" });
    this.logger.info({ app: appId, session: session.id, replaced: Boolean(previous) }, "app connected");

    const ended = resumeChats(this.host, session, connect.resume);
    const { ack, offers } = connectAck(this.chats.table, {
      sessionId: session.id,
      appId,
      nodeId: this.nodeId,
      nodePublicKey: this.identity.publicKey,
      limits: this.limits,
      timeouts: this.timeouts,
      endpoints: this.locator.endpoints(),
      replaced: Boolean(previous),
    });
    // Before the ConnectAck, so that the app knows why a chat it resumed is not in it.
    for (const end of ended) this.send(session, { $case: "chatDeleted", value: end });
    this.send(session, { $case: "connectAck", value: ack }, cid);
    for (const offer of offers) this.send(session, { $case: "chatOffer", value: offerFrame(offer) });
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
    for (const session of this.sessions) {
      if (session.state === "connected" && now - session.lastSeen > t.sessionIdleMs) {
        this.close(
          session,
          SessionCloseReason.SESSION_CLOSE_REASON_IDLE,
          `no frame for ${t.sessionIdleMs} ms`,
        );
      }
    }
    for (const chat of [...this.chats.table.all()]) {
      if (chat.state === "pending" && now - chat.createdAt > t.offerTimeoutMs) {
        this.chats.end(chat, "offer_expired", () => ChatEndReason.CHAT_END_REASON_OFFER_EXPIRED);
      } else if (chat.state === "ready" && now - chat.lastActivity > t.chatIdleMs) {
        this.chats.end(chat, "idle_expired", () => ChatEndReason.CHAT_END_REASON_IDLE_EXPIRED);
      }
    }
    this.tielines?.relocate();
    // A signed StartChat is refused as stale after clockSkewMs: its id need not be remembered longer.
    this.chats.table.forgetEnded(now, 2 * t.clockSkewMs);
    const { messageBurst, messagesPerSecond } = this.limits;
    const refillMs = Math.max(60_000, Math.ceil((messageBurst / messagesPerSecond) * 1000));
    for (const [appId, left] of this.leftBudgets)
      if (now - left.at > refillMs) this.leftBudgets.delete(appId);
  }

  /**
   * This node is cut off from every other node: apps whose chats cross to other nodes are asked
   * to connect to another node, where those chats can go on (they come back here if no other
   * node answers). Apps whose chats all stay on this node keep their sessions.
   */
  sendAway(detail: string): number {
    let sent = 0;
    for (const session of [...this.byApp.values()]) {
      const crosses = [...this.chats.table.of(session.appId)].some(
        (chat) => chat.state === "ready" && chat.route.kind === "remote",
      );
      if (!crosses) continue;
      this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_ISOLATED, detail);
      sent++;
    }
    if (sent > 0) this.logger.warn({ apps: sent }, "apps with chats across nodes sent to other nodes");
    return sent;
  }

  /**
   * The door: may a new connection from `address` in? It takes a connect for the connection's
   * Connect, or says why not and for how long (the address is barred, or has no connect left).
   * A connection turned away costs the node far less than a refused stream.
   */
  admitConnection(address: string): TurnAway | undefined {
    return this.addresses.admit(address, this.clock.now());
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

  /** Ends a session, telling the app why; a REPLACED one is shown the Connect that replaced it. */
  private close(
    session: Session,
    reason: approuter.SessionCloseReason,
    detail: string,
    replacedBy?: ConnectProof,
  ): void {
    if (session.state === "closed") return;
    session.cancelAuthDeadline?.();
    this.detach(session);
    session.state = "closed";
    this.sessions.delete(session);
    const value: approuter.SessionClosed = { reason, detail, replacedBy: undefined };
    if (replacedBy) {
      const { nodeId, nonce, timestampMs, signature } = replacedBy;
      value.replacedBy = { nodeId, nonce, timestampMs, signature };
    }
    session.sink.send({ correlationId: "", body: { $case: "sessionClosed", value } });
    session.sink.end();
  }

  private send(session: Session, body: NodeBody, correlationId = ""): void {
    session.sink.send({ correlationId, body });
  }

  /** Refuses a frame of the app's: the refusal's limit (if any) is counted, then as fail(). */
  private refuse(session: Session, refusal: Refusal, detail: ErrorDetail): void {
    if (refusal.limit) this.limitReached(refusal.limit, session, refusal.message);
    this.fail(session, refusal.code, refusal.message, detail);
  }

  private note(session: Session, code: approuter.ErrorCode, message: string): void {
    const label = codeLabel(code);
    this.metrics.refusedFrames.inc({ code: label });
    this.logger.debug(
      { app: session.appId || undefined, session: session.id, code: label, message },
      "frame refused",
    );
  }

  private fail(session: Session, code: approuter.ErrorCode, message: string, detail: ErrorDetail = {}): void {
    this.note(session, code, message);
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
    if (ABUSIVE.has(code)) this.spendBadFrame(session);
  }

  /** One more bad frame; past the budget the session is closed. */
  private spendBadFrame(session: Session): void {
    if (session.state === "closed" || session.badFrames.take(this.clock.now()).ok) return;
    this.limitReached("bad_frames", session, "too many bad frames");
    this.close(session, SessionCloseReason.SESSION_CLOSE_REASON_PROTOCOL, "too many bad frames");
  }

  /** A bound bit: counted every time, logged at most once per REFUSAL_LOG_INTERVAL_MS per limit. */
  private limitReached(limit: string, session: Session, detail: string): void {
    this.metrics.limitRefusals.inc({ limit });
    this.warnOnce(
      limit,
      { limit, app: session.appId || undefined, remote: session.remoteAddress || undefined, detail },
      "limit reached",
    );
  }

  /** A warning per kind at most once per REFUSAL_LOG_INTERVAL_MS: a flood is counted, not logged line by line. */
  private warnOnce(kind: string, fields: object, message: string): void {
    const now = this.clock.now();
    const last = this.lastWarned.get(kind) ?? Number.NEGATIVE_INFINITY;
    if (now - last < REFUSAL_LOG_INTERVAL_MS) return;
    this.lastWarned.set(kind, now);
    this.logger.warn(fields, message);
  }
}

/** What a frame spends of its session's frame budget: one, or one per message and ack in a batch. */
function frameCost(frame: InboundFrame): number {
  if ("malformed" in frame || frame.body?.$case !== "batch") return 1;
  const { messages, acks } = frame.body.value;
  return Math.max(1, messages.length + acks.length);
}
