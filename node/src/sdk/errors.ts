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

/**
 * Why a ratcheted (e2e v2) message was refused. `malformed`, `out_of_order`, `unknown_key`,
 * `replayed_key` and `authentication` are found before the message authenticates, so the node
 * may have made them: the message is dropped and not acknowledged, and the chat goes on (a
 * reconnect rewinds it). `key_too_old`, `too_many_messages` and `bad_key` come from the peer
 * itself (the message authenticated): it breaks the rules, and the chat ends.
 */
export type RatchetErrorCode =
  | "malformed"
  | "out_of_order"
  | "unknown_key"
  | "replayed_key"
  | "authentication"
  | "key_too_old"
  | "too_many_messages"
  | "bad_key";

export class RatchetError extends Error {
  constructor(
    readonly code: RatchetErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "RatchetError";
  }
}

/**
 * The peer's SDK does not speak the ratchet (e2e v2) and this app requires it
 * (`e2e.ratchet: "required"`): the chat was refused at its start.
 */
export class E2eVersionError extends Error {
  constructor(
    readonly chatId: string,
    message: string,
  ) {
    super(message);
    this.name = "E2eVersionError";
  }
}
