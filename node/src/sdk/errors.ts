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
