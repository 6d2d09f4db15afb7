/** Why a keystore operation failed; callers (the CLI, the daemon) branch on `code`. */
export type KeystoreErrorCode =
  | "not_found"
  | "wrong_passphrase"
  | "corrupt"
  | "unsupported_version"
  | "exists"
  | "closed"
  | "io";

export class KeystoreError extends Error {
  override readonly name = "KeystoreError";

  constructor(
    readonly code: KeystoreErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
