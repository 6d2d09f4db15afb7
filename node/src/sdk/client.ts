import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { approuter } from "@hermes/proto";
import { type Identity, idMatchesKey, sign, verify } from "../identity/index.js";
import { Chat, type ChatLink } from "./chat.js";
import { deriveChatKeys, newEphemeral } from "./e2e.js";
import { ChatRejectedError, NodeError, PeerVerificationError } from "./errors.js";

const { ErrorCode, ChatEndReason, SessionCloseReason } = approuter;
type Body = NonNullable<approuter.AppFrame["body"]>;

export interface ClientOptions {
  /** host:port of a Hermes node. */
  endpoint: string;
  identity: Identity;
  /** Defaults to plain text (a dev node). */
  credentials?: grpc.ChannelCredentials;
  /** Reconnect backoff: doubles from initialDelayMs up to maxDelayMs, with jitter. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Messages per chat on the wire and not yet acked. */
  maxInFlight?: number;
  /** Unacked messages older than this are sent again. */
  retransmitAfterMs?: number;
  /** How long connect() and startChat() wait. */
  timeoutMs?: number;
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
  timer: NodeJS.Timeout;
}

interface Request {
  resolve: (frame: approuter.NodeFrame) => void;
  reject: (error: Error) => void;
}

/**
 * A Hermes app: one long-lived stream to a node, reconnecting with backoff, resuming its chats
 * and retransmitting what the peer has not acknowledged. Keys never leave this process.
 */
export class HermesClient extends EventEmitter<{
  connected: [{ sessionId: string; nodeId: string; resumedChats: number }];
  disconnected: [string];
  offer: [IncomingOffer];
  chat: [Chat];
  chatEnded: [Chat, approuter.ChatEndReason];
  error: [Error];
}> {
  readonly appId: string;
  nodeId = "";
  sessionId = "";
  private readonly client: grpc.Client & {
    open(): grpc.ClientDuplexStream<approuter.AppFrame, approuter.NodeFrame>;
  };
  private stream: grpc.ClientDuplexStream<approuter.AppFrame, approuter.NodeFrame> | undefined;
  private connected = false;
  private closed = false;
  private attempt = 0;
  private nextCorrelation = 1;
  private readonly requests = new Map<string, Request>();
  private readonly starts = new Map<string, PendingStart>();
  private readonly chatsById = new Map<string, Chat>();
  private heartbeat: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly retransmitCheck: NodeJS.Timeout;
  private maxCiphertextBytes = Number.MAX_SAFE_INTEGER;
  private firstConnect: { resolve: () => void; reject: (e: Error) => void } | undefined;
  readonly link: ChatLink;
  private readonly options: Required<Omit<ClientOptions, "credentials" | "reconnect">> & {
    reconnect: { initialDelayMs: number; maxDelayMs: number };
  };

  constructor(options: ClientOptions) {
    super();
    this.options = {
      endpoint: options.endpoint,
      identity: options.identity,
      reconnect: { initialDelayMs: 100, maxDelayMs: 10_000, ...options.reconnect },
      maxInFlight: options.maxInFlight ?? 128,
      retransmitAfterMs: options.retransmitAfterMs ?? 5_000,
      timeoutMs: options.timeoutMs ?? 15_000,
    };
    this.appId = options.identity.id;
    const Client = grpc.makeGenericClientConstructor(approuter.AppRouterService, "AppRouter");
    this.client = new Client(options.endpoint, options.credentials ?? grpc.credentials.createInsecure(), {
      "grpc.keepalive_time_ms": 20_000,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.max_receive_message_length": 16 * 1024 * 1024,
      "grpc.use_local_subchannel_pool": 1, // own connection: apps behind one Service can land on different nodes
    }) as unknown as typeof this.client;
    const self = this;
    this.link = {
      write: (body) => self.write(body),
      get maxInFlight() {
        return self.options.maxInFlight;
      },
      get maxCiphertextBytes() {
        return self.maxCiphertextBytes;
      },
    };
    this.retransmitCheck = setInterval(() => {
      if (!this.connected) return;
      const now = Date.now();
      for (const chat of this.chatsById.values()) chat.checkTimeout(now, this.options.retransmitAfterMs);
    }, 1000);
    this.retransmitCheck.unref();
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Connects (and keeps reconnecting until close()). Resolves on the first ConnectAck. */
  connect(): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`no session with ${this.options.endpoint} after ${this.options.timeoutMs} ms`)),
        this.options.timeoutMs,
      );
      this.firstConnect = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      if (!this.stream && !this.reconnectTimer) this.openStream();
    });
  }

  /** Starts a chat with another app; resolves once it accepted and keys are agreed. */
  startChat(targetAppId: string): Promise<Chat> {
    const chatId = randomBytes(16).toString("hex");
    const ephemeral = newEphemeral();
    const timestampMs = Date.now();
    const signature = sign(this.options.identity.secretKey, "hermes/chat-offer/v1", [
      chatId,
      this.appId,
      targetAppId,
      ephemeral.publicKey,
      timestampMs,
    ]);
    const promise = this.awaitReady(chatId, ephemeral, "initiator");
    if (
      !this.write({
        $case: "startChat",
        value: { chatId, targetAppId, ephemeralKey: ephemeral.publicKey, timestampMs, signature },
      })
    ) {
      this.settleStart(chatId, new Error("not connected"));
    }
    return promise;
  }

  findApp(appId: string): Promise<approuter.FindAppResult> {
    return this.request({ $case: "findApp", value: { appId } }).then((frame) => {
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
    this.connected = false;
    clearInterval(this.retransmitCheck);
    clearInterval(this.heartbeat);
    clearTimeout(this.reconnectTimer);
    for (const [chatId] of this.starts) this.settleStart(chatId, new Error("client closed"));
    for (const request of this.requests.values()) request.reject(new Error("client closed"));
    this.requests.clear();
    for (const chat of this.chatsById.values()) chat.end(ChatEndReason.CHAT_END_REASON_UNSPECIFIED);
    this.chatsById.clear();
    this.stream?.end();
    this.stream?.cancel();
    this.stream = undefined;
    this.client.close();
  }

  // ------------------------------------------------------------------ stream

  private openStream(): void {
    this.reconnectTimer = undefined;
    if (this.closed) return;
    const stream = this.client.open();
    this.stream = stream;
    stream.on("data", (frame: approuter.NodeFrame) => {
      if (this.stream === stream) this.dispatch(frame);
    });
    const lost = (why: string) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.connectionLost(why);
    };
    stream.on("error", (error: grpc.ServiceError) => lost(error.details || error.message));
    stream.on("end", () => lost("stream ended by the node"));
  }

  private connectionLost(why: string): void {
    const wasConnected = this.connected;
    this.connected = false;
    clearInterval(this.heartbeat);
    for (const request of this.requests.values()) request.reject(new Error(`disconnected: ${why}`));
    this.requests.clear();
    if (wasConnected) this.emit("disconnected", why);
    if (this.closed) return;
    const { initialDelayMs, maxDelayMs } = this.options.reconnect;
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt = Math.min(this.attempt + 1, 20);
    this.reconnectTimer = setTimeout(() => this.openStream(), delay);
  }

  private write(body: Body, correlationId = ""): boolean {
    if (!this.stream || (!this.connected && body.$case !== "connect")) return false;
    this.stream.write({ correlationId, body });
    return true;
  }

  private request(body: Body): Promise<approuter.NodeFrame> {
    const correlationId = `c${this.nextCorrelation++}`;
    return new Promise((resolve, reject) => {
      if (!this.write(body, correlationId)) return reject(new Error("not connected"));
      this.requests.set(correlationId, { resolve, reject });
    });
  }

  // ------------------------------------------------------------------ inbound frames

  private dispatch(frame: approuter.NodeFrame): void {
    const body = frame.body;
    if (!body) return;
    if (frame.correlationId && body.$case !== "error") {
      const request = this.requests.get(frame.correlationId);
      if (request) {
        this.requests.delete(frame.correlationId);
        request.resolve(frame);
        return;
      }
    }
    switch (body.$case) {
      case "challenge":
        return this.answerChallenge(body.value);
      case "connectAck":
        return this.connectAcked(body.value);
      case "delivery":
        return this.chatsById.get(body.value.chatId)?.delivered(body.value.seq, body.value.ciphertext);
      case "ack":
        return this.chatsById.get(body.value.chatId)?.acked(body.value.seq);
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
        return this.nodeError(frame.correlationId, body.value);
      case "sessionClosed":
        if (body.value.reason === SessionCloseReason.SESSION_CLOSE_REASON_REPLACED) {
          // Another process took this identity over; reconnecting would only fight it.
          this.report(new Error(`session replaced: ${body.value.detail}`));
          void this.close();
        }
        return;
      case "chatPending":
      case "heartbeat":
      case "findAppResult":
        return;
    }
  }

  private answerChallenge(challenge: approuter.Challenge): void {
    if (!idMatchesKey(challenge.nodeId, challenge.nodePublicKey)) {
      this.report(new PeerVerificationError(`node ID ${challenge.nodeId} does not match its key`));
    }
    this.nodeId = challenge.nodeId;
    const timestampMs = Date.now();
    const signature = sign(this.options.identity.secretKey, "hermes/app-connect/v1", [
      challenge.nodeId,
      this.appId,
      challenge.nonce,
      timestampMs,
    ]);
    this.write({
      $case: "connect",
      value: { publicKey: this.options.identity.publicKey, nonce: challenge.nonce, timestampMs, signature },
    });
  }

  private connectAcked(ack: approuter.ConnectAck): void {
    this.connected = true;
    this.attempt = 0;
    this.sessionId = ack.sessionId;
    if (ack.limits?.maxCiphertextBytes) this.maxCiphertextBytes = ack.limits.maxCiphertextBytes;
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(
      () => this.write({ $case: "heartbeat", value: { timestampMs: Date.now() } }),
      Math.max(1000, ack.heartbeatIntervalMs),
    );
    this.heartbeat.unref();
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
        this.write({ $case: "deleteChat", value: { chatId } });
      }
    }
    for (const chat of this.chatsById.values()) {
      if (!live.has(chat.id)) this.chatDeleted(chat.id, ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE);
    }
    this.emit("connected", { sessionId: ack.sessionId, nodeId: ack.nodeId, resumedChats: live.size });
    this.firstConnect?.resolve();
    this.firstConnect = undefined;
  }

  private offered(offer: approuter.ChatOffer): void {
    const problem = this.checkOffer(offer);
    if (problem) {
      this.report(new PeerVerificationError(problem));
      this.write({
        $case: "rejectChat",
        value: { chatId: offer.chatId, reason: "offer failed verification" },
      });
      return;
    }
    let answered = false;
    const incoming: IncomingOffer = {
      chatId: offer.chatId,
      fromAppId: offer.initiatorAppId,
      accept: () => {
        if (answered) return Promise.reject(new Error("offer already answered"));
        answered = true;
        const ephemeral = newEphemeral();
        const timestampMs = Date.now();
        const signature = sign(this.options.identity.secretKey, "hermes/chat-accept/v1", [
          offer.chatId,
          offer.initiatorAppId,
          this.appId,
          offer.ephemeralKey,
          ephemeral.publicKey,
          timestampMs,
        ]);
        const promise = this.awaitReady(offer.chatId, ephemeral, "target");
        this.write({
          $case: "acceptChat",
          value: { chatId: offer.chatId, ephemeralKey: ephemeral.publicKey, timestampMs, signature },
        });
        return promise;
      },
      reject: (reason = "") => {
        if (answered) return;
        answered = true;
        this.write({ $case: "rejectChat", value: { chatId: offer.chatId, reason } });
      },
    };
    if (this.listenerCount("offer") === 0) incoming.reject("this app takes no chats");
    else this.emit("offer", incoming);
  }

  private checkOffer(offer: approuter.ChatOffer): string | undefined {
    if (!idMatchesKey(offer.initiatorAppId, offer.initiatorPublicKey)) {
      return `offer ${offer.chatId}: initiator ID does not match its key`;
    }
    const fields = [offer.chatId, offer.initiatorAppId, this.appId, offer.ephemeralKey, offer.timestampMs];
    if (!verify(offer.initiatorPublicKey, offer.signature, "hermes/chat-offer/v1", fields)) {
      return `offer ${offer.chatId}: signature does not verify`;
    }
    return undefined;
  }

  private awaitReady(
    chatId: string,
    ephemeral: PendingStart["ephemeral"],
    role: PendingStart["role"],
  ): Promise<Chat> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.settleStart(chatId, new Error(`chat ${chatId} not ready after ${this.options.timeoutMs} ms`)),
        this.options.timeoutMs,
      );
      this.starts.set(chatId, { ephemeral, role, resolve, reject, timer });
    });
  }

  private settleStart(chatId: string, result: Chat | Error): void {
    const start = this.starts.get(chatId);
    if (!start) return;
    this.starts.delete(chatId);
    clearTimeout(start.timer);
    start.ephemeral.secretKey.fill(0);
    if (result instanceof Error) start.reject(result);
    else start.resolve(result);
  }

  /** Checks the whole transcript itself (the node is not trusted for it), then derives the keys. */
  private chatReady(ready: approuter.ChatReady): void {
    const start = this.starts.get(ready.chatId);
    if (!start) return;
    const problem = checkTranscript(ready, this.appId, start.role, start.ephemeral.publicKey);
    if (problem) {
      this.settleStart(ready.chatId, new PeerVerificationError(problem));
      this.write({ $case: "deleteChat", value: { chatId: ready.chatId } });
      return;
    }
    const keys = deriveChatKeys(ready, start.role, start.ephemeral.secretKey);
    const peer = start.role === "initiator" ? ready.targetAppId : ready.initiatorAppId;
    const chat = new Chat(ready.chatId, peer, start.role, keys, this.link);
    this.chatsById.set(chat.id, chat);
    this.settleStart(ready.chatId, chat);
    this.emit("chat", chat);
  }

  private chatDeleted(chatId: string, reason: approuter.ChatEndReason): void {
    this.settleStart(chatId, new Error(`chat ${chatId} ended before it was ready: ${ChatEndReason[reason]}`));
    const chat = this.chatsById.get(chatId);
    if (!chat) return;
    this.chatsById.delete(chatId);
    chat.end(reason);
    this.emit("chatEnded", chat, reason);
  }

  /** Surfaces a problem to the app if it listens; an unheard 'error' event would crash it. */
  private report(error: Error): void {
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }

  private nodeError(correlationId: string, e: approuter.Error): void {
    const error = new NodeError(e.code, e.message, e.chatId, e.retryAfterMs);
    const request = correlationId ? this.requests.get(correlationId) : undefined;
    if (request) {
      this.requests.delete(correlationId);
      return request.reject(error);
    }
    if (this.starts.has(e.chatId)) return this.settleStart(e.chatId, error);
    const chat = this.chatsById.get(e.chatId);
    if (chat) {
      switch (e.code) {
        case ErrorCode.ERROR_CODE_RATE_LIMITED:
        case ErrorCode.ERROR_CODE_PEER_UNAVAILABLE:
        case ErrorCode.ERROR_CODE_OUT_OF_ORDER:
        case ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE: // the tieline is backed up or reconnecting
          return chat.refused(e.expectedSeq || e.seq, Math.max(20, e.retryAfterMs));
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

function checkTranscript(
  r: approuter.ChatReady,
  myAppId: string,
  role: "initiator" | "target",
  myEphemeral: Uint8Array,
): string | undefined {
  const mine = role === "initiator" ? r.initiatorEphemeralKey : r.targetEphemeralKey;
  const myId = role === "initiator" ? r.initiatorAppId : r.targetAppId;
  if (myId !== myAppId || !Buffer.from(mine).equals(Buffer.from(myEphemeral))) {
    return `chat ${r.chatId}: the transcript does not carry this app's own key`;
  }
  if (
    !idMatchesKey(r.initiatorAppId, r.initiatorPublicKey) ||
    !idMatchesKey(r.targetAppId, r.targetPublicKey)
  ) {
    return `chat ${r.chatId}: an app ID does not match its key`;
  }
  const offer = [r.chatId, r.initiatorAppId, r.targetAppId, r.initiatorEphemeralKey, r.offerTimestampMs];
  if (!verify(r.initiatorPublicKey, r.offerSignature, "hermes/chat-offer/v1", offer)) {
    return `chat ${r.chatId}: the initiator's signature does not verify`;
  }
  const accept = [
    r.chatId,
    r.initiatorAppId,
    r.targetAppId,
    r.initiatorEphemeralKey,
    r.targetEphemeralKey,
    r.acceptTimestampMs,
  ];
  if (!verify(r.targetPublicKey, r.acceptSignature, "hermes/chat-accept/v1", accept)) {
    return `chat ${r.chatId}: the target's signature does not verify`;
  }
  return undefined;
}
