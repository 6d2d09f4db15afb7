import type { CryptoBackend, CryptoBackendName } from "./backend.js";
import { nativeBackend } from "./native.js";
import { nobleBackend } from "./noble.js";
import { selfTest } from "./self-test.js";
import { isWeakPoint } from "./weak-points.js";

export {
  AuthenticationError,
  type CryptoBackend,
  type CryptoBackendName,
  type SigningKey,
} from "./backend.js";

/**
 * The crypto backend of this process, chosen once when this module loads from HERMES_CRYPTO:
 * unset or `auto` takes node:crypto where it loads and passes its self-test (every Node.js
 * release Hermes supports), else the pure-JS @noble backend (browsers, React Native, a Node.js
 * whose OpenSSL lacks a primitive); `native` insists on node:crypto and fails at load without
 * it; `noble` always takes the pure-JS one.
 */
export type CryptoChoice = CryptoBackendName | "auto";

export function chooseBackend(
  setting: string | undefined,
  loadNative: () => CryptoBackend | Error,
): CryptoBackend {
  const choice = setting === undefined || setting === "" ? "auto" : setting;
  if (choice === "noble") return nobleBackend;
  if (choice !== "auto" && choice !== "native")
    throw new Error(`HERMES_CRYPTO must be auto, native or noble, got "${setting}"`);
  const native = loadNative();
  if (!(native instanceof Error)) return native;
  if (choice === "auto") return nobleBackend;
  throw new Error(`HERMES_CRYPTO=native, but ${native.message}`, { cause: native });
}

/** node:crypto, reached without importing it, so that this module loads where it is absent. */
export function loadNativeBackend(): CryptoBackend | Error {
  const nodeCrypto = globalThis.process?.getBuiltinModule?.("node:crypto");
  if (!nodeCrypto) return new Error("node:crypto is not available in this runtime");
  try {
    const backend = nativeBackend(nodeCrypto);
    selfTest(backend);
    return backend;
  } catch (error) {
    return new Error(`node:crypto failed its self-test: ${(error as Error).message}`, { cause: error });
  }
}

let current = chooseBackend(globalThis.process?.env?.HERMES_CRYPTO, loadNativeBackend);

export function cryptoBackend(): CryptoBackend {
  return current;
}

/** Switches the backend of the whole process: for tests and benchmarks that run both. */
export function useCryptoBackend(choice: CryptoChoice): CryptoBackend {
  current = chooseBackend(choice, loadNativeBackend);
  return current;
}

/**
 * Ed25519 verification that never throws (the input is untrusted) and gives one answer on
 * every backend: wrong lengths, non-canonical or small-order points and s ≥ L are refused,
 * and the rest must satisfy the cofactorless equation (docs/security.md#signatures).
 */
export function verifyEd25519(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  if (isWeakPoint(publicKey) || isWeakPoint(signature.subarray(0, 32))) return false;
  try {
    return current.verify(publicKey, signature, message);
  } catch {
    return false;
  }
}
