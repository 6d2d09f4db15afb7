import { Writable } from "node:stream";
import type { Server as TlsServer } from "node:tls";
import type * as grpc from "@grpc/grpc-js";
import { createLogger, Metrics } from "../../src/telemetry/index.js";
import type { ConnectionBounds } from "../../src/transport/connection-table.js";
import { countOpenFds, DescriptorBudget } from "../../src/transport/descriptors.js";
import { GrpcServer, type PortName } from "../../src/transport/server.js";
import { systemClock } from "../../src/utils/clock.js";

/** Bounds that never bite unless a test lowers one. */
export const OPEN_BOUNDS: ConnectionBounds = {
  maxConnections: 10_000,
  maxConnectionsPerAddress: 10_000,
  idleMs: 60_000,
};

export interface TestServer {
  server: GrpcServer;
  port: number;
  metrics: Metrics;
  /** Parsed JSON log lines. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/** A GrpcServer on 127.0.0.1 with its own metrics and a captured log. */
export async function testGrpcServer(
  options: {
    port?: PortName;
    bounds?: Partial<ConnectionBounds>;
    tls?: TlsServer;
    handshakeTimeoutMs?: number;
    /** Descriptors kept free; with a limit the test chooses. */
    descriptors?: { limit: number | undefined; reserve: number };
    services?: (server: grpc.Server) => void;
    grpcOptions?: grpc.ServerOptions;
  } = {},
): Promise<TestServer> {
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: "info",
    destination: new Writable({
      write(chunk, _encoding, done) {
        logs.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    }),
  });
  const metrics = new Metrics();
  const descriptors = new DescriptorBudget(
    { clock: systemClock, countOpen: countOpenFds },
    options.descriptors ?? { limit: undefined, reserve: 0 },
  );
  const server = new GrpcServer(
    { clock: systemClock, metrics, logger, descriptors },
    {
      port: options.port ?? "mesh",
      listen: "127.0.0.1:0",
      bounds: { ...OPEN_BOUNDS, ...options.bounds },
      grpcOptions: options.grpcOptions ?? {},
      ...(options.tls
        ? { tls: { server: options.tls, handshakeTimeoutMs: options.handshakeTimeoutMs ?? 5000 } }
        : {}),
    },
  );
  options.services?.(server.grpc);
  const port = await server.listen();
  return { server, port, metrics, logs, close: () => server.close(0) };
}

/** The value of one series of a metric, 0 when absent. */
export async function metricValue(
  metrics: Metrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const match = values.find((v) =>
    Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want),
  );
  return match?.value ?? 0;
}
