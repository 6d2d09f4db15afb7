export { createLogger, type LoggerOptions, REDACT_PATHS } from "./logger.js";
export { Metrics } from "./metrics.js";
