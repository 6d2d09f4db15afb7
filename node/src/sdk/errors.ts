import { approuter } from "@hermes/proto";

/** An Error frame from the node. `code` is the stable protocol code. */
export class NodeError extends Error {
  constructor(
    readonly code: approuter.ErrorCode,
    message: string,
    readonly chatId = "",
    readonly retryAfterMs = 0,
  ) {
    super(`${approuter.ErrorCode[code] ?? code}: ${message}`);
    this.name = "NodeError";
  }
}

export class ChatEndedError extends Error {
  constructor(
    readonly chatId: string,
    readonly reason: approuter.ChatEndReason,
  ) {
    super(`chat ${chatId} ended: ${approuter.ChatEndReason[reason] ?? reason}`);
    this.name = "ChatEndedError";
  }
}

export class ChatRejectedError extends Error {
  constructor(
    readonly chatId: string,
    readonly reason: string,
  ) {
    super(`chat ${chatId} rejected by the peer${reason ? `: ${reason}` : ""}`);
    this.name = "ChatRejectedError";
  }
}

/** The peer's signatures or keys in a chat offer or transcript do not check out. */
export class PeerVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PeerVerificationError";
  }
}

/**
 * No node took the app back within the client's bound (ClientOptions.unreachableAfterMs). With
 * `queued`, the message was accepted before: it stays queued and goes out exactly once, in
 * order, when a node carries the chat again (its ack then comes as a Chat `acked` event); send
 * it again and it arrives twice. Without, it was refused and took no seq: send it again later.
 */
export class NodeUnreachableError extends Error {
  constructor(
    readonly chatId: string,
    readonly queued: boolean,
  ) {
    super(
      queued
        ? `no node reachable: the message to chat ${chatId} stays queued and goes out when a node is back`
        : `no node reachable: the message to chat ${chatId} was not sent`,
    );
    this.name = "NodeUnreachableError";
  }
}
