import { approuter, type nodemesh } from "@hermes/proto";
import type { Logger } from "pino";
import { acceptOf, offerFrame, type SignedOffer } from "../protocol/index.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { Clock } from "../utils/clock.js";
import {
  applyAck,
  type Chat,
  directionFrom,
  judgeSeq,
  localApp,
  peerOf,
  resyncAfterRestore,
  rewindTo,
} from "./chat.js";
import type { Chats } from "./chats.js";
import {
  checkAccept,
  checkCiphertextSize,
  checkOffer,
  checkReadyMatches,
  codeLabel,
  type Refusal,
} from "./checks.js";
import type { RouterLimits } from "./config.js";
import type { MeshLink } from "./locator.js";

const { ErrorCode, ChatEndReason, SessionCloseReason } = approuter;

type RemoteChat = Chat & { route: { kind: "remote"; app: string; node: string } };

export interface TielinesComponents {
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  chats: Chats;
  mesh: MeshLink;
  /** Closes the local session of an app that moved to another node. */
  closeSession(appId: string, reason: approuter.SessionCloseReason, detail: string): boolean;
}

export interface TielinesInit {
  nodeId: string;
  limits: RouterLimits;
  clockSkewMs: number;
}

/**
 * Frames from other nodes about the chats this node shares with them. A node speaks for its
 * apps: its offers, acceptances, relays and acks are held to the rules the app path applies
 * (checks.ts), with the remote node in the place of the remote app's session. App signatures
 * are still checked here; a node is not trusted to vouch for its apps.
 */
export class Tielines {
  constructor(
    private readonly components: TielinesComponents,
    private readonly init: TielinesInit,
  ) {}

  /** A frame from node `fromNode` on its tieline stream. */
  receive(fromNode: string, frame: nodemesh.RouteFrame): void {
    const body = frame.body;
    switch (body?.$case) {
      case "offer":
        return this.offer(fromNode, body.value);
      case "accepted":
        return this.accepted(fromNode, body.value.ready);
      case "rejected":
        return this.rejected(fromNode, body.value);
      case "relay":
        return this.relay(fromNode, body.value);
      case "relayAck":
        return this.relayAck(fromNode, body.value);
      case "teardown":
        return this.teardown(fromNode, body.value);
      case "error":
        return this.error(fromNode, body.value);
      default:
        return;
    }
  }

  /**
   * The app connected to another node after connecting here: this session is stale, and its
   * chats (whose state lives here) cannot follow it. Their peers are told so they can start anew.
   */
  appMoved(appId: string, nodeId: string): void {
    const { chats, logger } = this.components;
    const closed = this.components.closeSession(
      appId,
      SessionCloseReason.SESSION_CLOSE_REASON_REPLACED,
      `the app connected to node ${nodeId}`,
    );
    let ended = 0;
    for (const chat of [...chats.table.of(appId)]) {
      if (chat.route.kind === "remote" && chat.route.app === appId) continue; // its state is on the other node
      chats.end(chat, "route_unavailable", (other) =>
        other === appId ? undefined : ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE,
      );
      ended++;
    }
    if (closed || ended > 0)
      logger.info({ app: appId, toNode: nodeId, chats: ended }, "app moved to another node");
  }

  /** The node is gone (dead, left, or its tieline did not come back): its chats end here. */
  nodeLost(nodeId: string): number {
    const { chats, logger } = this.components;
    let ended = 0;
    for (const chat of [...chats.table.all()]) {
      if (chat.route.kind !== "remote" || chat.route.node !== nodeId) continue;
      const local = localApp(chat as RemoteChat);
      chats.end(chat, "route_unavailable", (appId) =>
        appId === local ? ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE : undefined,
      );
      ended++;
    }
    if (ended > 0) logger.warn({ peer: nodeId, chats: ended }, "chats through a lost node ended");
    return ended;
  }

  private offer(node: string, o: nodemesh.TielineOffer): void {
    const { chats, clock } = this.components;
    const offer: SignedOffer = {
      chatId: o.chatId,
      initiatorAppId: o.initiatorAppId,
      initiatorPublicKey: Uint8Array.from(o.initiatorPublicKey),
      targetAppId: o.targetAppId,
      ephemeralKey: Uint8Array.from(o.ephemeralKey),
      timestampMs: o.timestampMs,
      signature: Uint8Array.from(o.signature),
    };
    const now = clock.now();
    const refusal =
      checkOffer(offer, { now, clockSkewMs: this.init.clockSkewMs }) ??
      (chats.table.has(o.chatId)
        ? { code: ErrorCode.ERROR_CODE_CHAT_EXISTS, message: "a chat with this id exists" }
        : chats.table.endedRecently(o.chatId)
          ? { code: ErrorCode.ERROR_CODE_REPLAYED, message: "this chat id was used before" }
          : undefined);
    if (refusal) return this.refuse(node, o.chatId, refusal);
    const target = this.components.chats.localSession(o.targetAppId);
    if (!target) {
      return this.refuse(node, o.chatId, {
        code: ErrorCode.ERROR_CODE_UNKNOWN_APP,
        message: `app ${o.targetAppId} is not connected to node ${this.init.nodeId}`,
      });
    }
    chats.add({
      id: o.chatId,
      state: "pending",
      offer,
      createdAt: now,
      lastActivity: now,
      route: { kind: "remote", app: o.initiatorAppId, node },
    });
    chats.send(target, { $case: "chatOffer", value: offerFrame(offer) });
  }

  private accepted(node: string, ready: approuter.ChatReady | undefined): void {
    const { chats, logger, clock } = this.components;
    const chat = ready && this.chatWith(node, ready.chatId);
    if (!ready || !chat || chat.state !== "pending" || chat.route.app !== chat.offer.targetAppId) return;
    const refusal =
      checkReadyMatches(chat.offer, ready) ??
      checkAccept(chat.offer, ready.targetPublicKey, acceptOf(ready), {
        now: clock.now(),
        clockSkewMs: this.init.clockSkewMs,
      });
    if (refusal) {
      logger.warn(
        { chat: chat.id, peer: node, reason: refusal.message },
        "remote acceptance failed verification",
      );
      chats.end(chat, "rejected", (appId) =>
        appId === chat.route.app ? ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER : undefined,
      );
      chats.sendTo(chat.offer.initiatorAppId, {
        $case: "chatRejected",
        value: { chatId: chat.id, reason: "the acceptance failed verification" },
      });
      return;
    }
    const made = chats.makeReady(chat, ready.targetPublicKey, acceptOf(ready));
    chats.sendTo(chat.offer.initiatorAppId, { $case: "chatReady", value: made.ready });
  }

  private rejected(node: string, r: nodemesh.TielineRejected): void {
    const { chats } = this.components;
    const chat = this.chatWith(node, r.chatId);
    if (chat?.state !== "pending") return;
    chats.end(chat, "rejected", () => undefined);
    chats.sendTo(chat.offer.initiatorAppId, {
      $case: "chatRejected",
      value: { chatId: chat.id, reason: r.reason.slice(0, 200) },
    });
  }

  private relay(node: string, r: nodemesh.Relay): void {
    const { chats, clock, mesh } = this.components;
    const chat = this.chatWith(node, r.chatId);
    if (!chat) {
      return this.refuse(
        node,
        r.chatId,
        { code: ErrorCode.ERROR_CODE_UNKNOWN_CHAT, message: "no such chat on this node" },
        { seq: r.seq },
      );
    }
    if (chat.state !== "ready" || r.fromAppId !== chat.route.app) {
      return this.refuse(
        node,
        r.chatId,
        { code: ErrorCode.ERROR_CODE_NOT_PARTICIPANT, message: "relay for a chat not ready or not yours" },
        { seq: r.seq },
      );
    }
    // The sending node may allow more than this one; this node's apps were promised this limit.
    const tooLarge = checkCiphertextSize(r.ciphertext.length, this.init.limits.maxCiphertextBytes);
    if (tooLarge) return this.refuse(node, chat.id, tooLarge, { seq: r.seq });
    const now = clock.now();
    if (r.sentAtMs > 0) mesh.observeRelayLatency((now - r.sentAtMs) / 1000);
    const dir = directionFrom(chat, r.fromAppId);
    resyncAfterRestore(dir, r.seq);
    const verdict = judgeSeq(dir, r.seq);
    switch (verdict.kind) {
      case "reack":
        chats.toRemote(chat, { $case: "relayAck", value: { chatId: chat.id, seq: verdict.seq } });
        return;
      case "in_flight":
        return;
      case "out_of_order":
        return this.refuse(
          node,
          chat.id,
          {
            code: ErrorCode.ERROR_CODE_OUT_OF_ORDER,
            message: `expected seq ${verdict.expected}, got ${r.seq}`,
          },
          { seq: r.seq, expectedSeq: verdict.expected },
        );
      case "forward":
        break;
    }
    const receiver = chats.localSession(peerOf(chat, r.fromAppId));
    if (!receiver) {
      return this.refuse(
        node,
        chat.id,
        {
          code: ErrorCode.ERROR_CODE_PEER_UNAVAILABLE,
          message: "the peer app is not connected; retry later",
        },
        { seq: r.seq, retryAfterMs: 1000 },
      );
    }
    chats.deliver(receiver, chat, dir, r.fromAppId, r.seq, r.ciphertext, now);
    chats.hot.meshRelayed.inc();
    chats.hot.meshBytes.inc(r.ciphertext.length);
  }

  private relayAck(node: string, a: nodemesh.RelayAck): void {
    const { chats, clock, metrics } = this.components;
    const chat = this.chatWith(node, a.chatId);
    if (chat?.state !== "ready") return;
    const sender = localApp(chat);
    const dir = directionFrom(chat, sender);
    const now = clock.now();
    if (!applyAck(dir, a.seq, now, (s) => metrics.ackLatency.observe(s))) return;
    chat.lastActivity = now;
    chats.save(chat);
    chats.hot.meshAcks.inc();
    chats.sendTo(sender, { $case: "ack", value: { chatId: chat.id, seq: a.seq } });
  }

  private teardown(node: string, t: nodemesh.Teardown): void {
    const chat = this.chatWith(node, t.chatId);
    if (!chat) return;
    const local = localApp(chat);
    const metric =
      t.reason === ChatEndReason.CHAT_END_REASON_IDLE_EXPIRED
        ? "idle_expired"
        : t.reason === ChatEndReason.CHAT_END_REASON_OFFER_EXPIRED
          ? "offer_expired"
          : "deleted";
    this.components.chats.end(chat, metric, (appId) => (appId === local ? t.reason : undefined));
  }

  /** The other node refused something of ours: correct our view, tell the local app. */
  private error(node: string, e: nodemesh.RouteError): void {
    const { chats } = this.components;
    const chat = this.chatWith(node, e.chatId);
    if (!chat) return;
    const local = localApp(chat);
    if (chat.state === "pending") {
      chats.end(chat, "rejected", () => undefined);
    } else if (
      e.code === ErrorCode.ERROR_CODE_UNKNOWN_CHAT ||
      e.code === ErrorCode.ERROR_CODE_NOT_PARTICIPANT
    ) {
      // The other node has no such chat (it expired or was lost there): it cannot go on.
      // A delete racing with this error arrives first on the same stream, so this is no delete.
      chats.end(chat, "route_unavailable", (appId) =>
        appId === local ? ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE : undefined,
      );
      return;
    } else {
      // Its side expects an earlier seq (the receiver went away, or frames were lost): resend from there.
      rewindTo(directionFrom(chat, local), (e.expectedSeq || e.seq) - 1);
    }
    const session = chats.localSession(local);
    if (!session) return;
    chats.send(session, {
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
  private chatWith(node: string, chatId: string): RemoteChat | undefined {
    const chat = this.components.chats.table.get(chatId);
    if (chat?.route.kind === "remote" && chat.route.node === node) return chat as RemoteChat;
    this.components.logger.debug(
      { peer: node, chat: chatId },
      "tieline frame for a chat that node is not part of",
    );
    return undefined;
  }

  /** Refuses a frame of node `node`: counted, and sent back as a RouteError. */
  private refuse(
    node: string,
    chatId: string,
    refusal: Refusal,
    extra: { seq?: number; expectedSeq?: number; retryAfterMs?: number } = {},
  ): void {
    const { metrics, mesh } = this.components;
    if (refusal.limit) metrics.limitRefusals.inc({ limit: refusal.limit });
    metrics.refusedFrames.inc({ code: codeLabel(refusal.code) });
    mesh.sendRoute(node, {
      body: {
        $case: "error",
        value: {
          chatId,
          code: refusal.code,
          message: refusal.message,
          seq: extra.seq ?? 0,
          expectedSeq: extra.expectedSeq ?? 0,
          retryAfterMs: extra.retryAfterMs ?? 0,
        },
      },
    });
  }
}
