import { hostname } from "node:os";
import { defaultMeshConfig } from "../mesh/config.js";
import { defaultRouterLimits, defaultRouterTimeouts } from "../router/config.js";
import type { NodeConfig } from "./types.js";

/** A standalone dev node that starts with no config at all. Empty strings mean "derive at load time". */
export function defaultConfig(): NodeConfig {
  return structuredClone({
    nodeName: hostname(),
    dataDir: "./hermes-data",
    listen: { app: "0.0.0.0:7400", admin: "0.0.0.0:7402" },
    advertiseApp: "",
    keystore: {
      path: "",
      passphraseEnv: "HERMES_KEYSTORE_PASSPHRASE",
      passphraseFile: "",
      kdf: { memoryKiB: 65536, iterations: 3, parallelism: 1 },
      flushIntervalMs: 1000,
    },
    limits: defaultRouterLimits,
    timeouts: defaultRouterTimeouts,
    log: { level: "info" },
    mesh: defaultMeshConfig,
  }) as NodeConfig;
}
