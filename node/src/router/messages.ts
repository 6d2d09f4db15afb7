import { approuter } from "@hermes/proto";
import type { AppFrameHost } from "./app-host.js";
import { applyAck, directionFrom, isParticipant, judgeSeq, peerOf, resyncAfterRestore } from "./chat.js";
import { checkCiphertextSize, checkInFlight, IN_FLIGHT_RETRY_MS } from "./checks.js";
import type { Session } from "./session.js";

/**
 * The hot path: chat messages and end-to-end acks from an app connected here, judged by their
 * seq (chat.ts), delivered to a local peer or relayed over the peer node's tieline.
 */

const { ErrorCode } = approuter;

/** Told to senders whose peer app or node cannot take a message now. */
const PEER_RETRY_MS = 1000;

export function message(host: AppFrameHost, session: Session, m: approuter.ChatMessage, cid: string): void {
  const appId = session.appId;
  const detail = { correlationId: cid, chatId: m.chatId, seq: m.seq };
  const chat = host.chats.table.get(m.chatId);
  if (!chat) return host.fail(session, ErrorCode.ERROR_CODE_UNKNOWN_CHAT, "no such chat", detail);
  if (!isParticipant(chat, appId))
    return host.fail(
      session,
      ErrorCode.ERROR_CODE_NOT_PARTICIPANT,
      "this app is not part of the chat",
      detail,
    );
  if (chat.state !== "ready")
    return host.fail(
      session,
      ErrorCode.ERROR_CODE_CHAT_NOT_READY,
      "the chat has not been accepted yet",
      detail,
    );
  const tooLarge = checkCiphertextSize(m.ciphertext.length, host.limits.maxCiphertextBytes);
  if (tooLarge) return host.refuse(session, tooLarge, detail);
  const now = host.clock.now();
  const budget = session.budgets.messages.take(now);
  if (!budget.ok) {
    return host.refuse(
      session,
      {
        code: ErrorCode.ERROR_CODE_RATE_LIMITED,
        message: `more than ${host.limits.messagesPerSecond} messages per second`,
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
      host.send(session, { $case: "ack", value: { chatId: chat.id, seq: verdict.seq } });
      return;
    case "in_flight":
      // Relayed and not yet acked; the receiver's ack (or a rewind on its reconnect) settles it.
      // A remote receiver's node may have rewound without our knowing: pass it on, it dedupes.
      if (chat.route.kind === "local") return;
      break;
    case "out_of_order":
      return host.fail(
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
  const tooMany = checkInFlight(dir.acked, m.seq, host.limits.maxInFlightPerChat);
  if (tooMany) return host.refuse(session, tooMany, { ...detail, retryAfterMs: IN_FLIGHT_RETRY_MS });
  const peerId = peerOf(chat, appId);
  const { route } = chat;
  if (route.kind === "remote" && (route.node === "" || !route.reachable)) {
    // The peer's node is gone: the chat waits for the peer to resume on a node (ChatSync).
    return host.fail(
      session,
      ErrorCode.ERROR_CODE_PEER_UNAVAILABLE,
      "the peer app's node is gone; retry later",
      {
        ...detail,
        retryAfterMs: PEER_RETRY_MS,
      },
    );
  }
  if (route.kind === "remote") {
    const relay = {
      chatId: chat.id,
      fromAppId: appId,
      seq: m.seq,
      ciphertext: m.ciphertext,
      sentAtMs: now,
    };
    if (!host.chats.toRemote(chat, { $case: "relay", value: relay })) {
      return host.fail(
        session,
        ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE,
        `node ${route.node} cannot take more now; retry later`,
        { ...detail, retryAfterMs: PEER_RETRY_MS },
      );
    }
    host.chats.relayed(chat, dir, m.seq, now);
    host.chats.hot.meshRelayed.inc();
    host.chats.hot.meshBytes.inc(m.ciphertext.length);
    return;
  }
  const peer = host.session(peerId);
  if (!peer) {
    return host.fail(
      session,
      ErrorCode.ERROR_CODE_PEER_UNAVAILABLE,
      "the peer app is not connected; retry later",
      {
        ...detail,
        retryAfterMs: PEER_RETRY_MS,
      },
    );
  }
  host.chats.deliver(peer, chat, dir, appId, m.seq, m.ciphertext, now);
  host.chats.hot.relayed.inc();
  host.chats.hot.bytes.inc(m.ciphertext.length);
}

export function ack(host: AppFrameHost, session: Session, a: approuter.MessageAck, cid: string): void {
  const detail = { correlationId: cid, chatId: a.chatId, seq: a.seq };
  const chat = host.chats.table.get(a.chatId);
  if (!chat) return host.fail(session, ErrorCode.ERROR_CODE_UNKNOWN_CHAT, "cannot ack in this chat", detail);
  if (!isParticipant(chat, session.appId))
    return host.fail(session, ErrorCode.ERROR_CODE_NOT_PARTICIPANT, "cannot ack in this chat", detail);
  if (chat.state !== "ready")
    return host.fail(session, ErrorCode.ERROR_CODE_CHAT_NOT_READY, "cannot ack in this chat", detail);
  const senderId = peerOf(chat, session.appId);
  const dir = directionFrom(chat, senderId);
  if (a.seq > dir.forwarded) {
    return host.fail(
      session,
      ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
      `ack for seq ${a.seq}, but only ${dir.forwarded} were delivered`,
      detail,
    );
  }
  const now = host.clock.now();
  if (!applyAck(dir, a.seq, now, (s) => host.metrics.ackLatency.observe(s))) return;
  chat.lastActivity = now;
  host.chats.save(chat);
  if (chat.route.kind === "remote") {
    host.chats.hot.meshAcks.inc();
    host.chats.toRemote(chat, { $case: "relayAck", value: { chatId: chat.id, seq: a.seq } });
  } else {
    host.chats.hot.acks.inc();
    host.chats.sendTo(senderId, { $case: "ack", value: { chatId: chat.id, seq: a.seq } });
  }
}
