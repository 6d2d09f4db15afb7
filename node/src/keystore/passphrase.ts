import { readFileSync } from "node:fs";

export interface PassphraseSource {
  /** Name of the environment variable holding the passphrase; "" for none. */
  env: string;
  /** File whose first line is the passphrase; "" for none. */
  file: string;
}

/**
 * The keystore passphrase as bytes (the caller zeroes them), or undefined when no source is set.
 * The variable wins over the file. The file is read as raw bytes up to the first newline, so
 * surrounding spaces are kept as part of the passphrase.
 */
export function readPassphrase(
  source: PassphraseSource,
  processEnv: NodeJS.ProcessEnv = process.env,
): Uint8Array | undefined {
  const fromEnv = source.env ? processEnv[source.env] : undefined;
  if (fromEnv !== undefined) {
    if (fromEnv === "") throw new Error(`keystore passphrase variable ${source.env} is set but empty`);
    return new TextEncoder().encode(fromEnv);
  }
  if (!source.file) return undefined;
  let raw: Buffer;
  try {
    raw = readFileSync(source.file);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot read keystore passphrase file ${source.file}: ${detail}`, { cause: err });
  }
  try {
    let end = raw.indexOf(0x0a);
    if (end < 0) end = raw.length;
    if (end > 0 && raw[end - 1] === 0x0d) end--; // CRLF
    if (end === 0) throw new Error(`keystore passphrase file ${source.file} has an empty first line`);
    return Uint8Array.from(raw.subarray(0, end));
  } finally {
    raw.fill(0);
  }
}
