/**
 * The keystore file: pure parsing, validation, serialization and the canonical byte encodings that
 * the header digest and the file MAC cover. No I/O and no keys here.
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { encodeFields, type Field } from "../identity/signing.js";
import { KeystoreError } from "./errors.js";

export const FORMAT = "hermes-keystore";
export const VERSION = 1;
export const KDF_ALG = "argon2id";

export interface KdfParams {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

export const DEFAULT_KDF: Readonly<KdfParams> = { memoryKiB: 65536, iterations: 3, parallelism: 1 };

/** What the file says, decoded and structurally valid; nothing here is authenticated yet. */
export interface KeystoreFile {
  salt: Uint8Array;
  kdf: KdfParams;
  /** Passphrase verifier derived from the master key; lets us tell a wrong passphrase from tampering. */
  check: Uint8Array;
  entries: Map<string, Uint8Array>;
  mac: Uint8Array;
}

// Bounds a hostile file cannot exceed: Argon2 memory must stay below 4 GiB (noble's ceiling too),
// and time/lanes are capped so opening a file cannot hang the process for hours.
const MAX_MEMORY_KIB = 4 * 1024 * 1024 - 1;
const MAX_ITERATIONS = 64;
const MAX_PARALLELISM = 64;
const SALT_MIN = 16;
const SALT_MAX = 64;
export const SEALED_MIN = 24 + 16; // nonce + Poly1305 tag
export const MAX_NAME_LENGTH = 1024;
const NAME_PATTERN = /^[\x20-\x7e]+$/;
const TOP_KEYS = ["format", "version", "kdf", "check", "headerSha256", "entries", "mac"];
const KDF_KEYS = ["alg", "salt", "memoryKiB", "iterations", "parallelism"];

/** Returns what is wrong with the params, or undefined when they are acceptable. */
export function kdfProblem(kdf: KdfParams): string | undefined {
  const { memoryKiB, iterations, parallelism } = kdf;
  if (!isIntIn(parallelism, 1, MAX_PARALLELISM)) return `parallelism must be 1..${MAX_PARALLELISM}`;
  if (!isIntIn(iterations, 1, MAX_ITERATIONS)) return `iterations must be 1..${MAX_ITERATIONS}`;
  if (!isIntIn(memoryKiB, 8 * parallelism, MAX_MEMORY_KIB))
    return `memoryKiB must be ${8 * parallelism} (8 x parallelism)..${MAX_MEMORY_KIB}`;
  return undefined;
}

/** Printable ASCII keeps names unambiguous in the canonical encoding and readable in the file. */
export function nameProblem(name: string): string | undefined {
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_NAME_LENGTH)
    return `entry name must be 1..${MAX_NAME_LENGTH} characters`;
  if (!NAME_PATTERN.test(name)) return "entry name must be printable ASCII";
  return undefined;
}

export function parseKeystore(text: string, path: string): KeystoreFile {
  const corrupt = (why: string) => new KeystoreError("corrupt", `keystore ${path} is corrupt: ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw corrupt("not valid JSON");
  }
  if (!isRecord(doc) || doc.format !== FORMAT)
    throw corrupt(`not a Hermes keystore (format marker is not "${FORMAT}")`);
  if (doc.version !== VERSION) {
    if (isIntIn(doc.version, 1, Number.MAX_SAFE_INTEGER))
      throw new KeystoreError(
        "unsupported_version",
        `keystore ${path} has format version ${doc.version}; this build reads version ${VERSION}`,
      );
    throw corrupt("version is missing or not a positive integer");
  }
  const fieldsWrong = keysProblem(doc, TOP_KEYS);
  if (fieldsWrong) throw corrupt(fieldsWrong);

  const k = doc.kdf;
  if (!isRecord(k)) throw corrupt("kdf is not an object");
  const kdfWrong = keysProblem(k, KDF_KEYS);
  if (kdfWrong) throw corrupt(`kdf: ${kdfWrong}`);
  if (k.alg !== KDF_ALG) throw corrupt(`kdf.alg is not "${KDF_ALG}"`);
  const salt = fromB64(k.salt);
  if (!salt || salt.length < SALT_MIN || salt.length > SALT_MAX) throw corrupt("kdf.salt is malformed");
  const kdf = { memoryKiB: k.memoryKiB, iterations: k.iterations, parallelism: k.parallelism } as KdfParams;
  const badKdf = kdfProblem(kdf);
  if (badKdf) throw corrupt(`kdf: ${badKdf}`);

  const check = fromB64(doc.check);
  if (check?.length !== 32) throw corrupt("check is malformed");
  const headerSha256 = fromB64(doc.headerSha256);
  if (headerSha256?.length !== 32) throw corrupt("headerSha256 is malformed");
  const mac = fromB64(doc.mac);
  if (mac?.length !== 32) throw corrupt("mac is malformed");

  if (!isRecord(doc.entries)) throw corrupt("entries is not an object");
  const entries = new Map<string, Uint8Array>();
  for (const [name, value] of Object.entries(doc.entries)) {
    if (nameProblem(name)) throw corrupt(`entry name ${JSON.stringify(name)} is invalid`);
    const sealed = fromB64(value);
    if (!sealed || sealed.length < SEALED_MIN) throw corrupt(`entry ${JSON.stringify(name)} is malformed`);
    entries.set(name, sealed);
  }

  const file = { salt, kdf, check, entries, mac };
  // Unkeyed, so accidental damage to what the key depends on reads as "corrupt", not "wrong passphrase".
  if (!bytesEqual(sha256(headerBytes(file)), headerSha256))
    throw corrupt("header (salt, kdf parameters or check value) is damaged");
  return file;
}

export function serializeKeystore(file: KeystoreFile): string {
  const names = [...file.entries.keys()].sort();
  const doc = {
    format: FORMAT,
    version: VERSION,
    kdf: { alg: KDF_ALG, salt: toB64(file.salt), ...file.kdf },
    check: toB64(file.check),
    headerSha256: toB64(sha256(headerBytes(file))),
    // fromEntries defines own properties, so a name such as "__proto__" stays an ordinary key.
    entries: Object.fromEntries(names.map((n) => [n, toB64(file.entries.get(n)!)])),
    mac: toB64(file.mac),
  };
  return JSON.stringify(doc, null, 2) + "\n";
}

/** Canonical encoding of everything the passphrase check depends on. */
export function headerBytes(file: Omit<KeystoreFile, "entries" | "mac">): Uint8Array {
  const { memoryKiB, iterations, parallelism } = file.kdf;
  return encodeFields("hermes-keystore/v1/header", [
    FORMAT,
    VERSION,
    KDF_ALG,
    file.salt,
    memoryKiB,
    iterations,
    parallelism,
    file.check,
  ]);
}

/** Canonical encoding the file MAC covers: header plus the sorted entries. */
export function macInput(file: Omit<KeystoreFile, "mac">): Uint8Array {
  const names = [...file.entries.keys()].sort();
  const fields: Field[] = [headerBytes(file), names.length];
  for (const name of names) fields.push(name, file.entries.get(name)!);
  return encodeFields("hermes-keystore/v1/mac", fields);
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict: rejects anything but canonical base64, so every change to the text changes the bytes. */
function fromB64(value: unknown): Uint8Array | undefined {
  if (typeof value !== "string" || !B64.test(value)) return undefined;
  const buf = Buffer.from(value, "base64");
  return buf.toString("base64") === value ? Uint8Array.from(buf) : undefined;
}

function toB64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isIntIn(v: unknown, min: number, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
}

function keysProblem(obj: Record<string, unknown>, expected: string[]): string | undefined {
  const missing = expected.filter((k) => !Object.hasOwn(obj, k));
  if (missing.length > 0) return `missing field(s) ${missing.join(", ")}`;
  const extra = Object.keys(obj).filter((k) => !expected.includes(k));
  if (extra.length > 0) return `unexpected field(s) ${extra.map((k) => JSON.stringify(k)).join(", ")}`;
  return undefined;
}
