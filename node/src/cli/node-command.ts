import { loadConfig } from "../config/index.js";
import { startNode } from "../node.js";

/** `hermes node [--config file] [--<key> value ...]`: runs a node until SIGTERM or SIGINT. */
export async function nodeCommand(argv: string[]): Promise<number> {
  const config = loadConfig({ argv, env: process.env });
  const node = await startNode(config);
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      node.logger.info({ signal }, "signal received");
      node.stop().then(
        () => resolve(0),
        (error: unknown) => {
          node.logger.error({ err: String(error) }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}
