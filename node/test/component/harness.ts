import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultConfig, type NodeConfig } from "../../src/config/index.js";
import { Identity } from "../../src/identity/index.js";
import { type RunningNode, startNode } from "../../src/node.js";
import { type Chat, type ClientOptions, HermesClient } from "../../src/sdk/index.js";
import { createLogger } from "../../src/telemetry/index.js";

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** A node in this process on loopback, with a cheap keystore KDF and its own data dir. */
export async function testConfig(
  overrides: DeepPartial<NodeConfig> = {},
  dataDir?: string,
): Promise<NodeConfig> {
  const base = defaultConfig();
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), "hermes-test-")));
  const config: NodeConfig = {
    ...base,
    dataDir: dir,
    listen: { app: "127.0.0.1:0", admin: "127.0.0.1:0" },
    keystore: {
      ...base.keystore,
      path: join(dir, "keystore.json"),
      kdf: { memoryKiB: 256, iterations: 1, parallelism: 1 },
      flushIntervalMs: 50,
    },
    log: { level: "silent" },
  };
  for (const [section, values] of Object.entries(overrides)) {
    const target = config as unknown as Record<string, unknown>;
    target[section] =
      typeof values === "object" && values !== null ? { ...(target[section] as object), ...values } : values;
  }
  // loadConfig derives these; a hand-built config sets them itself.
  config.advertiseApp ||= config.listen.app;
  config.mesh.advertise ||= config.mesh.listen;
  return config;
}

export async function startTestNode(
  overrides: DeepPartial<NodeConfig> = {},
  dataDir?: string,
): Promise<RunningNode & { config: NodeConfig; endpoint: string; cleanup(): Promise<void> }> {
  process.env.HERMES_KEYSTORE_PASSPHRASE ??= "test passphrase";
  const config = await testConfig(overrides, dataDir);
  const node = await startNode(config, { logger: createLogger({ level: "silent" }) });
  return {
    ...node,
    config,
    endpoint: `127.0.0.1:${node.appPort}`,
    async cleanup() {
      await node.stop();
      if (!dataDir) await rm(config.dataDir, { recursive: true, force: true });
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

export function newApp(
  endpoint: string,
  identity = Identity.generate(),
  options: Partial<ClientOptions> = {},
): HermesClient {
  return new HermesClient({
    endpoint,
    identity,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    timeoutMs: 5000,
    ...options,
  });
}

/** Connects two apps and opens a chat between them; `b` accepts. */
export async function chatBetween(a: HermesClient, b: HermesClient): Promise<[Chat, Chat]> {
  await Promise.all([a.connect(), b.connect()]);
  const accepted = new Promise<Chat>((resolve, reject) => {
    b.once("offer", (offer) => offer.accept().then(resolve, reject));
  });
  const mine = await a.startChat(b.appId);
  return [mine, await accepted];
}

/** Collects `count` message texts from a chat. */
export function collect(chat: Chat, count: number, timeoutMs = 10_000): Promise<string[]> {
  const texts: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${texts.length}/${count} messages`)), timeoutMs);
    chat.on("message", (m) => {
      texts.push(m.text());
      if (texts.length === count) {
        clearTimeout(timer);
        resolve(texts);
      }
    });
  });
}

export async function until(check: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
