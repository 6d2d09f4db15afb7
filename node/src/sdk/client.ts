import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type * as grpc from "@grpc/grpc-js";
import { approuter } from "@hermes/proto";
import { type Identity, idMatchesKey } from "../identity/index.js";
import { checkReady, signAccept, signOffer, signResume, verifyOffer } from "../protocol/index.js";
import { type Clock, systemClock } from "../utils/clock.js";
import { Chat, type ChatLink } from "./chat.js";
import { Connection, type OpenStream } from "./connection.js";
import { deriveChatKeys, newEphemeral } from "./e2e.js";
import { ChatRejectedError, NodeError, NodeUnreachableError, PeerVerificationError } from "./errors.js";

const { ErrorCode, ChatEndReason } = approuter;

/** Refusals of an answer to an offer that leave the offer standing: answer it again later. */
const RETRYABLE = new Set<approuter.ErrorCode>([
  ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE,
  ErrorCode.ERROR_CODE_RATE_LIMITED,
  ErrorCode.ERROR_CODE_PEER_UNAVAILABLE,
]);

/** How often unacked messages are checked against retransmitAfterMs. */
const RETRANSMIT_CHECK_MS = 1000;
/** The least a refused message waits before it is sent again. */
const MIN_RETRY_MS = 20;
/** Errors about a chat that ended are not news: ids of ended chats are kept this long. */
const ENDED_MEMORY_MS = 60_000;

export interface ClientOptions {
  /** host:port of a Hermes node (or a Service in front of several). */
  endpoint: string;
  /** More nodes to fail over to, besides those the node names in ConnectAck. */
  endpoints?: string[];
  identity: Identity;
  /** Defaults to plain text (a dev node). */
  credentials?: grpc.ChannelCredentials;
  /** Reconnect backoff: doubles from initialDelayMs (100) up to maxDelayMs (2000), with jitter. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** An attempt that brings no session within this long moves on to the next node (3000). */
  connectTimeoutMs?: number;
  /**
   * After the session is lost, how long until the app is told that no node takes it back
   * (`unreachable` event; pending sends reject with NodeUnreachableError). Default 10000.
   */
  unreachableAfterMs?: number;
  /**
   * HTTP/2 pings: a node that stops answering (a stopped process, a cut cable) is noticed within
   * timeMs + timeoutMs (3000 + 2000), about as soon as the mesh notices it.
   */
  keepalive?: { timeMs?: number; timeoutMs?: number };
  /** How streams are opened; tests put an in-memory transport here. */
  open?: OpenStream;
  /** Messages per chat on the wire and not yet acked. */
  maxInFlight?: number;
  /** Unacked messages older than this are sent again. */
  retransmitAfterMs?: number;
  /** How long connect() and startChat() wait. */
  timeoutMs?: number;
  /** Time and timers; tests pass a FakeClock. */
  clock?: Clock;
}

export interface IncomingOffer {
  chatId: string;
  fromAppId: string;
  accept(): Promise<Chat>;
  reject(reason?: string): void;
}

interface PendingStart {
  ephemeral: { secretKey: Uint8Array; publicKey: Uint8Array };
  role: "initiator" | "target";
  resolve: (chat: Chat) => void;
  reject: (error: Error) => void;
  cancelTimer: () => void;
}

/**
 * A Hermes app: one long-lived stream to a node (connection.ts), and on it the chat handshake:
 * offers signed and checked here, the whole transcript verified by the app itself (the node is
 * not trusted for it), keys agreed, chats resumed after a reconnect with what the peer has not
 * acknowledged sent again. Keys never leave this process.
 */
export class HermesClient extends EventEmitter<{
  connected: [{ sessionId: string; nodeId: string; resumedChats: number }];
  disconnected: [string];
  /** No node took the app back within unreachableAfterMs; it keeps trying. */
  unreachable: [NodeUnreachableError];
  offer: [IncomingOffer];
  chat: [Chat];
  chatEnded: [Chat, approuter.ChatEndReason];
  error: [Error];
}> {
  readonly appId: string;
  private readonly connection: Connection;
  private readonly identity: Identity;
  private readonly clock: Clock;
  private readonly maxInFlight: number;
  private readonly retransmitAfterMs: number;
  private readonly timeoutMs: number;
  private closed = false;
  private readonly starts = new Map<string, PendingStart>();
  private readonly chatsById = new Map<string, Chat>();
  private readonly stopRetransmitCheck: () => void;
  private maxCiphertextBytes = Number.MAX_SAFE_INTEGER;
  private reachable = true;
  /** Chats that ended lately, and when: late errors about them are dropped. */
  private readonly endedChats = new Map<string, number>();
  private firstConnect: { resolve: () => void; reject: (e: Error) => void } | undefined;
  readonly link: ChatLink;

  constructor(options: ClientOptions) {
    super();
    this.identity = options.identity;
    this.appId = options.identity.id;
    this.clock = options.clock ?? systemClock;
    this.maxInFlight = options.maxInFlight ?? 128;
    this.retransmitAfterMs = options.retransmitAfterMs ?? 5_000;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.connection = new Connection({
      endpoints: [options.endpoint, ...(options.endpoints ?? [])],
      identity: options.identity,
      ...(options.credentials ? { credentials: options.credentials } : {}),
      ...(options.open ? { open: options.open } : {}),
      reconnect: {
        initialMs: options.reconnect?.initialDelayMs ?? 100,
        maxMs: options.reconnect?.maxDelayMs ?? 2_000,
      },
      connectTimeoutMs: options.connectTimeoutMs ?? 3_000,
      unreachableAfterMs: options.unreachableAfterMs ?? 10_000,
      keepalive: {
        timeMs: options.keepalive?.timeMs ?? 3_000,
        timeoutMs: options.keepalive?.timeoutMs ?? 2_000,
      },
      resume: (nodeId, timestampMs) => this.resumeList(nodeId, timestampMs),
      clock: this.clock,
    });
    this.connection.on("connected", (ack) => this.connectAcked(ack));
    this.connection.on("disconnected", (why) => this.emit("disconnected", why));
    this.connection.on("unreachable", (why) => this.unreachable(why));
    this.connection.on("frame", (frame) => this.dispatch(frame));
    this.connection.on("problem", (error) => this.report(error));
    this.connection.on("takenOver", (detail) => {
      // Another process holding this identity connected after us; reconnecting would only fight it.
      this.report(new Error(`session replaced: ${detail}`));
      void this.close();
    });
    const self = this;
    this.link = {
      write: (body) => self.connection.write(body),
      clock: this.clock,
      get reachable() {
        return self.reachable;
      },
      get maxInFlight() {
        return self.maxInFlight;
      },
      get maxCiphertextBytes() {
        return self.maxCiphertextBytes;
      },
    };
    this.stopRetransmitCheck = this.clock.setInterval(() => {
      if (!this.connection.isConnected) return;
      const now = this.clock.now();
      for (const chat of this.chatsById.values()) chat.checkTimeout(now, this.retransmitAfterMs);
    }, RETRANSMIT_CHECK_MS);
  }

  get isConnected(): boolean {
    return this.connection.isConnected;
  }

  get nodeId(): string {
    return this.connection.nodeId;
  }

  get sessionId(): string {
    return this.connection.sessionId;
  }

  /** The node endpoint the session is on (or being opened on). */
  get endpoint(): string {
    return this.connection.endpoint;
  }

  /** Connects (and keeps reconnecting until close()). Resolves on the first ConnectAck. */
  connect(): Promise<void> {
    if (this.connection.isConnected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const cancel = this.clock.setTimeout(
        () =>
          reject(
            new Error(
              `no session with ${this.connection.knownEndpoints.join(" or ")} after ${this.timeoutMs} ms`,
            ),
          ),
        this.timeoutMs,
      );
      this.firstConnect = {
        resolve: () => {
          cancel();
          resolve();
        },
        reject: (error) => {
          cancel();
          reject(error);
        },
      };
      this.connection.start();
    });
  }

  /** Starts a chat with another app; resolves once it accepted and keys are agreed. */
  startChat(targetAppId: string): Promise<Chat> {
    const chatId = randomBytes(16).toString("hex");
    const ephemeral = newEphemeral();
    const start = signOffer(this.identity, {
      chatId,
      targetAppId,
      ephemeralKey: ephemeral.publicKey,
      timestampMs: this.clock.now(),
    });
    const promise = this.awaitReady(chatId, ephemeral, "initiator");
    if (!this.connection.write({ $case: "startChat", value: start })) {
      this.settleStart(chatId, new Error("not connected"));
    }
    return promise;
  }

  findApp(appId: string): Promise<approuter.FindAppResult> {
    return this.connection.request({ $case: "findApp", value: { appId } }).then((frame) => {
      if (frame.body?.$case !== "findAppResult") throw new Error(`unexpected answer ${frame.body?.$case}`);
      return frame.body.value;
    });
  }

  chats(): Chat[] {
    return [...this.chatsById.values()];
  }

  chat(chatId: string): Chat | undefined {
    return this.chatsById.get(chatId);
  }

  /** Ends the session for good. Chats stay on the node until they expire or are deleted. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopRetransmitCheck();
    for (const [chatId] of this.starts) this.settleStart(chatId, new Error("client closed"));
    for (const chat of this.chatsById.values()) chat.end(ChatEndReason.CHAT_END_REASON_UNSPECIFIED);
    this.chatsById.clear();
    this.connection.close();
  }

  // ---- frames from the node

  private dispatch(frame: approuter.NodeFrame): void {
    const body = frame.body;
    if (!body) return;
    switch (body.$case) {
      case "delivery":
        return this.chatsById.get(body.value.chatId)?.delivered(body.value.seq, body.value.ciphertext);
      case "ack":
        return this.chatsById.get(body.value.chatId)?.acked(body.value.seq);
      case "batch":
        for (const d of body.value.deliveries) this.chatsById.get(d.chatId)?.delivered(d.seq, d.ciphertext);
        for (const a of body.value.acks) this.chatsById.get(a.chatId)?.acked(a.seq);
        return;
      case "chatOffer":
        return this.offered(body.value);
      case "chatReady":
        return this.chatReady(body.value);
      case "chatRejected":
        return this.settleStart(
          body.value.chatId,
          new ChatRejectedError(body.value.chatId, body.value.reason),
        );
      case "chatDeleted":
        return this.chatDeleted(body.value.chatId, body.value.reason);
      case "error":
        return this.nodeError(body.value);
      default:
        return;
    }
  }

  /**
   * Every chat this app holds, signed for the node that challenged: the node takes its marks
   * from these and carries on a chat it does not know (the app failed over to it).
   */
  private resumeList(nodeId: string, timestampMs: number): approuter.ChatResume[] {
    const resumes: approuter.ChatResume[] = [];
    for (const chat of this.chatsById.values()) {
      if (!chat.transcript) continue;
      resumes.push(
        signResume(
          this.identity,
          nodeId,
          { ready: chat.transcript, delivered: chat.receivedSeq, ackedByPeer: chat.ackedSeq },
          timestampMs,
        ),
      );
    }
    return resumes;
  }

  private connectAcked(ack: approuter.ConnectAck): void {
    if (ack.limits?.maxCiphertextBytes) this.maxCiphertextBytes = ack.limits.maxCiphertextBytes;
    this.reachable = true;
    const live = new Set<string>();
    for (const state of ack.chats) {
      const chatId = state.ready?.chatId ?? "";
      const chat = this.chatsById.get(chatId);
      if (chat) {
        live.add(chatId);
        chat.resend(state.ackedByPeer);
      } else if (chatId && this.starts.has(chatId) && state.ready) {
        // It became ready while we were away (the peer accepted our offer meanwhile).
        this.chatReady(state.ready);
        live.add(chatId);
      } else if (chatId && !this.starts.has(chatId)) {
        // A chat from an earlier run of this app: its keys are gone, so it cannot go on.
        this.connection.write({ $case: "deleteChat", value: { chatId } });
      }
    }
    // Chats the node did not take back were told of (ChatDeleted) before; any left cannot go on.
    for (const chat of this.chatsById.values()) {
      if (!live.has(chat.id)) this.chatDeleted(chat.id, ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE);
    }
    // Offers are not carried over from a node that went away: say so now, not at the timeout.
    const pending = new Set(ack.pendingOffers);
    for (const [chatId, start] of this.starts) {
      if (live.has(chatId) || (start.role === "initiator" && pending.has(chatId))) continue;
      this.settleStart(
        chatId,
        new NodeError(
          ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE,
          start.role === "initiator"
            ? `the offer of chat ${chatId} was lost with the node it was made on; start the chat again`
            : `the answer to chat ${chatId} was lost with the node; answer the offer again if it is made again`,
          chatId,
        ),
      );
    }
    this.emit("connected", { sessionId: ack.sessionId, nodeId: ack.nodeId, resumedChats: live.size });
    this.firstConnect?.resolve();
    this.firstConnect = undefined;
  }

  /** No node took the app back in time: pending sends reject; the chats stay and resume later. */
  private unreachable(why: string): void {
    this.reachable = false;
    for (const chat of this.chatsById.values()) chat.unreachable();
    const error = new NodeUnreachableError("", true);
    error.message = `no node took the session back within the bound: ${why}`;
    if (this.listenerCount("unreachable") > 0) this.emit("unreachable", error);
  }

  private offered(frame: approuter.ChatOffer): void {
    const problem = this.checkOffer(frame);
    if (problem) {
      this.report(new PeerVerificationError(problem));
      this.connection.write({
        $case: "rejectChat",
        value: { chatId: frame.chatId, reason: "offer failed verification" },
      });
      return;
    }
    let answered = false;
    const incoming: IncomingOffer = {
      chatId: frame.chatId,
      fromAppId: frame.initiatorAppId,
      accept: () => {
        if (answered) return Promise.reject(new Error("offer already answered"));
        answered = true;
        const retryable = (error: unknown) => {
          // The node could not take the answer now (its tieline is down): the offer stands.
          if (error instanceof NodeError && RETRYABLE.has(error.code)) answered = false;
          throw error;
        };
        const ephemeral = newEphemeral();
        const accept = signAccept(
          this.identity,
          { chatId: frame.chatId, initiatorAppId: frame.initiatorAppId, ephemeralKey: frame.ephemeralKey },
          ephemeral.publicKey,
          this.clock.now(),
        );
        const promise = this.awaitReady(frame.chatId, ephemeral, "target").catch(retryable);
        if (!this.connection.write({ $case: "acceptChat", value: accept }))
          this.settleStart(
            frame.chatId,
            new NodeError(ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE, "not connected"),
          );
        return promise;
      },
      reject: (reason = "") => {
        if (answered) return;
        answered = true;
        this.connection.write({ $case: "rejectChat", value: { chatId: frame.chatId, reason } });
      },
    };
    if (this.listenerCount("offer") === 0) incoming.reject("this app takes no chats");
    else this.emit("offer", incoming);
  }

  private checkOffer(frame: approuter.ChatOffer): string | undefined {
    if (!idMatchesKey(frame.initiatorAppId, frame.initiatorPublicKey)) {
      return `offer ${frame.chatId}: initiator ID does not match its key`;
    }
    if (!verifyOffer({ ...frame, targetAppId: this.appId })) {
      return `offer ${frame.chatId}: signature does not verify`;
    }
    return undefined;
  }

  private awaitReady(
    chatId: string,
    ephemeral: PendingStart["ephemeral"],
    role: PendingStart["role"],
  ): Promise<Chat> {
    return new Promise((resolve, reject) => {
      const cancelTimer = this.clock.setTimeout(
        () => this.settleStart(chatId, new Error(`chat ${chatId} not ready after ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      this.starts.set(chatId, { ephemeral, role, resolve, reject, cancelTimer });
    });
  }

  private settleStart(chatId: string, result: Chat | Error): void {
    const start = this.starts.get(chatId);
    if (!start) return;
    this.starts.delete(chatId);
    start.cancelTimer();
    start.ephemeral.secretKey.fill(0);
    if (result instanceof Error) start.reject(result);
    else start.resolve(result);
  }

  /** Checks the whole transcript itself (the node is not trusted for it), then derives the keys. */
  private chatReady(ready: approuter.ChatReady): void {
    const start = this.starts.get(ready.chatId);
    if (!start) return;
    const problem =
      checkOwnHalf(ready, this.appId, start.role, start.ephemeral.publicKey) ?? checkReady(ready);
    if (problem) {
      this.settleStart(ready.chatId, new PeerVerificationError(problem));
      this.connection.write({ $case: "deleteChat", value: { chatId: ready.chatId } });
      return;
    }
    const keys = deriveChatKeys(ready, start.role, start.ephemeral.secretKey);
    const peer = start.role === "initiator" ? ready.targetAppId : ready.initiatorAppId;
    const chat = new Chat(ready.chatId, peer, start.role, keys, this.link, ready);
    this.chatsById.set(chat.id, chat);
    this.settleStart(ready.chatId, chat);
    this.emit("chat", chat);
  }

  private chatDeleted(chatId: string, reason: approuter.ChatEndReason): void {
    this.settleStart(chatId, new Error(`chat ${chatId} ended before it was ready: ${ChatEndReason[reason]}`));
    const chat = this.chatsById.get(chatId);
    if (!chat) return;
    this.chatsById.delete(chatId);
    this.rememberEnded(chatId);
    chat.end(reason);
    this.emit("chatEnded", chat, reason);
  }

  private rememberEnded(chatId: string): void {
    const now = this.clock.now();
    this.endedChats.set(chatId, now);
    for (const [id, at] of this.endedChats) {
      if (now - at <= ENDED_MEMORY_MS) break;
      this.endedChats.delete(id);
    }
  }

  /** Surfaces a problem to the app if it listens; an unheard 'error' event would crash it. */
  private report(error: Error): void {
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }

  private nodeError(e: approuter.Error): void {
    const error = new NodeError(e.code, e.message, e.chatId, e.retryAfterMs);
    if (this.starts.has(e.chatId)) return this.settleStart(e.chatId, error);
    // Frames of a chat that just ended were still on their way: their refusals are not news.
    if (e.chatId && !this.chatsById.has(e.chatId) && this.endedChats.has(e.chatId)) return;
    const chat = this.chatsById.get(e.chatId);
    if (chat) {
      switch (e.code) {
        case ErrorCode.ERROR_CODE_RATE_LIMITED:
        case ErrorCode.ERROR_CODE_PEER_UNAVAILABLE:
        case ErrorCode.ERROR_CODE_OUT_OF_ORDER:
        case ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE: // the tieline is backed up or reconnecting
          return chat.refused(e.expectedSeq || e.seq, Math.max(MIN_RETRY_MS, e.retryAfterMs));
        case ErrorCode.ERROR_CODE_UNKNOWN_CHAT:
          return this.chatDeleted(chat.id, ChatEndReason.CHAT_END_REASON_UNSPECIFIED);
        case ErrorCode.ERROR_CODE_FRAME_TOO_LARGE:
          // The peer's node takes less than ours: the message can never arrive, and later ones
          // cannot skip it. The chat cannot go on.
          this.report(error);
          chat.delete();
          return;
      }
    }
    if (e.code === ErrorCode.ERROR_CODE_AUTH_FAILED && this.firstConnect) {
      this.firstConnect.reject(error);
      this.firstConnect = undefined;
      void this.close();
      return;
    }
    this.report(error);
  }
}

/** The transcript must carry this app in its own role, with the ephemeral key it made. */
function checkOwnHalf(
  ready: approuter.ChatReady,
  myAppId: string,
  role: "initiator" | "target",
  myEphemeral: Uint8Array,
): string | undefined {
  const mine = role === "initiator" ? ready.initiatorEphemeralKey : ready.targetEphemeralKey;
  const myId = role === "initiator" ? ready.initiatorAppId : ready.targetAppId;
  if (myId !== myAppId || !Buffer.from(mine).equals(Buffer.from(myEphemeral))) {
    return `chat ${ready.chatId}: the transcript does not carry this app's own key`;
  }
  return undefined;
}
