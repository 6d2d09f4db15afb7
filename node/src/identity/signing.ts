import { verifyEd25519 } from "../crypto/index.js";
import type { Identity } from "./keypair.js";

/**
 * Every signature covers a domain label and length-prefixed fields, so a signature made for
 * one purpose can never be replayed as another, and no two field lists encode alike.
 */
export type SigningLabel =
  | "hermes/app-connect/v1"
  | "hermes/chat-offer/v1"
  | "hermes/chat-accept/v1"
  | "hermes/chat-resume/v1"
  | "hermes/node-join/v1"
  | "hermes/node-gossip/v1"
  | "hermes/node-route/v1";

export type Field = Uint8Array | string | number;

const encoder = new TextEncoder();

export function signingPayload(label: SigningLabel, fields: readonly Field[]): Uint8Array {
  return encodeFields(label, fields);
}

/** The unambiguous encoding signatures and key derivations use: label, then each field, length-prefixed. */
export function encodeFields(label: string, fields: readonly Field[]): Uint8Array {
  const parts = [encoder.encode(label), ...fields.map(encodeField)];
  const total = parts.reduce((n, p) => n + 4 + p.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const part of parts) {
    view.setUint32(offset, part.length);
    out.set(part, offset + 4);
    offset += 4 + part.length;
  }
  return out;
}

function encodeField(field: Field): Uint8Array {
  if (typeof field === "string") return encoder.encode(field);
  if (typeof field === "number") {
    if (!Number.isSafeInteger(field) || field < 0) throw new Error(`cannot sign number ${field}`);
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, BigInt(field));
    return out;
  }
  return field;
}

export function sign(identity: Identity, label: SigningLabel, fields: readonly Field[]): Uint8Array {
  return identity.signBytes(signingPayload(label, fields));
}

/**
 * False for any malformed key or signature instead of throwing: the input is untrusted. The same
 * answer on every crypto backend; weak keys and signatures are refused (docs/security.md#signatures).
 */
export function verify(
  publicKey: Uint8Array,
  signature: Uint8Array,
  label: SigningLabel,
  fields: readonly Field[],
): boolean {
  let payload: Uint8Array;
  try {
    payload = signingPayload(label, fields);
  } catch {
    return false; // a field no signer could have signed (a number beyond 2^53 − 1)
  }
  return verifyEd25519(publicKey, signature, payload);
}
