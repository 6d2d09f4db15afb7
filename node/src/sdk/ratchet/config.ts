/**
 * The end-to-end encryption settings of an app (ClientOptions.e2e): whether it speaks the
 * ratchet (e2e v2), and the key lifetimes it keeps and demands.
 */

/**
 * `on`: offer and accept the ratchet; a chat with a peer whose SDK lacks it runs at e2e v1.
 * `required`: refuse such a peer when the chat starts. `off`: e2e v1 only, as SDKs before the
 * ratchet (for measurements and tests).
 */
export type RatchetMode = "on" | "required" | "off";

export interface E2eConfig {
  ratchet: RatchetMode;
  /** The sending chain steps (a fresh X25519 key pair) once it has carried this many messages. */
  rekeyAfterMessages: number;
  /** …or once its first message was sealed this long ago, at the next message. */
  rekeyAfterMs: number;
  /**
   * A peer's chain whose messages span more than this (by the peer's seal times) ends the chat:
   * the peer does not rekey. At least the peer's rekeyAfterMs.
   */
  maxKeyAgeMs: number;
  /** A peer's chain of more messages than this ends the chat. At least the peer's rekeyAfterMessages. */
  maxKeyMessages: number;
}

/**
 * A step after fewer messages than this on the previous chain (and not answering a new receive
 * key of ours) spends a token of the receiver's step budget; so the fewest messages an app may
 * rekey after.
 */
export const MIN_STEP_MESSAGES = 16;
/** The least rekeyAfterMs: time steps stay within the receiver's budget of one a second. */
const MIN_REKEY_AFTER_MS = 1000;

export const DEFAULT_E2E: Readonly<E2eConfig> = Object.freeze({
  ratchet: "on",
  rekeyAfterMessages: 1000,
  rekeyAfterMs: 10 * 60_000,
  maxKeyAgeMs: 60 * 60_000,
  maxKeyMessages: 10_000,
});

/** Defaults filled in, nonsense refused with an error that names the key. */
export function resolveE2eConfig(options: Partial<E2eConfig> = {}): E2eConfig {
  const config = { ...DEFAULT_E2E, ...options };
  if (!["on", "required", "off"].includes(config.ratchet))
    throw new RangeError(
      `e2e.ratchet must be "on", "required" or "off", got ${JSON.stringify(config.ratchet)}`,
    );
  const integer = (key: keyof E2eConfig, min: number, max: number) => {
    const value = config[key];
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max)
      throw new RangeError(`e2e.${key} must be an integer from ${min} to ${max}, got ${value}`);
  };
  integer("maxKeyMessages", MIN_STEP_MESSAGES, 2 ** 32 - 1);
  integer("maxKeyAgeMs", MIN_REKEY_AFTER_MS, Number.MAX_SAFE_INTEGER);
  integer("rekeyAfterMessages", MIN_STEP_MESSAGES, config.maxKeyMessages);
  integer("rekeyAfterMs", MIN_REKEY_AFTER_MS, config.maxKeyAgeMs);
  return config;
}
