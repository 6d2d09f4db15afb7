import type { Socket } from "node:net";
import type { TLSSocket, Server as TlsServer } from "node:tls";
import type { Clock } from "../utils/clock.js";
import { peerRefusal } from "./tls.js";

/** Why a socket did not get through the TLS stage. */
export type HandshakeRefusal = "plain_text" | "tls_handshake" | "untrusted_peer";

export type HandshakeOutcome =
  | { ok: true; socket: TLSSocket }
  | { ok: false; reason: HandshakeRefusal; detail: string };

/** Every TLS connection opens with a handshake record; anything else is not TLS at all. */
const TLS_HANDSHAKE_RECORD = 0x16;

/** Names a connection by its two ends, the same from the raw socket and the TLS socket over it. */
export function connectionId(socket: Socket): string {
  return `${socket.localAddress}|${socket.localPort}|${socket.remoteAddress}|${socket.remotePort}`;
}

/**
 * Terminates TLS on accepted sockets, so that what grpc-js would drop silently inside its own
 * TLS server (plain-text clients, failed handshakes, untrusted certificates) is seen, counted
 * and logged. The first byte tells plain text from TLS; the rest is the TLS server's, and the
 * peer check (`peerRefusal`) runs before the socket is handed on.
 */
export class TlsHandshakes {
  private readonly pending = new Map<string, (outcome: HandshakeOutcome) => void>();

  constructor(
    private readonly server: TlsServer,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {
    server.on("secureConnection", (secure: TLSSocket) => {
      const finish = this.pending.get(connectionId(secure));
      if (!finish) return void secure.destroy();
      const refusal = peerRefusal(secure);
      finish(
        refusal ? { ok: false, reason: "untrusted_peer", detail: refusal } : { ok: true, socket: secure },
      );
    });
    server.on("tlsClientError", (error: NodeJS.ErrnoException, secure: TLSSocket) => {
      this.pending.get(connectionId(secure))?.({
        ok: false,
        reason: "tls_handshake",
        detail: error.code ?? error.message,
      });
    });
  }

  /**
   * Runs the handshake on `socket` and calls `done` exactly once. On a refusal the socket is
   * already destroyed; on success the secure socket is ready for HTTP/2.
   */
  run(socket: Socket, done: (outcome: HandshakeOutcome) => void): void {
    const id = connectionId(socket);
    let cancelTimer = () => {};
    const finish = (outcome: HandshakeOutcome) => {
      if (this.pending.get(id) !== finish) return;
      this.pending.delete(id);
      cancelTimer();
      socket.off("close", closedEarly);
      if (!outcome.ok) socket.destroy();
      done(outcome);
    };
    // A peer that does not trust this node's certificate usually hangs up without an alert.
    const closedEarly = () =>
      finish({
        ok: false,
        reason: "tls_handshake",
        detail: "the peer closed the connection during the handshake (does it trust this node's CA?)",
      });
    this.pending.set(id, finish);
    cancelTimer = this.clock.setTimeout(
      () =>
        finish({ ok: false, reason: "tls_handshake", detail: `no handshake within ${this.timeoutMs} ms` }),
      this.timeoutMs,
    );
    socket.once("close", closedEarly);
    socket.once("data", (chunk: Buffer) => {
      socket.pause();
      if (chunk[0] !== TLS_HANDSHAKE_RECORD) {
        const start = JSON.stringify(chunk.subarray(0, 8).toString("latin1"));
        return finish({ ok: false, reason: "plain_text", detail: `not TLS: starts with ${start}` });
      }
      // The TLS socket reads what is buffered on the raw one first.
      socket.unshift(chunk);
      this.server.emit("connection", socket);
    });
  }
}
