import { Identity } from "../identity/index.js";
import type { KeyBackend } from "./backend.js";

/** Keystore entry holding the node's ed25519 secret key. */
export const NODE_IDENTITY_ENTRY = "node/identity";

/**
 * The node's identity from the keystore, or a fresh one stored there (created: true; the caller
 * flushes). The returned Identity owns its secret; call destroy() when done.
 */
export function loadOrCreateNodeIdentity(backend: KeyBackend): { identity: Identity; created: boolean } {
  const stored = backend.get(NODE_IDENTITY_ENTRY);
  if (stored) {
    try {
      return { identity: Identity.fromSecretKey(stored), created: false };
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      throw new Error(`keystore entry ${NODE_IDENTITY_ENTRY} is not a valid node key: ${detail}`, {
        cause: err,
      });
    } finally {
      stored.fill(0);
    }
  }
  const identity = Identity.generate();
  const secret = identity.exportSecretKey();
  try {
    backend.put(NODE_IDENTITY_ENTRY, secret);
  } catch (err) {
    identity.destroy();
    throw err;
  } finally {
    secret.fill(0);
  }
  return { identity, created: true };
}
