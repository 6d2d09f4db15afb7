import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger };
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

/** JSON logs like the node's: ISO time, level names, one line per event, no secret values. */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const opts = {
    level,
    base: { service: "hermes-operator" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: {
      paths: ["data", "*.data", "passphrase", "*.passphrase", "keyPem", "*.keyPem"],
      censor: "[redacted]",
    },
  };
  return destination ? pino(opts, destination) : pino(opts);
}
