import type { approuter } from "@hermes/proto";
import type { SignedOffer } from "../protocol/index.js";
import { directionFrom, peerOf } from "./chat.js";
import type { ChatTable } from "./chat-table.js";
import type { RouterLimits, RouterTimeouts } from "./config.js";
import type { AppLocation } from "./locator.js";

export interface ConnectAckFacts {
  sessionId: string;
  appId: string;
  nodeId: string;
  nodePublicKey: Uint8Array;
  limits: RouterLimits;
  timeouts: RouterTimeouts;
  /** The other nodes' app endpoints, for failover. */
  endpoints: AppLocation[];
  /** The connect replaced a live session of the same app. */
  replaced: boolean;
}

/**
 * What a node tells an app that connected: its session, the limits it enforces, where else to
 * go, every ready chat of the app with the marks (after its resume), the offers it made that
 * still wait; and the offers waiting for it, to send again after the ack.
 */
export function connectAck(
  table: ChatTable,
  f: ConnectAckFacts,
): { ack: approuter.ConnectAck; offers: SignedOffer[] } {
  const chats: approuter.ChatState[] = [];
  const offers: SignedOffer[] = [];
  const pendingOffers: string[] = [];
  for (const chat of table.of(f.appId)) {
    if (chat.state === "ready") {
      chats.push({
        ready: chat.ready,
        ackedByPeer: directionFrom(chat, f.appId).acked,
        deliveredToMe: directionFrom(chat, peerOf(chat, f.appId)).acked,
      });
    } else if (chat.offer.targetAppId === f.appId) {
      offers.push(chat.offer);
    } else {
      pendingOffers.push(chat.id);
    }
  }
  const { limits, timeouts } = f;
  const ack: approuter.ConnectAck = {
    sessionId: f.sessionId,
    appId: f.appId,
    nodeId: f.nodeId,
    nodePublicKey: f.nodePublicKey,
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
    endpoints: f.endpoints.map((l) => ({ nodeId: l.nodeId, appEndpoint: l.appEndpoint })),
    chats,
    replacedSession: f.replaced,
    pendingOffers,
    takesBatches: true,
  };
  return { ack, offers };
}
