import { approuter } from "@hermes/proto";
import { checkReady, verifyResume } from "../protocol/index.js";
import type { AppFrameHost } from "./app-host.js";
import {
  chatFromTranscript,
  directionFrom,
  isParticipant,
  localRoute,
  peerOf,
  type ReadyChat,
  raiseAcked,
  remoteRoute,
  settleTo,
} from "./chat.js";
import { checkSkew } from "./checks.js";
import type { Session } from "./session.js";

/**
 * An app connecting with the marks of the chats it holds (Connect.resume). The app owns its
 * chats: this node takes its marks from the app's statement, and takes over a chat it does not
 * know (the app failed over from another node) on the app's signed transcript. A chat carried
 * across nodes then compares marks with the other participant's node (ChatSync).
 */

const { ChatEndReason } = approuter;

/** Returns, for the chats that cannot go on, what to tell the app (after its ConnectAck). */
export function resumeChats(
  host: AppFrameHost,
  session: Session,
  resumes: approuter.ChatResume[],
): approuter.ChatDeleted[] {
  const ended: approuter.ChatDeleted[] = [];
  for (const resume of resumes.slice(0, host.limits.maxChatsPerApp)) {
    const reason = resumeOne(host, session, resume);
    if (reason !== undefined) ended.push({ chatId: resume.chatId, reason });
  }
  return ended;
}

function resumeOne(
  host: AppFrameHost,
  session: Session,
  resume: approuter.ChatResume,
): approuter.ChatEndReason | undefined {
  const appId = session.appId;
  const { table } = host.chats;
  const known = table.get(resume.chatId);
  if (!known) {
    const end = table.endOf(resume.chatId);
    if (end) return end.reasons.get(appId) ?? ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE;
    return adopt(host, session, resume);
  }
  // A pending chat, or a chat id this app is not part of: nothing this app could resume.
  if (known.state !== "ready" || !isParticipant(known, appId)) return undefined;
  const chat = known;
  if (chat.route.kind === "remote" && chat.route.app === appId) {
    // The app was carried by another node and came here, where its peer was: the chat is local,
    // unless the peer went on to another node since (this node's copy is old news).
    const previous = chat.route.node;
    const peer = peerOf(chat, appId);
    const peerAt = host.session(peer) ? undefined : host.mesh?.locate(peer)?.nodeId;
    chat.route = peerAt && peerAt !== host.nodeId ? remoteRoute(peer, peerAt) : localRoute();
    if (previous !== "" && previous !== peerAt)
      host.chats.toNode(previous, { $case: "released", value: { chatId: chat.id } });
  }
  // A resume made here binds the app here: an older one shown by another node moves nothing.
  if (chat.route.kind === "local")
    chat.route.resumedAtMs[appId] = Math.max(chat.route.resumedAtMs[appId] ?? 0, resume.timestampMs);
  applyStatement(host, chat, appId, resume);
  if (chat.route.kind === "remote") {
    chat.proof = resume;
    host.chats.sync(chat as ReadyChat & { route: { kind: "remote" } });
  }
  host.chats.save(chat);
  return undefined;
}

/**
 * Takes over a chat this node does not know, on the app's signed transcript and resume. The
 * peer is here (local, away for now), on the node the directory names, or not yet known.
 */
function adopt(
  host: AppFrameHost,
  session: Session,
  resume: approuter.ChatResume,
): approuter.ChatEndReason | undefined {
  const appId = session.appId;
  const ready = resume.ready;
  const problem =
    !ready || ready.chatId !== resume.chatId
      ? "the resume carries no transcript of this chat"
      : (checkReady(ready) ??
        (ready.initiatorAppId !== appId && ready.targetAppId !== appId
          ? "this app is not part of the chat"
          : (checkSkew(resume.timestampMs, host.timeContext()) ??
            (verifyResume(resume, host.nodeId, appId, session.publicKey)
              ? undefined
              : "the resume signature does not verify"))));
  if (problem || !ready) {
    host.note(
      session,
      approuter.ErrorCode.ERROR_CODE_AUTH_FAILED,
      `chat ${resume.chatId} cannot be resumed: ${problem}`,
    );
    return ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE;
  }
  const peer = ready.initiatorAppId === appId ? ready.targetAppId : ready.initiatorAppId;
  // Connected here, the peer stated every chat it holds, and this one was not among them.
  if (host.session(peer)) return ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER;
  const where = host.mesh?.locate(peer);
  const chat = chatFromTranscript(
    ready,
    { appId, delivered: resume.delivered, ackedByPeer: resume.ackedByPeer },
    remoteRoute(peer, where?.nodeId ?? ""),
    host.clock.now(),
  );
  chat.proof = resume;
  host.chats.takeOver(chat, "chat taken over for an app that resumed it here");
  host.chats.sync(chat as ReadyChat & { route: { kind: "remote" } });
  return undefined;
}

/**
 * The app's own marks: it received everything up to `delivered` from its peer (so its peer's
 * messages beyond are sent again from there), and saw its peer's acks up to `ackedByPeer`.
 */
function applyStatement(
  host: AppFrameHost,
  chat: ReadyChat,
  appId: string,
  resume: approuter.ChatResume,
): void {
  const peer = peerOf(chat, appId);
  const settled = settleTo(directionFrom(chat, peer), resume.delivered);
  raiseAcked(directionFrom(chat, appId), resume.ackedByPeer, host.clock.now(), () => {});
  if (chat.route.kind === "remote") {
    // The peer's node hears the new marks in the ChatSync that follows.
    return;
  }
  host.chats.nudge(chat, peer, settled.ackedMoved);
}
