import { approuter, type nodemesh } from "@hermes/proto";
import type { Logger } from "pino";
import {
  acceptOf,
  type ConnectProof,
  checkReady,
  offerFrame,
  type SignedOffer,
  verifyResume,
} from "../protocol/index.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { Clock } from "../utils/clock.js";
import {
  boundAt,
  type Chat,
  chatFromTranscript,
  directionFrom,
  judgeSeq,
  localApp,
  participants,
  peerOf,
  type ReadyChat,
  raiseAcked,
  remoteRoute,
  rewindTo,
  settleTo,
} from "./chat.js";
import type { Chats } from "./chats.js";
import {
  checkAccept,
  checkCiphertextSize,
  checkInFlight,
  checkOffer,
  checkPendingOffers,
  checkReadyMatches,
  checkSkew,
  codeLabel,
  IN_FLIGHT_RETRY_MS,
  type Refusal,
} from "./checks.js";
import type { RouterLimits } from "./config.js";
import type { MeshLink } from "./locator.js";

const { ErrorCode, ChatEndReason, SessionCloseReason } = approuter;

type RemoteChat = Chat & { route: { kind: "remote" } };
type RemoteReadyChat = ReadyChat & { route: { kind: "remote" } };

/** Told to a node whose frame found the participant away: when to try again. */
const PEER_RETRY_MS = 1000;

export interface TielinesComponents {
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  chats: Chats;
  mesh: MeshLink;
  /** Closes the local session of an app that moved to another node, showing it the proof. */
  closeSession(
    appId: string,
    reason: approuter.SessionCloseReason,
    detail: string,
    replacedBy: ConnectProof,
  ): boolean;
}

export interface TielinesInit {
  nodeId: string;
  limits: RouterLimits;
  clockSkewMs: number;
}

/**
 * Frames from other nodes about the chats this node shares with them. A node speaks for the
 * apps it carries: its offers, acceptances, relays and acks are held to the rules the app path
 * applies (checks.ts), with the remote node in the place of the remote app's session. App
 * signatures are still checked here; a node is not trusted to vouch for its apps.
 *
 * Chats outlive their nodes: a chat whose other node is lost waits for its participant to
 * resume somewhere, and the node that then carries it proves, with the app's signed resume,
 * that the app asked it to (ChatSync). Marks only ever come from the apps that own them; after
 * any disturbance both nodes compare them and send again from the last acknowledged seq.
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
      case "sync":
        return this.sync(fromNode, body.value);
      case "released":
        return this.released(fromNode, body.value);
      case "batch":
        for (const relay of body.value.relays) this.relay(fromNode, relay);
        for (const ack of body.value.acks) this.relayAck(fromNode, ack);
        return;
      default:
        return;
    }
  }

  /**
   * `appId` connected to node `nodeId`, after (or without) connecting here, as its signed
   * Connect there (`proof`, checked by the mesh) shows. A session it still has here is stale,
   * and so are its offers. Chats that lost track of it (its node died) show that node the proof
   * that they carry the other participant; otherwise that node is asked whether the app brought
   * the chat along (ChatSync). A chat the app signed something for after that Connect was made
   * is left alone: the Connect is old news for it (a replay).
   */
  appLocated(appId: string, nodeId: string, proof: ConnectProof): void {
    if (
      this.components.closeSession(
        appId,
        SessionCloseReason.SESSION_CLOSE_REASON_REPLACED,
        `the app connected to node ${nodeId}`,
        proof,
      )
    )
      this.components.logger.info({ app: appId, toNode: nodeId }, "app moved to another node");
    const { chats } = this.components;
    for (const chat of [...chats.table.of(appId)]) {
      if (chats.localSession(appId)) break;
      if (proof.timestampMs < lastSignedBy(chat, appId)) continue;
      if (chat.state === "pending") {
        // Offers are not carried over: the initiator's SDK gave this one up when it came back
        // elsewhere (ConnectAck.pending_offers), so the target must not accept it any more.
        if (chat.offer.initiatorAppId === appId)
          chats.end(chat, "route_unavailable", () => ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE);
        continue;
      }
      if (!this.carriesPeerOf(chat, appId)) continue;
      const { route } = chat;
      if (route.kind === "remote") {
        if (route.node === nodeId) continue;
        if (route.node === "" || !route.reachable) {
          // It resumed there, or will: show that node we carry its peer.
          chat.route = remoteRoute(appId, nodeId, route.boundAtMs);
          chats.sync(chat as RemoteReadyChat);
          continue;
        }
      }
      // Did it resume this chat there? That node answers: a sync back if so, UNKNOWN_CHAT if not.
      chats.syncTo(nodeId, chat, appId);
    }
  }

  /**
   * Chats that wait for their other participant (its node unknown or unreachable) look it up in
   * the directory again. Directory news can come before the chat is carried here, or be about a
   * node that has since gone; this makes sure a waiting chat finds its peer once the directory
   * knows where it is. Called on every sweep.
   */
  relocate(): void {
    const { chats, mesh } = this.components;
    for (const chat of chats.table.all()) {
      const { route } = chat;
      if (chat.state !== "ready" || route.kind !== "remote" || (route.node !== "" && route.reachable))
        continue;
      const where = mesh.locate(route.app);
      if (!where || where.nodeId === route.node) continue;
      chat.route = remoteRoute(route.app, where.nodeId, route.boundAtMs);
      chats.sync(chat as RemoteReadyChat);
    }
  }

  /**
   * True when this node carries the other participant of `appId` in the chat: both are local, or
   * `appId` is the remote one. (When `appId` is ours and its peer is elsewhere, the peer's node
   * follows `appId` to where it went.)
   */
  private carriesPeerOf(chat: Chat, appId: string): boolean {
    return chat.route.kind === "local" || chat.route.app === appId;
  }

  /**
   * The node is gone (dead, left, or its tieline did not come back). Offers through it end (the
   * target answers on no other node). Ready chats wait for their participant to resume
   * elsewhere, or for the node to come back; meanwhile messages to it are refused with
   * PEER_UNAVAILABLE. They end only as any chat does (deleted, idle). Returns the chats waiting.
   */
  nodeLost(nodeId: string): number {
    const { chats, logger } = this.components;
    let waiting = 0;
    for (const chat of [...chats.table.all()]) {
      const { route } = chat;
      if (route.kind !== "remote" || route.node !== nodeId) continue;
      if (chat.state === "pending") {
        const local = localApp(chat as RemoteChat);
        chats.end(chat, "route_unavailable", (appId) =>
          appId === local ? ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE : undefined,
        );
      } else if (route.reachable) {
        route.reachable = false;
        waiting++;
      }
    }
    if (waiting > 0)
      logger.warn({ peer: nodeId, chats: waiting }, "node lost: its chats wait for their apps to resume");
    return waiting;
  }

  /** The tieline to `nodeId` is (back) up: compare marks of every chat shared with it. */
  tielineUp(nodeId: string): void {
    for (const chat of this.components.chats.table.all()) {
      if (chat.state !== "ready" || chat.route.kind !== "remote" || chat.route.node !== nodeId) continue;
      chat.route.reachable = true;
      this.components.chats.sync(chat as RemoteReadyChat);
    }
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
    const waiting = checkPendingOffers(
      chats.table.pendingOffersTo(o.targetAppId),
      this.init.limits.maxPendingOffersPerApp,
    );
    if (waiting) return this.refuse(node, o.chatId, waiting, { retryAfterMs: PEER_RETRY_MS });
    const target = chats.localSession(o.targetAppId);
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
      route: remoteRoute(o.initiatorAppId, node),
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
    if (!chat) return this.notCarried(node, r.chatId, r.fromAppId);
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
    const tooMany = checkInFlight(dir.acked, r.seq, this.init.limits.maxInFlightPerChat);
    if (tooMany) return this.refuse(node, chat.id, tooMany, { seq: r.seq, retryAfterMs: IN_FLIGHT_RETRY_MS });
    const receiver = chats.localSession(peerOf(chat, r.fromAppId));
    if (!receiver) {
      return this.refuse(
        node,
        chat.id,
        {
          code: ErrorCode.ERROR_CODE_PEER_UNAVAILABLE,
          message: "the peer app is not connected; retry later",
        },
        { seq: r.seq, retryAfterMs: PEER_RETRY_MS },
      );
    }
    chats.deliver(receiver, chat, dir, r.fromAppId, r.seq, r.ciphertext, now);
    chats.hot.meshRelayed.inc();
    chats.hot.meshBytes.inc(r.ciphertext.length);
  }

  /** The receiver's acks, as its node relays them: they move our marks even past what we relayed. */
  private relayAck(node: string, a: nodemesh.RelayAck): void {
    const { chats, clock, metrics } = this.components;
    const chat = this.chatWith(node, a.chatId);
    if (chat?.state !== "ready") return;
    const sender = localApp(chat);
    const now = clock.now();
    if (!raiseAcked(directionFrom(chat, sender), a.seq, now, (s) => metrics.ackLatency.observe(s))) return;
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
    if (!chat) return this.answerToProbe(node, e);
    const local = localApp(chat);
    if (chat.state === "pending") {
      chats.end(chat, "rejected", () => undefined);
    } else if (
      e.code === ErrorCode.ERROR_CODE_UNKNOWN_CHAT ||
      e.code === ErrorCode.ERROR_CODE_NOT_PARTICIPANT
    ) {
      // The other node carries the peer app, and that app does not have this chat any more.
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

  /**
   * An app connected to `node` (appLocated) did not resume this chat there: the chat ended for
   * it (its process lost it), and so for the participant this node carries.
   */
  private answerToProbe(node: string, e: nodemesh.RouteError): void {
    const { chats, mesh } = this.components;
    const chat = chats.table.get(e.chatId);
    if (chat?.state !== "ready" || e.code !== ErrorCode.ERROR_CODE_UNKNOWN_CHAT) return;
    const gone = participants(chat).find(
      (appId) =>
        this.carriesPeerOf(chat, appId) && !chats.localSession(appId) && mesh.locate(appId)?.nodeId === node,
    );
    if (!gone) return;
    // Everyone still holding it hears: our app, and the node that carried the gone app.
    chats.end(chat, "route_unavailable", () => ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE);
  }

  /**
   * The other node's marks for the participant it carries. From the node already bound to it,
   * they are taken as they are; from any other node only with the app's own signed resume,
   * newer than the one that bound it where it was. A chat this node does not know is taken
   * over on that proof when the other participant may still come here.
   */
  private sync(node: string, s: nodemesh.ChatSync): void {
    const { chats, clock, logger } = this.components;
    const found = chats.table.get(s.chatId);
    if (!found) return this.adopt(node, s);
    if (found.state !== "ready") return;
    const chat = found;
    const appId = s.appId;
    const { route } = chat;
    const bound = route.kind === "remote" && route.app === appId && route.node === node;
    if (!bound) {
      const problem = this.checkProof(node, chat, s, boundAt(route, appId));
      if (problem) {
        if (!s.reply) chats.toNode(node, { $case: "released", value: { chatId: chat.id } });
        logger.debug(
          { chat: chat.id, peer: node, reason: problem },
          "chat sync from a node that does not carry it",
        );
        return;
      }
      const previous = route.kind === "remote" ? route.node : "";
      chat.route = remoteRoute(appId, node, s.proof!.timestampMs);
      if (previous !== "" && previous !== node)
        chats.toNode(previous, { $case: "released", value: { chatId: chat.id } });
      logger.info(
        { chat: chat.id, app: appId, toNode: node, fromNode: previous || undefined },
        "chat follows its app",
      );
    } else {
      route.reachable = true;
    }
    const local = peerOf(chat, appId);
    // Our app's messages: the far app has everything up to s.delivered; send again after that.
    const settled = settleTo(directionFrom(chat, local), s.delivered);
    // The far app's messages: it saw our app's acks up to s.ackedByPeer.
    raiseAcked(directionFrom(chat, appId), s.ackedByPeer, clock.now(), () => {});
    chats.save(chat);
    chats.nudge(chat, local, settled.ackedMoved);
    if (!s.reply) chats.sync(chat as RemoteReadyChat, true);
  }

  /** A sync for a chat this node does not carry (any more, or yet). */
  private adopt(node: string, s: nodemesh.ChatSync): void {
    const { chats, clock, mesh } = this.components;
    if (s.reply) return;
    if (chats.table.endedRecently(s.chatId)) return this.notCarried(node, s.chatId, s.appId);
    const ready = s.proof?.ready;
    const local = ready
      ? ready.initiatorAppId === s.appId
        ? ready.targetAppId
        : ready.initiatorAppId
      : s.peerAppId;
    if (local && chats.localSession(local)) {
      // The app is connected here and stated every chat it holds: this one is not among them.
      return this.refuse(node, s.chatId, {
        code: ErrorCode.ERROR_CODE_UNKNOWN_CHAT,
        message: `app ${local} does not have this chat`,
      });
    }
    if (!ready || !local) return this.notCarried(node, s.chatId, s.appId);
    const elsewhere = mesh.locate(local);
    const problem = checkReady(ready) ?? this.checkProofSignature(node, s);
    if (elsewhere || problem) return this.notCarried(node, s.chatId, s.appId);
    // As the far app signed them; our app settles its own when it resumes here.
    const chat = chatFromTranscript(
      ready,
      { appId: s.appId, delivered: s.delivered, ackedByPeer: s.ackedByPeer },
      remoteRoute(s.appId, node, s.proof!.timestampMs),
      clock.now(),
    );
    chats.takeOver(chat, "chat taken over for an app that may resume here");
    chats.sync(chat as RemoteReadyChat, true);
  }

  /** The other node does not carry this chat with us any more: drop our copy, or wait for the peer. */
  private released(node: string, r: nodemesh.ChatReleased): void {
    const { chats } = this.components;
    const chat = this.chatWith(node, r.chatId);
    if (!chat) return;
    if (chats.localSession(localApp(chat))) {
      // Our app is here; its peer moved on from that node and will resume somewhere.
      chat.route = remoteRoute(chat.route.app, "", chat.route.boundAtMs);
      return;
    }
    chats.release(chat);
  }

  /** Why a sync from `node` may not move the chat there, or undefined when it may. */
  private checkProof(
    node: string,
    chat: ReadyChat,
    s: nodemesh.ChatSync,
    boundAtMs: number,
  ): string | undefined {
    if (!s.proof?.ready) return "no proof that the app resumed there";
    const ready = s.proof.ready;
    if (ready.chatId !== chat.id || checkReadyMatches(chat.offer, ready))
      return "the proof is for another chat";
    if (!Buffer.from(ready.acceptSignature).equals(Buffer.from(chat.ready.acceptSignature)))
      return "the proof carries another transcript";
    if (s.proof.timestampMs <= boundAtMs) return "the proof is older than the one that bound the app";
    return this.checkProofSignature(node, s);
  }

  /** The app named in the sync signed a resume for `node`, recently, with the marks it carries. */
  private checkProofSignature(node: string, s: nodemesh.ChatSync): string | undefined {
    const proof = s.proof;
    const ready = proof?.ready;
    if (!proof || !ready) return "no proof";
    const key =
      s.appId === ready.initiatorAppId
        ? ready.initiatorPublicKey
        : s.appId === ready.targetAppId
          ? ready.targetPublicKey
          : undefined;
    if (!key) return "the app is not part of the chat";
    if (proof.delivered !== s.delivered || proof.ackedByPeer !== s.ackedByPeer)
      return "the marks are not the ones the app signed";
    const skew = checkSkew(proof.timestampMs, {
      now: this.components.clock.now(),
      clockSkewMs: this.init.clockSkewMs,
    });
    if (skew) return skew;
    if (!verifyResume(proof, node, s.appId, key)) return "the resume signature does not verify";
    return undefined;
  }

  /**
   * A frame about a chat this node does not carry with `node`: if it ended here, say how (to
   * the app `appId` that node carries); otherwise say we do not carry it, so that node stops
   * sending through us.
   */
  private notCarried(node: string, chatId: string, appId: string): void {
    const { chats } = this.components;
    const end = chats.table.endOf(chatId);
    if (end) {
      const reason = end.reasons.get(appId) ?? ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE;
      chats.toNode(node, { $case: "teardown", value: { chatId, reason } });
      return;
    }
    chats.toNode(node, { $case: "released", value: { chatId } });
  }

  /** The chat `chatId` if node `node` carries its other participant; anything else from that node is ignored. */
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

/** The latest time `appId` signed something about the chat: its offer or accept, or the resume that bound it. */
function lastSignedBy(chat: Chat, appId: string): number {
  const bound = boundAt(chat.route, appId);
  if (chat.offer.initiatorAppId === appId) return Math.max(bound, chat.offer.timestampMs);
  return chat.state === "ready" ? Math.max(bound, chat.ready.acceptTimestampMs) : bound;
}
