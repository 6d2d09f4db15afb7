import { approuter } from "@hermes/proto";
import { offerFrame, readyOf, type SignedOffer } from "../protocol/index.js";
import type { AppFrameHost } from "./app-host.js";
import { type Chat, isParticipant, localRoute, type PendingChat, remoteRoute } from "./chat.js";
import { checkAccept, checkOffer, checkPendingOffers, type Refusal } from "./checks.js";
import type { RouterLimits } from "./config.js";
import type { Session } from "./session.js";

/**
 * The chat requests of an app connected here: start, accept, reject and delete. An offer to an
 * app on another node goes over its node's tieline; tielines.ts takes the answers.
 */

const { ErrorCode, ChatEndReason } = approuter;

export function startChat(
  host: AppFrameHost,
  session: Session,
  start: approuter.StartChat,
  cid: string,
): void {
  const appId = session.appId;
  const refuse = (refusal: Refusal, retryAfterMs?: number) =>
    host.refuse(session, refusal, { correlationId: cid, chatId: start.chatId, retryAfterMs });
  const offer: SignedOffer = {
    chatId: start.chatId,
    initiatorAppId: appId,
    initiatorPublicKey: session.publicKey,
    targetAppId: start.targetAppId,
    ephemeralKey: Uint8Array.from(start.ephemeralKey),
    timestampMs: start.timestampMs,
    signature: Uint8Array.from(start.signature),
  };
  const now = host.clock.now();
  const invalid = checkOffer(offer, host.timeContext());
  if (invalid) return refuse(invalid);
  const { table } = host.chats;
  if (table.has(start.chatId))
    return refuse({ code: ErrorCode.ERROR_CODE_CHAT_EXISTS, message: "a chat with this id exists" });
  if (table.endedRecently(start.chatId))
    return refuse({ code: ErrorCode.ERROR_CODE_REPLAYED, message: "this chat id was used before" });
  const budget = session.budgets.chatStarts.take(now);
  if (!budget.ok) {
    return refuse(
      {
        code: ErrorCode.ERROR_CODE_RATE_LIMITED,
        message: `more than ${host.limits.chatStartsPerMinute} chat starts per minute`,
        limit: "chat_start_rate",
      },
      budget.retryAfterMs,
    );
  }
  if (table.countedFor(appId) >= host.limits.maxChatsPerApp) return refuse(tooManyChats(host.limits));
  const waiting = checkPendingOffers(
    table.pendingOffersTo(start.targetAppId),
    host.limits.maxPendingOffersPerApp,
  );
  if (waiting) return refuse(waiting, 1000);
  const target = host.session(start.targetAppId);
  const remote = target ? undefined : host.mesh?.locate(start.targetAppId);
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
    route: remote ? remoteRoute(start.targetAppId, remote.nodeId) : localRoute(),
  };
  host.chats.add(chat);
  if (target) {
    host.send(target, { $case: "chatOffer", value: offerFrame(offer) });
  } else if (
    !host.chats.toRemote(chat, {
      $case: "offer",
      value: { ...offerFrame(offer), targetAppId: start.targetAppId },
    })
  ) {
    host.chats.end(chat, "route_unavailable", () => undefined);
    return refuse({
      code: ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE,
      message: `node ${remote?.nodeId} hosting the target cannot be reached now`,
    });
  }
  host.send(
    session,
    { $case: "chatPending", value: { chatId: start.chatId, targetAppId: start.targetAppId } },
    cid,
  );
}

export function acceptChat(
  host: AppFrameHost,
  session: Session,
  accept: approuter.AcceptChat,
  cid: string,
): void {
  const appId = session.appId;
  const refuse = (refusal: Refusal) =>
    host.refuse(session, refusal, { correlationId: cid, chatId: accept.chatId });
  const chat = offerTo(host, appId, accept.chatId, "accept");
  if ("code" in chat) return refuse(chat);
  const invalid = checkAccept(chat.offer, session.publicKey, accept, host.timeContext());
  if (invalid) return refuse(invalid);
  if (host.chats.table.countedFor(appId) >= host.limits.maxChatsPerApp) {
    refuse(tooManyChats(host.limits));
    host.chats.reject(chat, "the target has too many chats");
    return;
  }
  const { route } = chat;
  const remoteInitiator = route.kind === "remote" && route.app === chat.offer.initiatorAppId;
  if (route.kind === "remote" && remoteInitiator) {
    // The initiator's node must hear of it, or the chat would be ready on this side only.
    const ready = readyOf(chat.offer, session.publicKey, accept);
    if (!host.chats.toRemote(chat, { $case: "accepted", value: { ready } }))
      return refuse({
        code: ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE,
        message: `node ${route.node} hosting the initiator cannot be reached now; accept again later`,
      });
  }
  const ready = host.chats.makeReady(chat, session.publicKey, accept);
  if (!remoteInitiator)
    host.chats.sendTo(chat.offer.initiatorAppId, { $case: "chatReady", value: ready.ready });
  host.send(session, { $case: "chatReady", value: ready.ready }, cid);
}

export function rejectChat(
  host: AppFrameHost,
  session: Session,
  reject: approuter.RejectChat,
  cid: string,
): void {
  const refuse = (refusal: Refusal) =>
    host.refuse(session, refusal, { correlationId: cid, chatId: reject.chatId });
  const chat = offerTo(host, session.appId, reject.chatId, "reject");
  if ("code" in chat) return refuse(chat);
  host.chats.reject(chat, reject.reason.slice(0, 200));
}

export function deleteChat(
  host: AppFrameHost,
  session: Session,
  del: approuter.DeleteChat,
  cid: string,
): void {
  const chat = host.chats.table.get(del.chatId);
  const detail = { correlationId: cid, chatId: del.chatId };
  if (!chat) return host.fail(session, ErrorCode.ERROR_CODE_UNKNOWN_CHAT, "no such chat", detail);
  if (!isParticipant(chat, session.appId))
    return host.fail(
      session,
      ErrorCode.ERROR_CODE_NOT_PARTICIPANT,
      "this app is not part of the chat",
      detail,
    );
  host.chats.end(
    chat,
    "deleted",
    (appId) =>
      appId === session.appId
        ? ChatEndReason.CHAT_END_REASON_DELETED
        : ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER,
    cid,
  );
}

/** The pending offer `chatId` to `appId`, or why the app cannot answer it. */
function offerTo(
  host: AppFrameHost,
  appId: string,
  chatId: string,
  answer: "accept" | "reject",
): PendingChat | Refusal {
  const chat = host.chats.table.get(chatId);
  if (!chat)
    return { code: ErrorCode.ERROR_CODE_UNKNOWN_CHAT, message: "no such chat (it may have expired)" };
  if (chat.offer.targetAppId !== appId)
    return { code: ErrorCode.ERROR_CODE_NOT_PARTICIPANT, message: `only the chat's target can ${answer} it` };
  if (chat.state !== "pending") {
    const instead = answer === "reject" ? "; delete it instead" : "";
    return {
      code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
      message: `the chat was already accepted${instead}`,
    };
  }
  return chat;
}

function tooManyChats(limits: RouterLimits): Refusal {
  return {
    code: ErrorCode.ERROR_CODE_TOO_MANY_CHATS,
    message: `this app has ${limits.maxChatsPerApp} chats, the maximum`,
    limit: "max_chats",
  };
}
