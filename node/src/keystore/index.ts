export type { KeyBackend } from "./backend.js";
export {
  DEFAULT_KDF,
  FileKeyBackend,
  type KdfParams,
  KeystoreError,
  type KeystoreErrorCode,
} from "./file-backend.js";
export { type InitKeystoreOptions, initKeystore } from "./init.js";
export { MemoryKeyBackend } from "./memory-backend.js";
export { loadOrCreateNodeIdentity, NODE_IDENTITY_ENTRY } from "./node-identity.js";
export { type PassphraseSource, readPassphrase } from "./passphrase.js";
