import { resolve } from "node:path";
import { FileKeyBackend } from "./file-backend.js";
import type { KdfParams } from "./format.js";
import { loadOrCreateNodeIdentity } from "./node-identity.js";

export interface InitKeystoreOptions {
  path: string;
  /** Stays the caller's; not zeroed here. */
  passphrase: Uint8Array;
  /** Argon2id cost; defaults to DEFAULT_KDF. */
  kdf?: KdfParams;
}

/** `hermes keystore init`: a new keystore holding a fresh node identity, flushed to disk. */
export async function initKeystore(opts: InitKeystoreOptions): Promise<{ nodeId: string; path: string }> {
  const path = resolve(opts.path);
  const backend = await FileKeyBackend.create(path, opts.passphrase, opts.kdf);
  try {
    const { identity } = loadOrCreateNodeIdentity(backend);
    const nodeId = identity.id;
    identity.destroy();
    await backend.flush();
    return { nodeId, path };
  } finally {
    await backend.close();
  }
}
