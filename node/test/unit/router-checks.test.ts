import { approuter } from "@hermes/proto";
import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import { readyOf, type SignedOffer, signAccept, signOffer } from "../../src/protocol/index.js";
import {
  checkAccept,
  checkCiphertextSize,
  checkOffer,
  checkReadyMatches,
  checkSkew,
  codeLabel,
} from "../../src/router/checks.js";
import { flipped, newChatId, newEphemeralKey } from "../support/frames.js";

const { ErrorCode } = approuter;
const now = 1_700_000_000_000;
const ctx = { now, clockSkewMs: 30_000 };
const initiator = Identity.generate();
const target = Identity.generate();

function offer(over: Partial<SignedOffer> = {}): SignedOffer {
  const start = signOffer(initiator, {
    chatId: newChatId(),
    targetAppId: target.id,
    ephemeralKey: newEphemeralKey(),
    timestampMs: now,
  });
  return { ...start, initiatorAppId: initiator.id, initiatorPublicKey: initiator.publicKey, ...over };
}

describe("checkOffer, the one verdict for offers from apps and from other nodes", () => {
  it("takes a well-formed, fresh, correctly signed offer", () => {
    expect(checkOffer(offer(), ctx)).toBeUndefined();
  });

  it.each([
    ["a malformed chat id", { chatId: "XYZ" }, ErrorCode.ERROR_CODE_INVALID_ARGUMENT, /chat_id/],
    [
      "a target that is no app ID",
      { targetAppId: "nobody" },
      ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
      /target_app_id/,
    ],
    ["a chat with itself", { targetAppId: initiator.id }, ErrorCode.ERROR_CODE_INVALID_ARGUMENT, /itself/],
    [
      "a short ephemeral key",
      { ephemeralKey: new Uint8Array(31) },
      ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
      /32 bytes/,
    ],
    [
      "a key of another app",
      { initiatorPublicKey: target.publicKey },
      ErrorCode.ERROR_CODE_AUTH_FAILED,
      /match/,
    ],
    ["a stale timestamp", { timestampMs: now - 60_000 }, ErrorCode.ERROR_CODE_AUTH_FAILED, /60000 ms away/],
    [
      "a tampered signature",
      { signature: flipped(offer().signature) },
      ErrorCode.ERROR_CODE_AUTH_FAILED,
      /verify/,
    ],
  ] as const)("refuses %s", (_name, over, code, message) => {
    const refusal = checkOffer(offer(over as Partial<SignedOffer>), ctx);
    expect(refusal?.code).toBe(code);
    expect(refusal?.message).toMatch(message);
  });
});

describe("checkAccept and checkReadyMatches", () => {
  const o = offer();
  const accept = signAccept(target, o, newEphemeralKey(), now);

  it("takes the target's signed answer and refuses one by anyone else or changed after signing", () => {
    expect(checkAccept(o, target.publicKey, accept, ctx)).toBeUndefined();
    expect(checkAccept(o, initiator.publicKey, accept, ctx)?.message).toMatch(/target ID does not match/);
    expect(checkAccept(o, target.publicKey, { ...accept, timestampMs: now + 1 }, ctx)?.message).toMatch(
      /verify/,
    );
    expect(checkAccept(o, target.publicKey, { ...accept, ephemeralKey: new Uint8Array(3) }, ctx)?.code).toBe(
      ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
    );
  });

  it("holds a transcript from another node to the offer this node holds", () => {
    const ready = readyOf(o, target.publicKey, accept);
    expect(checkReadyMatches(o, ready)).toBeUndefined();
    expect(checkReadyMatches(o, { ...ready, initiatorEphemeralKey: newEphemeralKey() })?.message).toMatch(
      /does not match the offer/,
    );
    expect(checkReadyMatches(o, { ...ready, targetAppId: Identity.generate().id })).toBeDefined();
  });
});

describe("small verdicts", () => {
  it("judges timestamps against the allowed skew, both ways", () => {
    expect(checkSkew(now + 30_000, ctx)).toBeUndefined();
    expect(checkSkew(now - 30_001, ctx)).toMatch(/30001 ms away.*limit 30000/);
  });

  it("refuses a ciphertext over the limit, naming the limit that bit", () => {
    expect(checkCiphertextSize(16, 16)).toBeUndefined();
    expect(checkCiphertextSize(17, 16)).toMatchObject({
      code: ErrorCode.ERROR_CODE_FRAME_TOO_LARGE,
      limit: "frame_size",
      message: "ciphertext of 17 bytes exceeds the limit of 16",
    });
  });

  it("labels error codes for metrics", () => {
    expect(codeLabel(ErrorCode.ERROR_CODE_OUT_OF_ORDER)).toBe("out_of_order");
    expect(codeLabel(ErrorCode.ERROR_CODE_MALFORMED_FRAME)).toBe("malformed_frame");
  });
});
