export { defaultConfig } from "./defaults.js";
export {
  ConfigError,
  configKeys,
  envNameFor,
  LOG_LEVELS,
  type LoadConfigOptions,
  loadConfig,
} from "./load.js";
export type { NodeConfig } from "./types.js";
