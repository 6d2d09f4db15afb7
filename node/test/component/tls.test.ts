import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { certificateInfo, createCa, issueCert, type PemPair } from "../../src/transport/certs.js";
import {
  type MeshCredentials,
  meshCredentials,
  TlsFileError,
  type TlsReloadEvent,
  targetHost,
} from "../../src/transport/tls.js";
import { testGrpcServer } from "../support/grpc-server.js";

/** A one-method service that answers with what the server saw of the caller's TLS session. */
const passthrough = (b: Buffer) => b;
const METHOD = "/hermes.test.Tls/WhoAmI";
const service: grpc.ServiceDefinition = {
  whoAmI: {
    path: METHOD,
    requestStream: false,
    responseStream: false,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
  },
};
const TlsClient = grpc.makeGenericClientConstructor(service, "Tls");

interface WhoAmI {
  transport: string | null;
  peerSerial: string | null;
}

let dir: string;
let ca: PemPair;
let otherCa: PemPair;
const cleanups: (() => void)[] = [];

async function issue(authority: PemPair, name: string, sans = true): Promise<PemPair> {
  return issueCert({
    ca: authority,
    commonName: name,
    dnsNames: sans ? [name, "localhost"] : [name],
    ipAddresses: sans ? ["127.0.0.1", "::1"] : [],
    validityDays: 1,
    usage: "server+client",
  });
}

/** Writes through a temp file and rename, as a Secret volume update does. */
async function put(path: string, data: string): Promise<void> {
  await writeFile(`${path}.tmp`, data, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/** Files for one node in its own directory; returns the config shape meshCredentials takes. */
async function nodeFiles(name: string, pair: PemPair, authority = ca) {
  const files = {
    cert: join(dir, `${name}.pem`),
    key: join(dir, `${name}-key.pem`),
    ca: join(dir, `${name}-ca.pem`),
  };
  await put(files.cert, pair.certPem);
  await put(files.key, pair.keyPem);
  await put(files.ca, authority.certPem);
  return { ...files, insecure: false };
}

function track(creds: MeshCredentials): MeshCredentials {
  cleanups.push(() => creds.close());
  return creds;
}

/** Serves WhoAmI the way the mesh port serves: through GrpcServer, which terminates TLS itself. */
async function startServer(credentials: MeshCredentials): Promise<number> {
  const { port, close } = await testGrpcServer({
    ...(credentials.serverTls ? { tls: credentials.serverTls } : {}),
    services: (server) => server.addService(service, handlers),
  });
  cleanups.push(() => void close());
  return port;
}

const handlers = {
  whoAmI: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
    const auth = call.getAuthContext();
    const answer: WhoAmI = {
      transport: auth.transportSecurityType ?? null,
      peerSerial: auth.sslPeerCertificate?.serialNumber?.toLowerCase() ?? null,
    };
    callback(null, Buffer.from(JSON.stringify(answer)));
  },
};

/** A client on its own subchannel pool, so every client makes a fresh connection. */
function client(target: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions = {}) {
  const c = new TlsClient(target, credentials, { "grpc.use_local_subchannel_pool": 1, ...options });
  cleanups.push(() => c.close());
  return c;
}

function call(c: grpc.Client): Promise<WhoAmI> {
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest(
      METHOD,
      passthrough,
      passthrough,
      Buffer.alloc(0),
      { deadline: Date.now() + 5000 },
      (error, reply) => (error ? reject(error) : resolve(JSON.parse(reply!.toString()) as WhoAmI)),
    );
  });
}

async function expectRejected(c: grpc.Client): Promise<grpc.ServiceError> {
  const error = (await call(c).then(
    () => expect.fail("call should have been refused"),
    (e: unknown) => e,
  )) as grpc.ServiceError;
  expect(error.code).toBe(grpc.status.UNAVAILABLE);
  return error;
}

/** The serial of the certificate the server presents on a new raw TLS connection. */
function servedSerial(port: number, as: PemPair): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: "127.0.0.1", port, ca: ca.certPem, cert: as.certPem, key: as.keyPem, ALPNProtocols: ["h2"] },
      () => {
        const serial = socket.getPeerCertificate().serialNumber.toLowerCase();
        socket.destroy();
        resolve(serial);
      },
    );
    socket.setTimeout(3000, () => socket.destroy(new Error("TLS connect timed out")));
    socket.once("error", reject);
  });
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const serial = (pair: PemPair) => certificateInfo(pair.certPem).serialNumber;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hermes-tls-"));
  [ca, otherCa] = await Promise.all([
    createCa({ commonName: "Mesh CA", validityDays: 1 }),
    createCa({ commonName: "Other CA", validityDays: 1 }),
  ]);
});
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("mesh mTLS", () => {
  it("serves a client that presents a certificate from the mesh CA", async () => {
    const nodeB = await issue(ca, "node-b");
    const server = track(meshCredentials(await nodeFiles("a", await issue(ca, "node-a"))));
    const peer = track(meshCredentials(await nodeFiles("b", nodeB)));
    expect(server.secure).toBe(true);
    const port = await startServer(server);
    const reply = await call(client(`127.0.0.1:${port}`, peer.channel));
    expect(reply).toEqual({ transport: "ssl", peerSerial: serial(nodeB) });
    expect((await call(client(`localhost:${port}`, peer.channel))).peerSerial).toBe(serial(nodeB));
  });

  it("rejects a client without a certificate", async () => {
    const server = track(meshCredentials(await nodeFiles("a", await issue(ca, "node-a"))));
    const port = await startServer(server);
    await expectRejected(client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(ca.certPem))));
  });

  it("rejects a client whose certificate comes from another CA", async () => {
    const server = track(meshCredentials(await nodeFiles("a", await issue(ca, "node-a"))));
    const port = await startServer(server);
    const sslAs = (pair: PemPair) =>
      grpc.credentials.createSsl(
        Buffer.from(ca.certPem),
        Buffer.from(pair.keyPem),
        Buffer.from(pair.certPem),
      );
    await expectRejected(client(`127.0.0.1:${port}`, sslAs(await issue(otherCa, "stranger"))));
    // The same plain grpc-js credentials with a mesh certificate get through.
    await call(client(`127.0.0.1:${port}`, sslAs(await issue(ca, "node-b"))));
  });

  it("trusts every CA of a bundle, even of PEM files concatenated without a final newline", async () => {
    expect(otherCa.certPem.endsWith("\n")).toBe(false);
    const files = await nodeFiles("a", await issue(ca, "node-a"));
    // As `cat other-ca.pem ca.pem > bundle.pem` makes it: the mesh CA's BEGIN line follows an END.
    await put(files.ca, otherCa.certPem + ca.certPem);
    const server = track(meshCredentials(files));
    const port = await startServer(server);
    const peerFiles = await nodeFiles("b", await issue(ca, "node-b"));
    await put(peerFiles.ca, otherCa.certPem + ca.certPem);
    const peer = track(meshCredentials(peerFiles));
    expect((await call(client(`127.0.0.1:${port}`, peer.channel))).transport).toBe("ssl");
  });

  it("rejects a server whose certificate comes from another CA", async () => {
    const impostor = track(meshCredentials(await nodeFiles("x", await issue(otherCa, "node-x"), otherCa)));
    const port = await startServer(impostor);
    const peer = track(meshCredentials(await nodeFiles("b", await issue(ca, "node-b"))));
    const error = await expectRejected(client(`127.0.0.1:${port}`, peer.channel));
    expect(error.details).toMatch(/certificate/i);
  });

  it("checks host names, except for peers dialled by IP through channelFor", async () => {
    // A certificate that names only "node-c": neither localhost nor 127.0.0.1.
    const server = track(meshCredentials(await nodeFiles("c", await issue(ca, "node-c", false))));
    const port = await startServer(server);
    const peer = track(meshCredentials(await nodeFiles("b", await issue(ca, "node-b"))));
    const ip = `127.0.0.1:${port}`;
    const name = `localhost:${port}`;

    expect((await expectRejected(client(ip, peer.channel))).details).toMatch(
      /IP: 127\.0\.0\.1 is not in the cert/,
    );
    await expectRejected(client(name, peer.channelFor(name)));
    expect((await call(client(ip, peer.channelFor(ip)))).transport).toBe("ssl");
    expect(peer.channelFor(ip)).not.toBe(peer.channel);
    expect(peer.channelFor(name)).toBe(peer.channel);
    expect(peer.channelFor()).toBe(peer.channel);
    // A name the certificate does carry can be asserted while dialling an address.
    await call(client(name, peer.channel, { "grpc.ssl_target_name_override": "node-c" }));

    const lax = track(
      meshCredentials(await nodeFiles("b2", await issue(ca, "node-b")), { verifyHostname: false }),
    );
    await call(client(name, lax.channel));
    // Chain validation stays on without host name checks.
    const impostor = track(meshCredentials(await nodeFiles("x", await issue(otherCa, "node-x"), otherCa)));
    const impostorPort = await startServer(impostor);
    await expectRejected(client(`127.0.0.1:${impostorPort}`, lax.channel));
    await expectRejected(client(`127.0.0.1:${impostorPort}`, peer.channelFor(`127.0.0.1:${impostorPort}`)));
  });

  it("extracts the host of a target", () => {
    expect(targetHost("10.1.2.3:7946")).toBe("10.1.2.3");
    expect(targetHost("[fd00::1]:7946")).toBe("fd00::1");
    expect(targetHost("dns:///hermes-0.hermes:7946")).toBe("hermes-0.hermes");
    expect(targetHost("ipv4:10.1.2.3:7946")).toBe("10.1.2.3");
    expect(targetHost("ipv6:[::1]:7946")).toBe("::1");
    expect(targetHost("hermes-0:7946")).toBe("hermes-0");
  });
});

describe("reloading", () => {
  it("serves rotated certificates on new connections without a restart", async () => {
    const [a1, a2, b1, b2] = await Promise.all([
      issue(ca, "node-a"),
      issue(ca, "node-a"),
      issue(ca, "node-b"),
      issue(ca, "node-b"),
    ]);
    const aFiles = await nodeFiles("a", a1);
    const bFiles = await nodeFiles("b", b1);
    const events: TlsReloadEvent[] = [];
    const server = track(
      meshCredentials(aFiles, { refreshIntervalMs: 200, onReload: (e) => events.push(e) }),
    );
    const peer = track(meshCredentials(bFiles, { refreshIntervalMs: 200 }));
    const port = await startServer(server);
    const target = `127.0.0.1:${port}`;
    const before = client(target, peer.channel);
    expect((await call(before)).peerSerial).toBe(serial(b1));
    expect(await servedSerial(port, b1)).toBe(serial(a1));

    await put(aFiles.key, a2.keyPem);
    await put(aFiles.cert, a2.certPem);
    await put(bFiles.key, b2.keyPem);
    await put(bFiles.cert, b2.certPem);
    await eventually(async () => (await servedSerial(port, b1)) === serial(a2));
    expect(events).toContainEqual({ kind: "identity", applied: true });

    // A new connection: the server presents a2 and the client, reloaded too, presents b2.
    await eventually(async () => (await call(client(target, peer.channel))).peerSerial === serial(b2));
    // The connection made before the rotation carries on.
    expect((await call(before)).peerSerial).toBe(serial(b1));
  });

  it("keeps the last good files while a rotation is incomplete or a file is missing", async () => {
    const [a1, a2] = await Promise.all([issue(ca, "node-a"), issue(ca, "node-a")]);
    const aFiles = await nodeFiles("a", a1);
    const events: TlsReloadEvent[] = [];
    const server = track(
      meshCredentials(aFiles, { refreshIntervalMs: 200, onReload: (e) => events.push(e) }),
    );
    const peer = track(meshCredentials(await nodeFiles("b", await issue(ca, "node-b"))));
    const port = await startServer(server);
    const target = `127.0.0.1:${port}`;
    await call(client(target, peer.channel));

    // New certificate, old key: refused, and the server keeps presenting a1.
    await put(aFiles.cert, a2.certPem);
    await eventually(async () => events.some((e) => !e.applied));
    expect(events.filter((e) => !e.applied)).toEqual([
      {
        kind: "identity",
        applied: false,
        error: expect.stringMatching(/does not belong to the certificate/),
      },
    ]);
    expect(await servedSerial(port, a1)).toBe(serial(a1));
    await call(client(target, peer.channel));

    // The key arrives: applied.
    await put(aFiles.key, a2.keyPem);
    await eventually(async () => (await servedSerial(port, a1)) === serial(a2));

    // The CA file disappears: reported once, the old CA stays in force.
    events.length = 0;
    await rm(aFiles.ca);
    await eventually(async () => events.length > 0);
    await new Promise((r) => setTimeout(r, 500));
    expect(events).toEqual([
      { kind: "ca", applied: false, error: expect.stringMatching(/mesh\.tls\.ca: cannot read .*ENOENT/) },
    ]);
    await call(client(target, peer.channel));
  });
});

describe("setup errors", () => {
  it("names the key and file that is missing or wrong", async () => {
    const files = await nodeFiles("a", await issue(ca, "node-a"));
    const missing = join(dir, "missing.pem");
    const attempt = (over: Partial<typeof files>) => () => meshCredentials({ ...files, ...over });

    expect(attempt({ cert: missing })).toThrow(`mesh.tls.cert: cannot read ${missing}: ENOENT`);
    expect(attempt({ key: missing })).toThrow(`mesh.tls.key: cannot read ${missing}: ENOENT`);
    expect(attempt({ ca: missing })).toThrow(`mesh.tls.ca: cannot read ${missing}: ENOENT`);
    expect(attempt({ ca: "" })).toThrow(/mesh\.tls\.ca: not set/);
    expect(attempt({ cert: files.key })).toThrow(/mesh\.tls\.cert: .* holds no PEM certificate/);
    expect(attempt({ key: files.cert })).toThrow(/mesh\.tls\.key: .* is not a PEM private key/);

    const other = await nodeFiles("o", await issue(ca, "node-o"));
    expect(attempt({ key: other.key })).toThrow(/mesh\.tls\.key: .* does not belong to the certificate/);
    const stranger = await nodeFiles("s", await issue(otherCa, "stranger"));
    expect(attempt({ cert: stranger.cert, key: stranger.key })).toThrow(
      /mesh\.tls\.cert: .* is not signed by a CA in/,
    );
    // A bundle holding both CAs (as during a CA rotation) accepts either.
    const bundle = join(dir, "bundle.pem");
    await put(bundle, ca.certPem + otherCa.certPem);
    track(meshCredentials({ ...stranger, ca: bundle })).close();

    try {
      attempt({ cert: missing })();
    } catch (error) {
      expect(error).toBeInstanceOf(TlsFileError);
      expect((error as TlsFileError).key).toBe("mesh.tls.cert");
    }
  });

  it("runs in plain text when insecure, without any files", async () => {
    const creds = meshCredentials({ cert: "", key: "", ca: "", insecure: true });
    expect(creds.secure).toBe(false);
    const port = await startServer(creds);
    const reply = await call(client(`127.0.0.1:${port}`, creds.channelFor(`127.0.0.1:${port}`)));
    expect(reply).toEqual({ transport: null, peerSerial: null });
    creds.close();
  });
});
