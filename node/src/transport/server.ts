import { createServer, type Server as NetServer, type Socket } from "node:net";
import type { Server as TlsServer } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Metrics } from "../telemetry/metrics.js";
import type { Clock } from "../utils/clock.js";
import { parseHostPort } from "../utils/host-port.js";
import { LogThrottle } from "../utils/log-throttle.js";
import { type AdmissionRefusal, type ConnectionBounds, ConnectionTable } from "./connection-table.js";
import type { DescriptorBudget } from "./descriptors.js";
import { type Barred, Door, type TurnAway } from "./door.js";
import { connectionId, type HandshakeRefusal, TlsHandshakes } from "./tls-handshake.js";

/** A frame as it comes off the wire: decoded, or the reason it could not be. */
export type Inbound<T> = T | { malformed: string };

/**
 * Wraps a protobuf decoder so that it never throws into grpc-js: bytes that do not decode become
 * `{ malformed: reason }`, which the service refuses with a clear error while the stream stays up.
 */
export function decodeOrMalformed<T>(decode: (bytes: Uint8Array) => T): (bytes: Buffer) => Inbound<T> {
  return (bytes) => {
    try {
      return decode(bytes);
    } catch (error) {
      return { malformed: error instanceof Error ? error.message : String(error) };
    }
  };
}

/** The metric and log label of a port. */
export type PortName = "app" | "mesh";

/** Why a connection was refused or cut before it carried a call. */
export type ConnectionRefusal = AdmissionRefusal | HandshakeRefusal | "accept_error" | Barred;

/** Every refusal is counted; the log gets one line per port and reason per this interval. */
const REFUSAL_LOG_INTERVAL_MS = 1000;
/**
 * HTTP/2 streams one connection may hold open at once (SETTINGS_MAX_CONCURRENT_STREAMS; more are
 * refused with REFUSED_STREAM). An SDK app opens one stream per connection and a peer node a few,
 * so this only stops one connection from taking every slot the node keeps for streams that have
 * not connected yet (limits.maxUnauthenticatedSessions).
 */
export const MAX_STREAMS_PER_CONNECTION = 100;

export interface GrpcServerComponents {
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  /** Shared by every port of the node. */
  descriptors: DescriptorBudget;
}

export interface GrpcServerInit {
  port: PortName;
  /** host:port to listen on; port 0 picks a free one. */
  listen: string;
  bounds: ConnectionBounds;
  /** grpc-js options: message sizes, keepalive. */
  grpcOptions: grpc.ServerOptions;
  /** Terminate mutual TLS on each connection (the mesh port), or serve plain text. */
  tls?: { server: TlsServer; handshakeTimeoutMs: number };
}

/**
 * A gRPC server on a socket it owns: it accepts each connection itself, refuses what is over the
 * port's bounds or would eat into the node's descriptor reserve, terminates TLS when asked, and
 * only then hands the connection to grpc-js (a connection injector). A connection that carries no
 * call for `bounds.idleMs` is closed; closing the socket ourselves also frees descriptors of peers
 * that never answer a FIN, which grpc-js's own idle timeout leaves open.
 */
export class GrpcServer {
  /** Add services here. */
  readonly grpc: grpc.Server;
  private readonly table: ConnectionTable;
  private readonly sockets = new Map<string, Socket>();
  private readonly injector: ReturnType<grpc.Server["createConnectionInjector"]>;
  private readonly handshakes: TlsHandshakes | undefined;
  private readonly logs: LogThrottle;
  private readonly net: NetServer;
  private boundPort = 0;
  private closing: Promise<void> | undefined;
  private door: Door;

  constructor(
    private readonly components: GrpcServerComponents,
    private readonly init: GrpcServerInit,
  ) {
    const { clock, metrics, descriptors } = components;
    this.logs = new LogThrottle(clock, REFUSAL_LOG_INTERVAL_MS);
    this.table = new ConnectionTable({ clock, descriptors, onIdle: (id) => this.closeIdle(id) }, init.bounds);
    this.grpc = new grpc.Server({
      "grpc.max_concurrent_streams": MAX_STREAMS_PER_CONNECTION,
      // Nothing serves channelz here, and its per-connection trackers cost memory on every app.
      "grpc.enable_channelz": 0,
      ...init.grpcOptions,
      interceptors: [this.callTracker],
    });
    this.injector = this.grpc.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.handshakes = init.tls && new TlsHandshakes(init.tls.server, clock, init.tls.handshakeTimeoutMs);
    this.net = createServer({ noDelay: true }, (socket) => this.accepted(socket));
    metrics.connections.set({ port: init.port }, 0);
    // Until setGate, every connection passes.
    this.door = new Door(clock, () => undefined, { turnedAway: () => {}, waiting: () => {} });
  }

  /** Listens; resolves with the bound port, or rejects saying which address could not be used. */
  async listen(): Promise<number> {
    const { host, port } = parseHostPort(this.init.listen);
    await new Promise<void>((resolve, reject) => {
      const failed = (error: Error) =>
        reject(new Error(`cannot listen on ${this.init.listen} (${this.init.port} port): ${error.message}`));
      this.net.once("error", failed);
      this.net.listen({ host: host || undefined, port }, () => {
        this.net.off("error", failed);
        // From now on an error is a failed accept (EMFILE, ENFILE); the server keeps listening.
        this.net.on("error", (error: NodeJS.ErrnoException) =>
          this.refused("accept_error", undefined, error.code ?? error.message),
        );
        resolve();
      });
    });
    this.boundPort = (this.net.address() as { port: number }).port;
    return this.boundPort;
  }

  /**
   * Asks `gate` (the router's door) before serving each new connection; one it turns away waits
   * unread in its address's line until it may connect, or is held and closed if the address is
   * barred (door.ts).
   */
  setGate(gate: (address: string) => TurnAway | undefined): void {
    const { clock, metrics } = this.components;
    this.door = new Door(clock, gate, {
      turnedAway: (why, address) => this.refused(why, address),
      waiting: (delta) => metrics.connectionsWaiting.inc({ port: this.init.port }, delta),
    });
  }

  get port(): number {
    return this.boundPort;
  }

  /** Connections open now. */
  get connections(): number {
    return this.table.size;
  }

  /**
   * Stops accepting, lets calls in flight finish for up to `graceMs`, then cuts what is left.
   * Idempotent.
   */
  close(graceMs: number): Promise<void> {
    this.closing ??= (async () => {
      this.net.close();
      await shutdownGrpc(this.grpc, graceMs);
      for (const socket of this.sockets.values()) socket.destroy();
    })();
    return this.closing;
  }

  private accepted(raw: Socket): void {
    raw.on("error", () => {}); // resets are a peer's business; the close below cleans up
    const address = raw.remoteAddress;
    if (this.closing || address === undefined) return void raw.destroy();
    const id = connectionId(raw);
    const verdict = this.table.admit(id, address);
    if (!verdict.ok) {
      raw.destroy();
      return this.refused(verdict.reason, address);
    }
    const { metrics } = this.components;
    this.sockets.set(id, raw);
    metrics.connections.inc({ port: this.init.port });
    raw.once("close", () => {
      this.sockets.delete(id);
      this.table.removed(id);
      metrics.connections.dec({ port: this.init.port });
    });
    this.door.through(raw, address, () => {
      if (this.closing) return void raw.destroy();
      if (!this.handshakes) return this.injector.injectConnection(raw);
      this.handshakes.run(raw, (outcome) => {
        if (!outcome.ok) return this.refused(outcome.reason, address, outcome.detail);
        if (this.closing) return void outcome.socket.destroy();
        this.sockets.set(id, outcome.socket);
        this.injector.injectConnection(outcome.socket);
      });
    });
  }

  /**
   * Tells the table when calls start and end on a connection; grpc-js reports the end of every
   * call through onCancel, whether it ended with a status, a reset or a broken connection.
   */
  private readonly callTracker: grpc.ServerInterceptor = (_method, call) => {
    const info = call.getConnectionInfo();
    const id = `${info.localAddress}|${info.localPort}|${info.remoteAddress}|${info.remotePort}`;
    this.table.callStarted(id);
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next({ onCancel: () => this.table.callEnded(id) }),
    });
  };

  private closeIdle(id: string): void {
    const socket = this.sockets.get(id);
    this.components.metrics.connectionsIdleClosed.inc({ port: this.init.port });
    const line = this.logs.admit("idle");
    if (line)
      this.components.logger.info(
        { port: this.init.port, remote: socket?.remoteAddress, idleMs: this.init.bounds.idleMs, ...line },
        "idle connection closed",
      );
    if (socket) socket.destroy();
    else this.table.removed(id);
  }

  private refused(reason: ConnectionRefusal, remote: string | undefined, detail?: string): void {
    this.components.metrics.connectionsRefused.inc({ port: this.init.port, reason });
    const line = this.logs.admit(reason);
    if (line)
      this.components.logger.warn(
        { port: this.init.port, reason, remote, detail, ...line },
        "connection refused",
      );
  }
}

/** Lets calls in flight finish for up to `graceMs`, then cuts what is left. */
function shutdownGrpc(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
