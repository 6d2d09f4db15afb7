import { hostname } from "node:os";
import { type DestinationStream, type LevelWithSilent, type Logger, pino } from "pino";

export interface LoggerOptions {
  level: LevelWithSilent;
  /** Node name for the `node` base field; defaults to the host name. */
  name?: string;
  /** Where JSON lines go; stdout when absent. Tests pass a stream to capture output. */
  destination?: DestinationStream;
}

const SECRET_KEYS = ["passphrase", "secret", "secretKey", "privateKey", "key", "ciphertext", "signature"];
/** Top level and one level down (e.g. `{chat: {key}}`), which covers how the node logs objects. */
export const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [k, `*.${k}`]);

export function createLogger(options: LoggerOptions): Logger {
  const opts = {
    level: options.level,
    base: { service: "hermes", node: options.name ?? hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Level names read better than numbers in `kubectl logs` and log queries.
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
