import { approuter, type nodemesh } from "@hermes/proto";
import type { Logger } from "pino";
import { readyOf, type SignedAccept } from "../protocol/index.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { Clock } from "../utils/clock.js";
import {
  type Chat,
  type Direction,
  directionFrom,
  newDirection,
  type PendingChat,
  participants,
  peerOf,
  type ReadyChat,
} from "./chat.js";
import type { ChatStore } from "./chat-store.js";
import { ChatTable } from "./chat-table.js";
import type { MeshLink } from "./locator.js";
import type { Session } from "./session.js";

const { ChatEndReason, ErrorCode } = approuter;
export type NodeBody = NonNullable<approuter.NodeFrame["body"]>;

/** At most this many relayed-but-unacked messages per direction are timed for the latency histogram. */
const MAX_TIMED = 4096;
/** One message in this many is timed: the histogram's shape needs no more, and each costs a map entry. */
const LATENCY_SAMPLE_EVERY = 8;

/** The apps connected to this node, as the chat lifecycle reaches them. */
export interface LocalApps {
  session(appId: string): Session | undefined;
  send(session: Session, body: NodeBody, correlationId?: string): void;
}

export interface ChatsComponents {
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  store: ChatStore;
  apps: LocalApps;
  /** The mesh, for chats with apps on other nodes; absent when the node is alone. */
  mesh?: MeshLink;
}

/**
 * The chat lifecycle both halves of the router share: a chat is added, made ready, used to
 * deliver messages and ended here, with its record kept or erased, its gauges set and its
 * participants told (local apps through their sessions, remote ones through their node).
 */
export class Chats {
  readonly table = new ChatTable();
  /** Per-message counts, as plain numbers the metrics fold in when read. */
  readonly hot;

  constructor(private readonly components: ChatsComponents) {
    const { metrics } = components;
    this.hot = {
      relayed: metrics.hot(metrics.messagesRelayed, { scope: "local" }),
      bytes: metrics.hot(metrics.bytesRelayed, { scope: "local" }),
      acks: metrics.hot(metrics.acksRelayed, { scope: "local" }),
      meshRelayed: metrics.hot(metrics.messagesRelayed, { scope: "mesh" }),
      meshBytes: metrics.hot(metrics.bytesRelayed, { scope: "mesh" }),
      meshAcks: metrics.hot(metrics.acksRelayed, { scope: "mesh" }),
    };
  }

  add(chat: Chat): void {
    this.table.add(chat);
    this.updateGauges();
  }

  /** Adds a ready chat this node takes over for an app that resumed it after another node carried it. */
  takeOver(chat: ReadyChat, why: string): void {
    this.add(chat);
    this.save(chat);
    this.components.metrics.chatsTakenOver.inc();
    const route =
      chat.route.kind === "remote" ? { remoteApp: chat.route.app, remoteNode: chat.route.node } : {};
    this.components.logger.info({ chat: chat.id, ...route }, why);
  }

  /** The target's signed answer makes the chat ready; both sides' records start here. */
  makeReady(chat: PendingChat, targetPublicKey: Uint8Array, accept: SignedAccept): ReadyChat {
    const { offer } = chat;
    const ready: ReadyChat = {
      ...chat,
      state: "ready",
      ready: readyOf(offer, targetPublicKey, accept),
      lastActivity: this.components.clock.now(),
      fromInitiator: newDirection(),
      fromTarget: newDirection(),
    };
    this.table.promote(chat, ready);
    this.updateGauges();
    this.components.metrics.chatsStarted.inc();
    this.components.store.save(ready);
    this.components.logger.info(
      {
        chat: chat.id,
        initiator: offer.initiatorAppId,
        target: offer.targetAppId,
        remoteNode: chat.route.kind === "remote" ? chat.route.node : undefined,
      },
      "chat ready",
    );
    return ready;
  }

  /**
   * Removes a chat, erases its record and tells each participant `reasonFor(app)` (nobody when
   * it returns undefined): a local app by ChatDeleted, a remote one by a teardown to its node.
   * The reasons are remembered, for a participant that resumes the chat later.
   */
  end(
    chat: Chat,
    metricReason: string,
    reasonFor: (appId: string) => approuter.ChatEndReason | undefined,
    correlationId = "",
  ): void {
    const { clock, store, metrics, logger, apps } = this.components;
    const reasons = new Map<string, approuter.ChatEndReason>();
    for (const appId of participants(chat)) {
      const reason = reasonFor(appId);
      if (reason !== undefined) reasons.set(appId, reason);
    }
    if (!this.table.remove(chat.id, clock.now(), reasons)) return;
    this.updateGauges();
    store.erase(chat.id);
    metrics.chatsEnded.inc({ reason: metricReason });
    logger.info({ chat: chat.id, reason: metricReason }, "chat ended");
    for (const [appId, reason] of reasons) {
      if (chat.route.kind === "remote" && chat.route.app === appId) {
        this.toRemote(chat, { $case: "teardown", value: { chatId: chat.id, reason } });
        continue;
      }
      const session = apps.session(appId);
      if (session)
        apps.send(
          session,
          { $case: "chatDeleted", value: { chatId: chat.id, reason } },
          reason === ChatEndReason.CHAT_END_REASON_DELETED ? correlationId : "",
        );
    }
  }

  /**
   * Drops this node's copy of a chat whose participants it no longer carries (they resumed on
   * other nodes): nobody is told, the chat goes on elsewhere.
   */
  release(chat: Chat): void {
    if (!this.table.drop(chat.id)) return;
    this.updateGauges();
    this.components.store.erase(chat.id);
    this.components.metrics.chatsHandedOver.inc();
    this.components.logger.info({ chat: chat.id }, "chat moved to other nodes; copy dropped");
  }

  /** Ends a pending chat and tells the initiator, wherever it is. */
  reject(chat: PendingChat, reason: string): void {
    this.end(chat, "rejected", () => undefined);
    if (chat.route.kind === "remote" && chat.route.app === chat.offer.initiatorAppId) {
      this.toRemote(chat, { $case: "rejected", value: { chatId: chat.id, reason } });
    } else {
      this.sendTo(chat.offer.initiatorAppId, { $case: "chatRejected", value: { chatId: chat.id, reason } });
    }
  }

  /** Hands a message to the receiving app's session and notes it as relayed. */
  deliver(
    receiver: Session,
    chat: ReadyChat,
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

  relayed(chat: ReadyChat, dir: Direction, seq: number, now: number): void {
    dir.forwarded = Math.max(dir.forwarded, seq);
    if (seq % LATENCY_SAMPLE_EVERY === 0 && dir.sentAt.size < MAX_TIMED) dir.sentAt.set(seq, now);
    chat.lastActivity = now;
    this.components.store.save(chat);
  }

  /**
   * Tells the chat's other node our marks for the participant this node carries, with that
   * app's signed resume when we have one (the other node may not know we carry it yet).
   */
  sync(chat: ReadyChat & { route: { kind: "remote" } }, reply = false): boolean {
    if (chat.route.node === "" || !chat.route.reachable) return false;
    return this.syncTo(chat.route.node, chat, chat.route.app, reply);
  }

  /** Sends `node` our marks for the participant this node carries, the other being `remoteApp`. */
  syncTo(node: string, chat: ReadyChat, remoteApp: string, reply = false): boolean {
    const local = peerOf(chat, remoteApp);
    return this.toNode(node, {
      $case: "sync",
      value: {
        chatId: chat.id,
        appId: local,
        delivered: directionFrom(chat, remoteApp).acked,
        ackedByPeer: directionFrom(chat, local).acked,
        proof: chat.proof,
        reply,
        peerAppId: remoteApp,
      },
    });
  }

  /**
   * After the marks of `senderId`'s direction were settled (its receiver reconnected or moved,
   * or a tieline came back), tells that sender, when it is connected here, what was acked and
   * that it should send again right after that: what it had in flight may be lost.
   */
  nudge(chat: ReadyChat, senderId: string, ackedMoved: boolean): void {
    const session = this.components.apps.session(senderId);
    if (!session) return;
    const { acked } = directionFrom(chat, senderId);
    if (ackedMoved)
      this.components.apps.send(session, { $case: "ack", value: { chatId: chat.id, seq: acked } });
    this.components.apps.send(session, {
      $case: "error",
      value: {
        code: ErrorCode.ERROR_CODE_OUT_OF_ORDER,
        message: `the receiver's path changed; send again from seq ${acked + 1}`,
        chatId: chat.id,
        expectedSeq: acked + 1,
        retryAfterMs: 0,
        seq: 0,
      },
    });
  }

  /** Marks a chat's record for the next flush. */
  save(chat: ReadyChat): void {
    this.components.store.save(chat);
  }

  /** The session of an app connected here. */
  localSession(appId: string): Session | undefined {
    return this.components.apps.session(appId);
  }

  send(session: Session, body: NodeBody, correlationId = ""): void {
    this.components.apps.send(session, body, correlationId);
  }

  /** Sends to a local app if it is connected here. */
  sendTo(appId: string, body: NodeBody): void {
    const session = this.components.apps.session(appId);
    if (session) this.components.apps.send(session, body);
  }

  /** Sends a tieline frame to the chat's other node; false when it cannot go now. */
  toRemote(chat: Chat, body: nodemesh.RouteFrame["body"]): boolean {
    const { route } = chat;
    if (route.kind !== "remote" || route.node === "" || !route.reachable) return false;
    return this.toNode(route.node, body);
  }

  /** Sends a tieline frame to a node; false when it cannot go now. */
  toNode(nodeId: string, body: nodemesh.RouteFrame["body"]): boolean {
    return this.components.mesh?.sendRoute(nodeId, { body }) === true;
  }

  private updateGauges(): void {
    const { pending, ready } = this.table.counts;
    this.components.metrics.chats.set({ state: "pending" }, pending);
    this.components.metrics.chats.set({ state: "ready" }, ready);
  }
}
