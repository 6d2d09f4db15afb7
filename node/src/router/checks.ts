import { approuter } from "@hermes/proto";
import { CHAT_ID_PATTERN, deriveId, ID_PATTERN, idMatchesKey } from "../identity/index.js";
import {
  type SignedAccept,
  type SignedOffer,
  verifyAccept,
  verifyConnect,
  verifyOffer,
} from "../protocol/index.js";

/**
 * Pure verdicts shared by the app path (router.ts) and the tieline path (tielines.ts): a node
 * speaks for its apps, so a frame from another node is held to the same rules as the app's own.
 * Each returns what to refuse with, or undefined.
 */

const { ErrorCode } = approuter;

export interface Refusal {
  code: approuter.ErrorCode;
  message: string;
  /** The limit that bit, for hermes_limit_refusals_total. */
  limit?: string;
}

/** Codes that mean the app misbehaves (as opposed to ordinary flow control); they spend its bad-frame budget. */
export const ABUSIVE = new Set<approuter.ErrorCode>([
  ErrorCode.ERROR_CODE_MALFORMED_FRAME,
  ErrorCode.ERROR_CODE_FRAME_TOO_LARGE,
  ErrorCode.ERROR_CODE_NOT_CONNECTED,
  ErrorCode.ERROR_CODE_AUTH_FAILED,
  ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
  ErrorCode.ERROR_CODE_NOT_PARTICIPANT,
  ErrorCode.ERROR_CODE_REPLAYED,
]);

/** The metric label of an error code: ERROR_CODE_OUT_OF_ORDER → "out_of_order". */
export function codeLabel(code: approuter.ErrorCode): string {
  return (approuter.ErrorCode[code] ?? String(code)).replace("ERROR_CODE_", "").toLowerCase();
}

export interface TimeContext {
  now: number;
  clockSkewMs: number;
}

/** A Connect must answer this stream's challenge (`nonce`) from this node (`nodeId`), signed now. */
export function checkConnect(
  connect: approuter.Connect,
  nodeId: string,
  nonce: Uint8Array,
  ctx: TimeContext,
): string | undefined {
  if (connect.publicKey.length !== 32) return `public_key must be 32 bytes, got ${connect.publicKey.length}`;
  if (!Buffer.from(connect.nonce).equals(Buffer.from(nonce)))
    return "nonce does not match this stream's challenge";
  const skew = checkSkew(connect.timestampMs, ctx);
  if (skew) return skew;
  if (!verifyConnect(nodeId, deriveId(connect.publicKey), connect))
    return "signature does not verify (is it signed for this node and this challenge?)";
  return undefined;
}

export function checkSkew(timestampMs: number, ctx: TimeContext): string | undefined {
  const drift = Math.abs(ctx.now - timestampMs);
  if (drift > ctx.clockSkewMs) {
    return `timestamp is ${drift} ms away from the node's clock (limit ${ctx.clockSkewMs} ms)`;
  }
  return undefined;
}

/**
 * An offer, whether its initiator is connected here (the key is the session's) or on another
 * node (the key travels with the offer and must derive the initiator's ID).
 */
export function checkOffer(offer: SignedOffer, ctx: TimeContext): Refusal | undefined {
  const invalid = (message: string) => ({ code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT, message });
  const auth = (message: string) => ({ code: ErrorCode.ERROR_CODE_AUTH_FAILED, message });
  if (!CHAT_ID_PATTERN.test(offer.chatId)) return invalid("chat_id must be 32 lowercase hex characters");
  if (!ID_PATTERN.test(offer.targetAppId)) return invalid("target_app_id is not an app ID");
  if (offer.targetAppId === offer.initiatorAppId) return invalid("an app cannot chat with itself");
  if (offer.ephemeralKey.length !== 32) return invalid("ephemeral_key must be 32 bytes");
  if (!idMatchesKey(offer.initiatorAppId, offer.initiatorPublicKey))
    return auth("initiator ID does not match its key");
  const skew = checkSkew(offer.timestampMs, ctx);
  if (skew) return auth(skew);
  if (!verifyOffer(offer)) return auth("offer signature does not verify");
  return undefined;
}

/** The target's answer to `offer`, signed with `targetPublicKey`. */
export function checkAccept(
  offer: SignedOffer,
  targetPublicKey: Uint8Array,
  accept: SignedAccept,
  ctx: TimeContext,
): Refusal | undefined {
  if (accept.ephemeralKey.length !== 32)
    return { code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT, message: "ephemeral_key must be 32 bytes" };
  if (!idMatchesKey(offer.targetAppId, targetPublicKey))
    return { code: ErrorCode.ERROR_CODE_AUTH_FAILED, message: "target ID does not match its key" };
  const skew = checkSkew(accept.timestampMs, ctx);
  if (skew) return { code: ErrorCode.ERROR_CODE_AUTH_FAILED, message: skew };
  if (!verifyAccept(offer, targetPublicKey, accept))
    return { code: ErrorCode.ERROR_CODE_AUTH_FAILED, message: "accept signature does not verify" };
  return undefined;
}

/** A transcript from another node: its offer half must be the offer this node holds. */
export function checkReadyMatches(offer: SignedOffer, ready: approuter.ChatReady): Refusal | undefined {
  const same =
    ready.chatId === offer.chatId &&
    ready.initiatorAppId === offer.initiatorAppId &&
    ready.targetAppId === offer.targetAppId &&
    Buffer.from(ready.initiatorEphemeralKey).equals(Buffer.from(offer.ephemeralKey));
  if (same) return undefined;
  return { code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT, message: "the transcript does not match the offer" };
}

/** A message's ciphertext against the limit this node promised its apps. */
export function checkCiphertextSize(bytes: number, maxCiphertextBytes: number): Refusal | undefined {
  if (bytes <= maxCiphertextBytes) return undefined;
  return {
    code: ErrorCode.ERROR_CODE_FRAME_TOO_LARGE,
    message: `ciphertext of ${bytes} bytes exceeds the limit of ${maxCiphertextBytes}`,
    limit: "frame_size",
  };
}

/** Told to a sender with too many unacknowledged messages: acks usually come within this. */
export const IN_FLIGHT_RETRY_MS = 100;

/** A sender may have at most `max` messages relayed and not acknowledged in one direction. */
export function checkInFlight(acked: number, seq: number, max: number): Refusal | undefined {
  if (seq - acked <= max) return undefined;
  return {
    code: ErrorCode.ERROR_CODE_RATE_LIMITED,
    message: `more than ${max} messages of this chat unacknowledged; wait for acks`,
    limit: "in_flight",
  };
}

/** An app may have at most `max` offers waiting for its answer. */
export function checkPendingOffers(waiting: number, max: number): Refusal | undefined {
  if (waiting < max) return undefined;
  return {
    code: ErrorCode.ERROR_CODE_RATE_LIMITED,
    message: `the target has ${max} offers waiting for an answer; retry later`,
    limit: "pending_offers",
  };
}
