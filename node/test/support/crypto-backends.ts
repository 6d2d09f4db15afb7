import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CryptoBackendName, cryptoBackend, useCryptoBackend } from "../../src/crypto/index.js";

export const BACKENDS: readonly CryptoBackendName[] = ["native", "noble"];

/**
 * Runs the same tests once per crypto backend, switched for the whole file's process while the
 * block runs. Build identities and keys inside tests or beforeAll: the describe body runs before
 * the switch. Fails (never skips) where node:crypto cannot serve the native backend.
 */
export function describeEachBackend(title: string, body: (backend: CryptoBackendName) => void): void {
  describe.each(BACKENDS)(`${title} (%s backend)`, (backend) => {
    let before: CryptoBackendName;
    beforeAll(() => {
      before = cryptoBackend().name;
      useCryptoBackend(backend);
    });
    afterAll(() => {
      useCryptoBackend(before);
    });
    it("runs on that backend", () => {
      expect(cryptoBackend().name).toBe(backend);
    });
    body(backend);
  });
}
