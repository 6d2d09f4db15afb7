import { lstat, readFile } from "node:fs/promises";
import { randomBytes } from "@noble/hashes/utils.js";
import { writeFileAtomic } from "../utils/atomic-write.js";
import type { KeyBackend } from "./backend.js";
import { deriveKeys, fileMac, type Keys, openEntry, sealEntry } from "./crypto.js";
import { KeystoreError } from "./errors.js";
import {
  bytesEqual,
  DEFAULT_KDF,
  type KdfParams,
  kdfProblem,
  nameProblem,
  parseKeystore,
  serializeKeystore,
} from "./format.js";

export { KeystoreError, type KeystoreErrorCode } from "./errors.js";
export { DEFAULT_KDF, type KdfParams } from "./format.js";

const SALT_BYTES = 16;

/**
 * A keystore in one passphrase-protected JSON file (DESIGN.md §3). Values stay sealed in memory
 * and are opened only by get(); flush() rewrites the file atomically.
 */
export class FileKeyBackend implements KeyBackend {
  private generation = 0;
  private savedGeneration = 0;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly salt: Uint8Array,
    private readonly kdf: KdfParams,
    private readonly keys: Keys,
    private readonly entries: Map<string, Uint8Array>,
  ) {}

  /** Creates an empty keystore at path; fails with code "exists" rather than replacing a file. */
  static async create(
    path: string,
    passphrase: Uint8Array,
    kdf: KdfParams = DEFAULT_KDF,
  ): Promise<FileKeyBackend> {
    const problem = kdfProblem(kdf);
    if (problem) throw new RangeError(`keystore kdf: ${problem}`);
    if (passphrase.length === 0) throw new TypeError("keystore passphrase must not be empty");
    if (await pathExists(path)) throw existsError(path); // before paying for Argon2
    const salt = randomBytes(SALT_BYTES);
    const { memoryKiB, iterations, parallelism } = kdf;
    const params = { memoryKiB, iterations, parallelism };
    const backend = new FileKeyBackend(
      path,
      salt,
      params,
      await deriveKeys(passphrase, salt, params),
      new Map(),
    );
    try {
      await writeFileAtomic(path, backend.serialize(), true);
    } catch (err) {
      backend.wipe();
      if (errnoCode(err) === "EEXIST") throw existsError(path);
      throw ioError(`could not create keystore ${path}`, err);
    }
    return backend;
  }

  /** Opens and verifies the whole file; never writes to it. */
  static async open(path: string, passphrase: Uint8Array): Promise<FileKeyBackend> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      if (errnoCode(err) === "ENOENT")
        throw new KeystoreError(
          "not_found",
          `keystore ${path} does not exist (create it with "hermes keystore init")`,
        );
      throw ioError(`could not read keystore ${path}`, err);
    }
    const file = parseKeystore(text, path);
    const keys = await deriveKeys(passphrase, file.salt, file.kdf);
    // The header digest already passed, so a check mismatch can only mean another passphrase.
    if (!bytesEqual(keys.check, file.check)) {
      wipeKeys(keys);
      throw new KeystoreError("wrong_passphrase", `wrong passphrase for keystore ${path}`);
    }
    if (!bytesEqual(fileMac(keys.mac, file), file.mac)) {
      wipeKeys(keys);
      throw new KeystoreError(
        "corrupt",
        `keystore ${path} is corrupt: its MAC does not match (entries altered, added, removed or swapped)`,
      );
    }
    return new FileKeyBackend(path, file.salt, file.kdf, keys, file.entries);
  }

  get dirty(): boolean {
    return !this.closed && this.generation !== this.savedGeneration;
  }

  get(name: string): Uint8Array | undefined {
    this.assertOpen();
    const sealed = this.entries.get(name);
    if (!sealed) return undefined;
    const value = openEntry(this.keys.seal, name, sealed);
    if (!value) throw new KeystoreError("corrupt", `keystore ${this.path}: entry ${name} does not decrypt`);
    return value;
  }

  put(name: string, value: Uint8Array): void {
    this.assertOpen();
    const problem = nameProblem(name);
    if (problem) throw new TypeError(`keystore: ${problem}`);
    if (!(value instanceof Uint8Array)) throw new TypeError("keystore: value must be a Uint8Array");
    const sealed = sealEntry(this.keys.seal, name, value);
    this.entries.get(name)?.fill(0);
    this.entries.set(name, sealed);
    this.generation++;
  }

  delete(name: string): boolean {
    this.assertOpen();
    const sealed = this.entries.get(name);
    if (!sealed) return false;
    sealed.fill(0);
    this.entries.delete(name);
    this.generation++;
    return true;
  }

  list(prefix = ""): string[] {
    this.assertOpen();
    return [...this.entries.keys()].filter((n) => n.startsWith(prefix)).sort();
  }

  /** Writes are chained, so concurrent calls run one after another and never interleave. */
  flush(): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    const run = this.chain.then(() => this.writeIfDirty());
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Flushes (a failed flush leaves the backend open so the caller may retry), then zeroes everything. */
  async close(): Promise<void> {
    if (this.closed) return;
    do {
      await this.flush();
    } while (this.dirty); // puts made while a flush was running
    if (this.closed) return; // a concurrent close() got there first
    this.closed = true;
    this.wipe();
  }

  private async writeIfDirty(): Promise<void> {
    if (!this.dirty) return; // also true once closed
    const generation = this.generation; // puts made during the write keep the backend dirty
    const text = this.serialize();
    try {
      await writeFileAtomic(this.path, text);
    } catch (err) {
      throw ioError(`could not write keystore ${this.path}; the previous version is intact`, err);
    }
    this.savedGeneration = generation;
  }

  private serialize(): string {
    const body = { salt: this.salt, kdf: this.kdf, check: this.keys.check, entries: this.entries };
    return serializeKeystore({ ...body, mac: fileMac(this.keys.mac, body) });
  }

  private wipe(): void {
    wipeKeys(this.keys);
    for (const sealed of this.entries.values()) sealed.fill(0);
    this.entries.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw this.closedError();
  }

  private closedError(): KeystoreError {
    return new KeystoreError("closed", `keystore ${this.path} is closed`);
  }
}

function wipeKeys(keys: Keys): void {
  keys.seal.fill(0);
  keys.mac.fill(0);
  keys.check.fill(0);
}

function existsError(path: string): KeystoreError {
  return new KeystoreError("exists", `keystore ${path} already exists; refusing to overwrite it`);
}

function ioError(message: string, cause: unknown): KeystoreError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new KeystoreError("io", `${message}: ${detail}`, { cause });
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false; // any other problem surfaces, with its real cause, when we write
  }
}
