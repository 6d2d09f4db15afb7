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

  it("separates domains and field boundaries", () => {
    const a = signingPayload("hermes/chat-offer/v1", ["ab", "c"]);
    const b = signingPayload("hermes/chat-offer/v1", ["a", "bc"]);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    const key = Identity.generate();
    const sig = sign(key.secretKey, "hermes/chat-offer/v1", ["x", 1]);
    expect(verify(key.publicKey, sig, "hermes/chat-offer/v1", ["x", 1])).toBe(true);
    expect(verify(key.publicKey, sig, "hermes/chat-accept/v1", ["x", 1])).toBe(false);
    expect(verify(key.publicKey, sig, "hermes/chat-offer/v1", ["x", 2])).toBe(false);
    expect(verify(key.publicKey, new Uint8Array(3), "hermes/chat-offer/v1", ["x", 1])).toBe(false);
  });

  it("zeroes its secret on destroy", () => {
    const key = Identity.generate();
    key.destroy();
    expect(key.secretKey.every((b) => b === 0)).toBe(true);
  });
});
