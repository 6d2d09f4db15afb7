import { describe, expect, it } from "vitest";
import {
  deriveId,
  ID_PATTERN,
  Identity,
  idMatchesKey,
  sign,
  signingPayload,
  verify,
} from "../../src/identity/index.js";
import { describeEachBackend } from "../support/crypto-backends.js";

describe("identity", () => {
  it("derives a stable, well-formed ID from the public key", () => {
    const id = Identity.generate();
    expect(id.id).toMatch(ID_PATTERN);
    expect(deriveId(id.publicKey)).toBe(id.id);
    expect(idMatchesKey(id.id, Identity.generate().publicKey)).toBe(false);
  });

  it("matches a fixed vector", () => {
    // base32(sha256("hermes/id/v1" || 32 zero bytes)[0..20]), computed independently with Python.
    expect(deriveId(new Uint8Array(32))).toBe("itcnwuofkbby655dyexgwi3cytfvla5a");
  });
});

describeEachBackend("signing", () => {
  it("separates domains and field boundaries", () => {
    const a = signingPayload("hermes/chat-offer/v1", ["ab", "c"]);
    const b = signingPayload("hermes/chat-offer/v1", ["a", "bc"]);
    expect(a).not.toEqual(b);
    const key = Identity.generate();
    const sig = sign(key, "hermes/chat-offer/v1", ["x", 1]);
    expect(verify(key.publicKey, sig, "hermes/chat-offer/v1", ["x", 1])).toBe(true);
    expect(verify(key.publicKey, sig, "hermes/chat-accept/v1", ["x", 1])).toBe(false);
    expect(verify(key.publicKey, sig, "hermes/chat-offer/v1", ["x", 2])).toBe(false);
    expect(verify(key.publicKey, new Uint8Array(3), "hermes/chat-offer/v1", ["x", 1])).toBe(false);
  });

  it("answers false, never throws, for a field no one could have signed", () => {
    const key = Identity.generate();
    const sig = sign(key, "hermes/chat-offer/v1", ["x", 1]);
    expect(verify(key.publicKey, sig, "hermes/chat-offer/v1", ["x", 2 ** 53])).toBe(false);
    expect(verify(key.publicKey, sig, "hermes/chat-offer/v1", ["x", -1])).toBe(false);
  });

  it("zeroes its secret on destroy and signs nothing after", () => {
    const key = Identity.generate();
    const secret = (key as unknown as { secret: Uint8Array }).secret;
    expect(secret.some((b) => b !== 0)).toBe(true);
    key.destroy();
    expect(secret.every((b) => b === 0)).toBe(true);
    expect(() => sign(key, "hermes/chat-offer/v1", ["x"])).toThrow(/destroyed/);
    expect(() => key.exportSecretKey()).toThrow(/destroyed/);
  });

  it("keeps no reference to the caller's secret bytes", () => {
    const secret = Identity.generate().exportSecretKey();
    const key = Identity.fromSecretKey(secret);
    const before = sign(key, "hermes/chat-offer/v1", ["x"]);
    secret.fill(0);
    expect(sign(key, "hermes/chat-offer/v1", ["x"])).toEqual(before);
  });
});
