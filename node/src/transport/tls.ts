import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { createServer, type TLSSocket, type Server as TlsServer } from "node:tls";
import * as grpc from "@grpc/grpc-js";

/**
 * Credentials for the node <-> node mesh (DESIGN §5): mutual TLS against a private mesh CA, with
 * the PEM files re-read periodically so a rotated Kubernetes Secret reaches new connections
 * without a restart. Connections already open keep the certificate they were made with.
 */

type CertificateProvider = grpc.experimental.CertificateProvider;
type IdentityUpdate = grpc.experimental.IdentityCertificateUpdate;
type CaUpdate = grpc.experimental.CaCertificateUpdate;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type CaListener = grpc.experimental.CaCertificateUpdateListener;

export interface MeshTlsConfig {
  /** PEM certificate (chain) of this node. */
  cert: string;
  /** PEM private key of that certificate. */
  key: string;
  /** PEM CA certificate(s) that peers' certificates must chain to. Several may be listed during a CA rotation. */
  ca: string;
  /** Plain-text mesh (local development only); the files are then ignored. */
  insecure: boolean;
}

export interface TlsReloadEvent {
  /** "identity" is the cert + key pair, "ca" the trust bundle. */
  kind: "identity" | "ca";
  /** false: the files changed but could not be used; the previous ones stay in force. */
  applied: boolean;
  error?: string;
}

export interface MeshCredentialsOptions {
  /** How often the files are re-read, ms. Default 5000. */
  refreshIntervalMs?: number;
  /**
   * Check that the dialled host name is in the peer's certificate (default true). The chain is
   * always validated against the mesh CA; see `channelFor` for peers dialled by IP address.
   */
  verifyHostname?: boolean;
  /** Told when changed files are applied or rejected; e.g. for a log line. */
  onReload?: (event: TlsReloadEvent) => void;
}

export interface MeshCredentials {
  /**
   * The server side, undefined when `insecure`: a TLS server that never listens itself but takes
   * the sockets transport/server.ts accepts. It presents this node's certificate, asks for the
   * peer's, and follows reloads of the files. It lets an untrusted peer finish the handshake:
   * `peerRefusal()` must pass every secure socket before a byte of it is used.
   */
  serverTls: TlsServer | undefined;
  /** Client credentials: presents this node's certificate; verifies the server against the mesh CA and its host name (unless verifyHostname is false). */
  channel: grpc.ChannelCredentials;
  /**
   * Client credentials for dialling `target` ("host:port", "[v6]:port", optionally "dns:"/"ipv4:"/"ipv6:"
   * prefixed). When the host is an IP literal, only the chain is verified: pod IPs change and are
   * not in certificates, and any holder of a mesh-CA certificate is a mesh node anyway (node
   * identity is proven separately by the signed Join descriptor). Host names get `channel`.
   */
  channelFor(target?: string): grpc.ChannelCredentials;
  /** true unless `insecure`. */
  secure: boolean;
  /** Stops re-reading the files. Call after the server and clients using these credentials are closed. */
  close(): void;
}

const DEFAULT_REFRESH_MS = 5000;

/** Node's default check would fail for an IP absent from the SANs; the chain was already verified when this runs. */
const skipHostnameCheck = (): undefined => undefined;

/**
 * Builds the mesh credentials. Throws a `TlsFileError` naming the config key and file when a
 * file is missing, unreadable, not PEM, or the key does not match the certificate.
 */
export function meshCredentials(config: MeshTlsConfig, opts: MeshCredentialsOptions = {}): MeshCredentials {
  if (config.insecure) {
    const channel = grpc.credentials.createInsecure();
    return {
      serverTls: undefined,
      channel,
      channelFor: () => channel,
      secure: false,
      close: () => undefined,
    };
  }
  const refreshIntervalMs = opts.refreshIntervalMs ?? DEFAULT_REFRESH_MS;
  if (!Number.isInteger(refreshIntervalMs) || refreshIntervalMs < 1) {
    throw new RangeError(`refreshIntervalMs must be a positive integer, got ${refreshIntervalMs}`);
  }
  const initial = loadTlsFiles(config);
  const provider = new ReloadingProvider(config, initial, refreshIntervalMs, opts.onReload);
  // Both channel credentials are made once: grpc-js shares subchannels between channels whose
  // credentials compare equal, and equality includes the checkServerIdentity function.
  const strict = grpc.experimental.createCertificateProviderChannelCredentials(provider, provider, {});
  const chainOnly = grpc.experimental.createCertificateProviderChannelCredentials(provider, provider, {
    checkServerIdentity: skipHostnameCheck,
  });
  const verifyHostname = opts.verifyHostname ?? true;
  const channel = verifyHostname ? strict : chainOnly;
  return {
    serverTls: reloadingTlsServer(provider, initial),
    channel,
    channelFor: (target) => (target !== undefined && isIP(targetHost(target)) !== 0 ? chainOnly : channel),
    secure: true,
    close: () => provider.close(),
  };
}

/**
 * Why a peer that completed the TLS handshake on the mesh port may not go on, or undefined when
 * it may: it must present a certificate that chains to the mesh CA (what `rejectUnauthorized`
 * would enforce inside the handshake, checked here so that each refusal can be counted and logged
 * with its reason), and speak HTTP/2.
 */
export function peerRefusal(socket: TLSSocket): string | undefined {
  if (!socket.authorized) {
    const presented = Object.keys(socket.getPeerCertificate()).length > 0;
    if (!presented) return "no client certificate";
    return `client certificate not trusted: ${String(socket.authorizationError)}`;
  }
  if (socket.alpnProtocol !== "h2") return `no HTTP/2 (ALPN ${String(socket.alpnProtocol)})`;
  return undefined;
}

/** The mesh TLS server, its certificate and CA swapped for new connections as the provider reloads them. */
function reloadingTlsServer(provider: ReloadingProvider, initial: TlsFiles): TlsServer {
  let identity = { cert: initial.cert, key: initial.key };
  let ca = initial.ca;
  const server = createServer({
    ...identity,
    ca,
    requestCert: true,
    // peerRefusal() decides, after the handshake.
    rejectUnauthorized: false,
    ALPNProtocols: ["h2"],
  });
  provider.addIdentityCertificateListener((update) => {
    if (!update) return;
    identity = { cert: update.certificate, key: update.privateKey };
    server.setSecureContext({ ...identity, ca });
  });
  provider.addCaCertificateListener((update) => {
    if (!update) return;
    ca = update.caCertificate;
    server.setSecureContext({ ...identity, ca });
  });
  return server;
}

/** The host part of a gRPC target, without brackets; "" when there is none. */
export function targetHost(target: string): string {
  const path = target.replace(/^(dns|ipv4|ipv6):(\/\/[^/]*\/)?/, "");
  const hostPort = grpc.experimental.splitHostPort(path.split(",")[0]!);
  return hostPort?.host ?? "";
}

interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/**
 * Reads and checks the three files, so that a bad setup fails at start with a message naming
 * the key and file rather than as anonymous handshake failures later.
 */
export function loadTlsFiles(config: Pick<MeshTlsConfig, "cert" | "key" | "ca">): TlsFiles {
  const files = {
    cert: readTlsFile("cert", config.cert),
    key: readTlsFile("key", config.key),
    ca: pemBundle(readTlsFile("ca", config.ca)),
  };
  const chain = parseCertificates("cert", config.cert, files.cert);
  const cas = parseCertificates("ca", config.ca, files.ca);
  const leaf = chain[0]!;
  const key = parseKey(config.key, files.key);
  if (!leaf.checkPrivateKey(key)) {
    throw tlsError("key", `${config.key} does not belong to the certificate in ${config.cert}`);
  }
  const expires = new Date(leaf.validTo);
  if (expires.getTime() < Date.now()) {
    throw tlsError("cert", `${config.cert} expired on ${expires.toISOString()}`);
  }
  if (!chainsTo(chain, cas)) {
    throw tlsError(
      "cert",
      `${config.cert} (issuer "${leaf.issuer.replaceAll("\n", ", ")}") is not signed by a CA in ${config.ca}`,
    );
  }
  return files;
}

function readTlsFile(name: "cert" | "key" | "ca", path: string): Buffer {
  if (!path)
    throw tlsError(name, "not set (set mesh.tls.cert, key and ca, or mesh.insecure for development)");
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw tlsError(name, `cannot read ${path}: ${code ?? (error as Error).message}`);
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The certificates of a bundle one per line: OpenSSL skips a certificate whose BEGIN line follows
 * the previous END on the same line, which is what `cat` makes of PEM files without a final
 * newline (as `hermes certs` writes them), so a CA bundle would trust only its first CA.
 */
function pemBundle(data: Buffer): Buffer {
  const blocks = data.toString("utf8").match(PEM_CERT);
  return blocks ? Buffer.from(`${blocks.join("\n")}\n`) : data;
}

function parseCertificates(name: "cert" | "ca", path: string, data: Buffer): X509Certificate[] {
  const blocks = data.toString("utf8").match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw tlsError(name, `${path} holds no PEM certificate`);
  return blocks.map((pem, i) => {
    try {
      return new X509Certificate(pem);
    } catch (error) {
      throw tlsError(name, `${path}: certificate ${i + 1} does not parse: ${(error as Error).message}`);
    }
  });
}

function parseKey(path: string, data: Buffer): KeyObject {
  try {
    return createPrivateKey(data);
  } catch (error) {
    throw tlsError("key", `${path} is not a PEM private key: ${(error as Error).message}`);
  }
}

/** The leaf, through any intermediates that follow it in the cert file, is signed by one of the CAs. */
function chainsTo(chain: X509Certificate[], cas: X509Certificate[]): boolean {
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i]!;
    if (cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) return true;
    const next = chain[i + 1];
    if (!next || !cert.checkIssued(next) || !cert.verify(next.publicKey)) return false;
  }
  return false;
}

/** A mesh TLS file is missing, unreadable or unusable; `key` names the config key (`mesh.tls.cert`…). */
export class TlsFileError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`invalid mesh TLS files: ${key}: ${message}`);
    this.name = "TlsFileError";
  }
}

function tlsError(name: "cert" | "key" | "ca", message: string): TlsFileError {
  return new TlsFileError(`mesh.tls.${name}`, message);
}

/**
 * Wraps grpc-js's FileWatcherCertificateProvider (which re-reads the files on a timer while
 * anyone listens) to make reloads safe:
 * - a failed read or a half-rotated pair (new cert, old key) keeps the last good files instead
 *   of leaving the server with no certificate (grpc-js would drop every new connection);
 * - unchanged files are not passed on, so TLS contexts are rebuilt only on real changes;
 * - close() stops the timer even while grpc-js still holds listeners (subchannels are released lazily).
 */
class ReloadingProvider implements CertificateProvider {
  private readonly inner: grpc.experimental.FileWatcherCertificateProvider;
  private identity: IdentityUpdate;
  private ca: CaUpdate;
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();
  private watching = false;
  private closed = false;
  /** Last rejection per kind, so a file that stays broken is reported once, not every refresh. */
  private readonly rejected = new Map<TlsReloadEvent["kind"], string>();

  constructor(
    private readonly paths: Pick<MeshTlsConfig, "cert" | "key" | "ca">,
    initial: TlsFiles,
    refreshIntervalMs: number,
    private readonly onReload?: (event: TlsReloadEvent) => void,
  ) {
    this.inner = new grpc.experimental.FileWatcherCertificateProvider({
      certificateFile: paths.cert,
      privateKeyFile: paths.key,
      caCertificateFile: paths.ca,
      refreshIntervalMs,
    });
    this.identity = { certificate: initial.cert, privateKey: initial.key };
    this.ca = { caCertificate: initial.ca };
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    if (this.closed) {
      process.nextTick(listener, null);
      return;
    }
    this.identityListeners.add(listener);
    this.watch();
    // Deferred like grpc-js's own provider: server credentials register the listener before
    // their watcher, and a synchronous call would update nobody.
    process.nextTick(() => {
      if (this.identityListeners.has(listener)) listener(this.identity);
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
    this.maybeUnwatch();
  }

  addCaCertificateListener(listener: CaListener): void {
    if (this.closed) {
      process.nextTick(listener, null);
      return;
    }
    this.caListeners.add(listener);
    this.watch();
    process.nextTick(() => {
      if (this.caListeners.has(listener)) listener(this.ca);
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
    this.maybeUnwatch();
  }

  close(): void {
    this.closed = true;
    this.identityListeners.clear();
    this.caListeners.clear();
    this.maybeUnwatch();
  }

  private watch(): void {
    if (this.watching) return;
    this.watching = true;
    this.inner.addIdentityCertificateListener(this.onIdentity);
    this.inner.addCaCertificateListener(this.onCa);
  }

  private maybeUnwatch(): void {
    if (!this.watching || this.identityListeners.size > 0 || this.caListeners.size > 0) return;
    this.watching = false;
    this.inner.removeIdentityCertificateListener(this.onIdentity);
    this.inner.removeCaCertificateListener(this.onCa);
  }

  private readonly onIdentity = (update: IdentityUpdate | null): void => {
    if (this.closed) return;
    if (update === null) return this.reject("identity", this.readFailure(["cert", "key"]));
    if (
      update.certificate.equals(this.identity.certificate) &&
      update.privateKey.equals(this.identity.privateKey)
    ) {
      return;
    }
    try {
      const cert = new X509Certificate(update.certificate);
      if (!cert.checkPrivateKey(createPrivateKey(update.privateKey))) {
        return this.reject(
          "identity",
          `${this.paths.key} does not belong to the certificate in ${this.paths.cert}`,
        );
      }
    } catch (error) {
      return this.reject("identity", (error as Error).message);
    }
    this.identity = update;
    this.rejected.delete("identity");
    this.onReload?.({ kind: "identity", applied: true });
    for (const listener of this.identityListeners) listener(update);
  };

  private readonly onCa = (read: CaUpdate | null): void => {
    if (this.closed) return;
    if (read === null) return this.reject("ca", this.readFailure(["ca"]));
    const update = { caCertificate: pemBundle(read.caCertificate) };
    if (update.caCertificate.equals(this.ca.caCertificate)) return;
    try {
      parseCertificates("ca", this.paths.ca, update.caCertificate);
    } catch (error) {
      return this.reject("ca", (error as Error).message);
    }
    this.ca = update;
    this.rejected.delete("ca");
    this.onReload?.({ kind: "ca", applied: true });
    for (const listener of this.caListeners) listener(update);
  };

  private reject(kind: TlsReloadEvent["kind"], error: string): void {
    if (this.rejected.get(kind) === error) return;
    this.rejected.set(kind, error);
    this.onReload?.({ kind, applied: false, error });
  }

  /** grpc-js reports a failed read as null without the cause; reading again recovers it. */
  private readFailure(names: ("cert" | "key" | "ca")[]): string {
    try {
      for (const name of names) readTlsFile(name, this.paths[name]);
    } catch (error) {
      return (error as Error).message;
    }
    return "files could not be read";
  }
}
