import { createHash, randomBytes } from "node:crypto";
import type { Way } from "../protocol.js";

/**
 * The body of every chaos message: which pair and direction it belongs to, its counter in that
 * direction (1, 2, 3, … across every chat the pair ever had), random filler, and a SHA-256 over
 * all of that. The receiver recomputes the hash, so a message that arrives altered, or on the
 * wrong pair, is caught even though the SDK's AEAD would make that unlikely.
 */

const MAGIC = "hermes-chaos";
const FILLER_BYTES = 48;

export interface Stamp {
  pair: string;
  way: Way;
  counter: number;
}

export function encodeMessage(stamp: Stamp): Uint8Array {
  const head = [MAGIC, stamp.pair, stamp.way, stamp.counter, randomBytes(FILLER_BYTES).toString("hex")].join(
    "|",
  );
  return new TextEncoder().encode(`${head}|${digest(head)}`);
}

/** The stamp of a well-formed message, or why it is not one. */
export function decodeMessage(bytes: Uint8Array): Stamp | { corrupt: string } {
  const text = new TextDecoder().decode(bytes);
  const cut = text.lastIndexOf("|");
  const head = text.slice(0, cut);
  if (cut < 0 || digest(head) !== text.slice(cut + 1)) return { corrupt: "hash mismatch" };
  const [magic, pair, way, counter] = head.split("|");
  const n = Number(counter);
  if (magic !== MAGIC || !pair || (way !== "ab" && way !== "ba") || !Number.isSafeInteger(n) || n < 1)
    return { corrupt: `not a chaos message: ${head.slice(0, 60)}` };
  return { pair, way, counter: n };
}

function digest(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
