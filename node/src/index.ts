export { defaultConfig, loadConfig, type NodeConfig } from "./config/index.js";
export { type RunningNode, type StartOptions, startNode, VERSION } from "./node.js";
export * from "./sdk/index.js";
