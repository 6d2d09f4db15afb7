import type { Logger } from "pino";
import type { Identity } from "../identity/index.js";
import type { Metrics } from "../telemetry/index.js";
import type { DescriptorBudget } from "../transport/descriptors.js";
import { GrpcServer } from "../transport/server.js";
import { meshCredentials } from "../transport/tls.js";
import type { Clock } from "../utils/clock.js";
import { parseHostPort } from "../utils/host-port.js";
import { type MeshConfig, SERVER_DRAIN_MS } from "./config.js";
import { canonicalAddress, discoveryFromConfig } from "./discovery/index.js";
import { joinSeeds } from "./join-seeds.js";
import { Mesh } from "./mesh.js";
import { addNodeMesh, meshServerOptions } from "./mesh-service.js";

export interface MeshRuntime {
  mesh: Mesh;
  port: number;
  /** Joined, or deliberately alone (nothing to join). */
  ready(): boolean;
  /** Graceful leave, then closes the server and the watchers. */
  stop(): Promise<void>;
}

export interface StartMeshOptions {
  config: MeshConfig;
  /** Where peers remembered from this run are kept for the next. */
  dataDir: string;
  /** Accepted clock skew for signed timestamps. */
  clockSkewMs: number;
  identity: Identity;
  clock: Clock;
  appEndpoint: string;
  /** The node's file descriptors, shared with the app port. */
  descriptors: DescriptorBudget;
  metrics: Metrics;
  logger: Logger;
  version: string;
}

/**
 * Starts the NodeMesh server, the membership and discovery, or returns undefined when the mesh
 * is off: no TLS files and no explicit `mesh.insecure`.
 */
export async function startMesh(o: StartMeshOptions): Promise<MeshRuntime | undefined> {
  const m = o.config;
  const logger = o.logger.child({ component: "mesh" });
  if (m.tls.cert === "" && !m.insecure) {
    logger.info("mesh off: no mesh.tls files and mesh.insecure is false; this node runs alone");
    return undefined;
  }
  if (m.insecure)
    logger.warn(
      "mesh runs in PLAIN TEXT (mesh.insecure=true): anyone reaching the mesh port can join; local development only",
    );
  const credentials = meshCredentials(
    { ...m.tls, insecure: m.insecure },
    {
      onReload: (e) =>
        e.applied
          ? logger.info({ kind: e.kind }, "mesh TLS files reloaded")
          : logger.warn(
              { kind: e.kind, err: e.error },
              "mesh TLS files changed but are not usable; keeping the previous ones",
            ),
    },
  );
  const server = new GrpcServer(
    { clock: o.clock, metrics: o.metrics, logger, descriptors: o.descriptors },
    {
      port: "mesh",
      listen: m.listen,
      bounds: {
        maxConnections: m.maxConnections,
        maxConnectionsPerAddress: m.maxConnectionsPerAddress,
        idleMs: m.connectionIdleMs,
      },
      grpcOptions: meshServerOptions(m.maxFrameBytes),
      ...(credentials.serverTls
        ? { tls: { server: credentials.serverTls, handshakeTimeoutMs: m.tlsHandshakeTimeoutMs } }
        : {}),
    },
  );
  let port: number;
  try {
    port = await server.listen();
  } catch (error) {
    credentials.close();
    throw error;
  }
  const advertise = withPort(m.advertise, port);
  const mesh = new Mesh(
    {
      identity: o.identity,
      clock: o.clock,
      credentialsFor: (address) => credentials.channelFor(address),
      logger: o.logger,
      metrics: o.metrics,
    },
    {
      config: { ...m, advertise },
      appEndpoint: o.appEndpoint,
      clockSkewMs: o.clockSkewMs,
      version: o.version,
    },
  );
  addNodeMesh(server.grpc, mesh, m.peerFramesPerSecond);

  const { discovery, persisted } = discoveryFromConfig(
    { dataDir: o.dataDir, mesh: { ...m, advertise } },
    (error, source) => logger.warn({ source, err: error.message }, "peer discovery failed; will retry"),
    o.clock,
  );
  // Ready once joined, or while configuration and DNS name nobody else: the first node (pod 0
  // of a StatefulSet) must become ready on its own. Peers remembered from an earlier run do not
  // hold readiness back; they may all be gone.
  let nobodyElse = m.peers.length === 0 && m.dns === "";
  const ready = () => mesh.isJoined || nobodyElse;
  mesh.membership.onEvent(() => {
    persisted.remember(mesh.membership.members().filter((p) => p.state === "alive" && p.id !== mesh.nodeId));
  });
  mesh.on("joinAttempted", (address, answered) => {
    for (const peer of persisted.attempted(address, answered)) {
      mesh.membership.forgetSeed(peer.address);
      logger.info(
        { peer: peer.nodeId, address: peer.address, lastSeen: new Date(peer.lastSeenMs).toISOString() },
        "remembered peer forgotten: it answered no join attempt",
      );
    }
  });
  mesh.start();
  const liveAddresses = () =>
    new Set(
      mesh.membership
        .members()
        .filter((p) => p.state === "alive" || p.state === "suspect")
        .map((p) => canonicalAddress(p.address)),
    );
  discovery.start(async (peers) => {
    nobodyElse = peers.every((p) => p.source === "persisted");
    // Join what is not a live member already: new nodes, and after a partition, the far side.
    await joinSeeds(
      peers.map((p) => p.address),
      {
        join: (address) => mesh.join([address]),
        isMember: (address) => liveAddresses().has(address) || mesh.knowsAddress(address),
      },
    );
  });
  logger.info(
    { listen: m.listen, port, advertise, secure: credentials.secure, peers: m.peers, dns: m.dns },
    "mesh serving",
  );

  return {
    mesh,
    port,
    ready,
    async stop() {
      discovery.stop();
      await mesh.leave();
      // Peers keep their streams to us open; give in-flight frames a moment, then cut them.
      await server.close(SERVER_DRAIN_MS);
      credentials.close();
      await persisted.close();
    },
  };
}

/** An advertised address keeps its host; a configured port 0 becomes the port actually bound. */
export function withPort(address: string, port: number): string {
  const parsed = parseHostPort(address);
  if (parsed.port !== 0) return address;
  const host = parsed.host.includes(":") ? `[${parsed.host}]` : parsed.host;
  return `${host}:${port}`;
}
