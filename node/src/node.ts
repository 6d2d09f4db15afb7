import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { type AdminServer, meshRoutes, startAdminServer } from "./admin/index.js";
import { ConfigError, type NodeConfig } from "./config/index.js";
import { cryptoBackend } from "./crypto/index.js";
import {
  FileKeyBackend,
  type KeyBackend,
  loadOrCreateNodeIdentity,
  readPassphrase,
} from "./keystore/index.js";
import type { Mesh } from "./mesh/mesh.js";
import { startMesh, withPort } from "./mesh/start.js";
import { addAppRouter, appServerOptions, ChatStore, Router } from "./router/index.js";
import { createLogger, Metrics } from "./telemetry/index.js";
import { countOpenFds, DescriptorBudget, readSoftFdLimit } from "./transport/descriptors.js";
import { GrpcServer } from "./transport/server.js";
import { type Clock, parseHostPort, systemClock } from "./utils/index.js";

export const VERSION = "0.1.0";

export interface RunningNode {
  readonly nodeId: string;
  readonly appPort: number;
  readonly adminPort: number;
  /** Undefined when the mesh is off. */
  readonly meshPort: number | undefined;
  readonly mesh: Mesh | undefined;
  readonly router: Router;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Tells apps, stops serving, flushes and closes the keystore. Idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  clock?: Clock;
}

/** Starts a node: keystore, router, the app gRPC server and the admin HTTP server. */
export async function startNode(config: NodeConfig, options: StartOptions = {}): Promise<RunningNode> {
  const logger = options.logger ?? createLogger({ level: config.log.level, name: config.nodeName });
  const clock = options.clock ?? systemClock;
  const descriptors = descriptorBudget(config, clock, logger);
  const backend = await openKeystore(config, logger);
  const { identity, created } = loadOrCreateNodeIdentity(backend);
  if (created) await backend.flush();
  logger.info({ nodeId: identity.id, keystore: config.keystore.path, created }, "node identity loaded");

  const metrics = new Metrics();
  metrics.setInfo(identity.id, VERSION);

  // Bind first: with port 0 (tests) the endpoints we advertise need the real ports.
  const server = new GrpcServer(
    { clock, metrics, logger, descriptors },
    {
      port: "app",
      listen: config.listen.app,
      bounds: {
        maxConnections: config.limits.maxConnections,
        maxConnectionsPerAddress: config.limits.maxConnectionsPerAddress,
        idleMs: config.timeouts.connectionIdleMs,
      },
      grpcOptions: appServerOptions(config.limits.maxFrameBytes),
    },
  );
  const appPort = await server.listen();
  const appEndpoint = withPort(config.advertiseApp, appPort);
  const mesh = await startMesh({
    config: config.mesh,
    dataDir: config.dataDir,
    clockSkewMs: config.timeouts.clockSkewMs,
    identity,
    clock,
    appEndpoint,
    descriptors,
    metrics,
    logger,
    version: VERSION,
  });

  const store = new ChatStore(backend);
  const router = new Router(
    { identity, clock, metrics, logger, store, ...(mesh ? { mesh: mesh.mesh } : {}) },
    { limits: config.limits, timeouts: config.timeouts },
  );
  const restored = router.restore();
  if (restored > 0) logger.info({ chats: restored }, "chats restored from the keystore");
  metrics.keystoreEntries.set(backend.list().length);
  mesh?.mesh.on("routeFrame", (nodeId, frame) => router.routeFrame(nodeId, frame));
  mesh?.mesh.on("nodeLost", (nodeId) => router.nodeLost(nodeId));
  mesh?.mesh.on("appLocated", (appId, nodeId, proof) => router.appLocated(appId, nodeId, proof));
  mesh?.mesh.on("tielineUp", (nodeId) => router.tielineUp(nodeId));
  mesh?.mesh.on("isolated", (isolated) => {
    if (isolated) router.sendAway("this node is cut off from the rest of the mesh");
  });
  addAppRouter(server.grpc, { router, logger, metrics }, config.limits);
  server.setGate((address) => router.admitConnection(address));

  let serving = true;
  const flush = async () => {
    if (!store.pending) return;
    const end = metrics.keystoreFlushSeconds.startTimer();
    try {
      await store.flush();
      metrics.keystoreFlushes.inc({ result: "ok" });
      metrics.keystoreEntries.set(backend.list().length);
    } catch (error) {
      metrics.keystoreFlushes.inc({ result: "error" });
      logger.error({ err: String(error) }, "keystore flush failed; will retry");
    } finally {
      end();
    }
  };
  const stopSweep = clock.setInterval(() => router.sweep(), config.timeouts.sweepIntervalMs);
  const stopFlush = clock.setInterval(() => void flush(), config.keystore.flushIntervalMs);

  const admin: AdminServer = await startAdminServer({
    ...parseHostPort(config.listen.admin),
    metrics,
    logger,
    routes: { ...debugRoutes(), ...(mesh ? meshRoutes(mesh.mesh) : {}) },
    health: () => {
      const meshReady = mesh ? mesh.ready() : true;
      return {
        live: true,
        ready: serving && meshReady,
        checks: {
          appServer: { ok: serving, detail: serving ? `listening on ${appPort}` : "stopping" },
          keystore: { ok: !backend.dirty || serving },
          mesh: { ok: meshReady, detail: mesh ? (meshReady ? "joined" : "joining") : "off (alone)" },
        },
      };
    },
  });
  logger.info(
    {
      nodeId: identity.id,
      app: config.listen.app,
      appPort,
      appEndpoint,
      admin: config.listen.admin,
      adminPort: admin.port,
      meshPort: mesh?.port,
      crypto: cryptoBackend().name,
    },
    "node serving",
  );

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      serving = false;
      logger.info("node stopping");
      router.shutdown();
      await mesh?.stop();
      await server.close(config.timeouts.shutdownGraceMs);
      stopSweep();
      stopFlush();
      await flush();
      await backend.close();
      identity.destroy();
      await admin.close();
      logger.info("node stopped");
    })();
    return stopping;
  };
  return {
    nodeId: identity.id,
    appPort,
    adminPort: admin.port,
    meshPort: mesh?.port,
    mesh: mesh?.mesh,
    router,
    metrics,
    logger,
    stop,
  };
}

/**
 * The descriptors connections may use: the soft RLIMIT_NOFILE minus the reserve. A reserve that
 * leaves no room for connections at all is a configuration error.
 */
function descriptorBudget(config: NodeConfig, clock: Clock, logger: Logger): DescriptorBudget {
  const reserve = config.limits.reservedFileDescriptors;
  const limit = readSoftFdLimit();
  const budget = new DescriptorBudget({ clock, countOpen: countOpenFds }, { limit, reserve });
  if (limit === undefined) {
    logger.warn(
      "cannot read the file descriptor limit (/proc/self/limits); the descriptor reserve is not enforced",
    );
    return budget;
  }
  const open = budget.openNow();
  if (limit - reserve <= open) {
    throw new ConfigError(
      `limits.reservedFileDescriptors (${reserve}) leaves no descriptors for connections: the soft limit (ulimit -n) is ${limit} and ${open} are open already; raise the limit or lower the reserve`,
      "limits.reservedFileDescriptors",
    );
  }
  logger.info({ limit, reserve, open }, "file descriptors: connections may use the limit minus the reserve");
  return budget;
}

/**
 * Opens the keystore, creating it on first start. With no passphrase configured the node runs
 * as a dev node: it makes a random passphrase file beside the keystore and says so.
 */
async function openKeystore(config: NodeConfig, logger: Logger): Promise<KeyBackend> {
  const { path, passphraseEnv, passphraseFile, kdf } = config.keystore;
  let passphrase = readPassphrase({ env: passphraseEnv, file: passphraseFile });
  if (!passphrase) {
    const devFile = join(config.dataDir, "dev-passphrase");
    logger.warn(
      { passphraseFile: devFile },
      `no keystore passphrase (set ${passphraseEnv} or keystore.passphraseFile); dev mode keeps one in a file beside the keystore`,
    );
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    if (!existsSync(devFile))
      await writeFile(devFile, randomBytes(24).toString("base64url") + "\n", { mode: 0o600 });
    passphrase = new TextEncoder().encode((await readFile(devFile, "utf8")).split("\n")[0]);
  }
  try {
    if (existsSync(path)) return await FileKeyBackend.open(path, passphrase);
    await mkdir(join(path, ".."), { recursive: true, mode: 0o700 });
    return await FileKeyBackend.create(path, passphrase, kdf);
  } finally {
    passphrase.fill(0);
  }
}

/** With `node --expose-gc`, /debug/gc collects garbage and reports the heap: benchmarks use it to measure memory. */
function debugRoutes(): Record<string, () => unknown> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return {};
  return {
    "/debug/gc": () => {
      gc();
      const { heapUsed, rss } = process.memoryUsage();
      return { heapUsed, rss };
    },
  };
}
