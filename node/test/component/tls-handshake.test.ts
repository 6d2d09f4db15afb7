import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCa, issueCert, type PemPair } from "../../src/transport/certs.js";
import { type MeshCredentials, meshCredentials } from "../../src/transport/tls.js";
import { metricValue, type TestServer, testGrpcServer } from "../support/grpc-server.js";

/**
 * The mesh port's TLS stage (transport/tls-handshake.ts) over real sockets: plain text, failed
 * handshakes and untrusted peers are refused, counted by reason and logged with the remote
 * address, while a peer with a mesh certificate is served.
 */

const passthrough = (b: Buffer) => b;
const PING = "/hermes.test.Ping/Ping";
const service: grpc.ServiceDefinition = {
  ping: {
    path: PING,
    requestStream: false,
    responseStream: false,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
  },
};

let dir: string;
let ca: PemPair;
let otherCa: PemPair;
let server: MeshCredentials;
let s: TestServer;

const issue = (authority: PemPair, name: string) =>
  issueCert({
    ca: authority,
    commonName: name,
    dnsNames: [name, "localhost"],
    ipAddresses: ["127.0.0.1"],
    validityDays: 1,
    usage: "server+client",
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hermes-handshake-"));
  [ca, otherCa] = await Promise.all([
    createCa({ commonName: "Mesh CA", validityDays: 1 }),
    createCa({ commonName: "Other CA", validityDays: 1 }),
  ]);
  const node = await issue(ca, "node-a");
  const files = { cert: join(dir, "a.pem"), key: join(dir, "a-key.pem"), ca: join(dir, "ca.pem") };
  await writeFile(files.cert, node.certPem);
  await writeFile(files.key, node.keyPem, { mode: 0o600 });
  await writeFile(files.ca, ca.certPem);
  server = meshCredentials({ ...files, insecure: false });
  s = await testGrpcServer({
    port: "mesh",
    tls: server.serverTls!,
    handshakeTimeoutMs: 300,
    services: (g) =>
      g.addService(service, {
        ping: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
          callback(null, call.request),
      }),
  });
});

afterAll(async () => {
  await s?.close();
  server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** One call on a fresh connection, closed afterwards so that it does not go on retrying. */
async function ping(credentials: grpc.ChannelCredentials): Promise<grpc.ServiceError | Buffer> {
  const c = new grpc.Client(`127.0.0.1:${s.port}`, credentials, { "grpc.use_local_subchannel_pool": 1 });
  try {
    return await new Promise((resolve) =>
      c.makeUnaryRequest(
        PING,
        passthrough,
        passthrough,
        Buffer.from("ping"),
        { deadline: Date.now() + 5000 },
        (e, r) => resolve(e ?? r!),
      ),
    );
  } finally {
    c.close();
  }
}

const asPeer = (pair: PemPair) =>
  grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(pair.keyPem), Buffer.from(pair.certPem));
const refused = (reason: string) =>
  metricValue(s.metrics, "hermes_connections_refused_total", { port: "mesh", reason });
const linesFor = (reason: string) =>
  s.logs.filter((l) => l.msg === "connection refused" && l.reason === reason);

/** One TLS connection that trusts the mesh CA and presents `as`; resolves when the server closed it. */
function tlsAttempt(as: { ca?: string; cert?: string; key?: string }): Promise<void> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      port: s.port,
      host: "127.0.0.1",
      servername: "localhost",
      ca: ca.certPem,
      ALPNProtocols: ["h2"],
      ...as,
    });
    socket.on("data", () => undefined);
    socket.on("error", () => undefined);
    socket.on("close", () => resolve());
  });
}

/** Bytes sent on a raw connection; resolves when the server closed it. */
function raw(bytes: Buffer | undefined): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(s.port, "127.0.0.1", () => bytes && socket.write(bytes));
    socket.on("data", () => undefined);
    socket.on("error", () => undefined);
    socket.on("close", () => resolve());
  });
}

describe("mesh TLS refusals", () => {
  it("serves a peer with a mesh certificate", async () => {
    expect(await ping(asPeer(await issue(ca, "node-b")))).toEqual(Buffer.from("ping"));
  });

  it("refuses plain text, counted and logged with the remote address", async () => {
    const before = await refused("plain_text");
    // What a plain-text gRPC client sends first.
    await raw(Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    expect(await refused("plain_text")).toBe(before + 1);
    expect(linesFor("plain_text")[0]).toMatchObject({
      level: "warn",
      port: "mesh",
      remote: "127.0.0.1",
      detail: 'not TLS: starts with "PRI * HT"',
    });
  });

  it("refuses a certificate from another CA, and a peer without one, as untrusted", async () => {
    const before = await refused("untrusted_peer");
    const stranger = await issue(otherCa, "stranger");
    await tlsAttempt({ cert: stranger.certPem, key: stranger.keyPem });
    expect(await refused("untrusted_peer")).toBe(before + 1);
    expect(linesFor("untrusted_peer").at(-1)).toMatchObject({
      remote: "127.0.0.1",
      detail: expect.stringMatching(/^client certificate not trusted: [A-Z_]+$/),
    });

    // A second later, so that the log takes a line for it too.
    await new Promise((r) => setTimeout(r, 1000));
    await tlsAttempt({});
    expect(await refused("untrusted_peer")).toBe(before + 2);
    expect(linesFor("untrusted_peer").at(-1)).toMatchObject({
      remote: "127.0.0.1",
      detail: "no client certificate",
    });
  });

  it("refuses a broken handshake, one that never comes, and one the peer gives up", async () => {
    const before = await refused("tls_handshake");
    // A TLS record header followed by bytes that are no ClientHello.
    await raw(Buffer.from([0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    await raw(undefined);
    // A peer that trusts another CA hangs up when it sees this node's certificate.
    const stranger = await issue(otherCa, "stranger");
    await tlsAttempt({ ca: otherCa.certPem, cert: stranger.certPem, key: stranger.keyPem });
    // The peer hung up first: the node sees it a moment later.
    for (let waited = 0; (await refused("tls_handshake")) < before + 3 && waited < 5000; waited += 20)
      await new Promise((r) => setTimeout(r, 20));
    expect(await refused("tls_handshake")).toBe(before + 3);
    const details = s.logs.filter((l) => l.reason === "tls_handshake").map((l) => String(l.detail));
    expect(details.length).toBeGreaterThanOrEqual(1);
    expect(
      details.every((d) =>
        /^ERR_SSL_|^no handshake within 300 ms$|^the peer closed the connection during the handshake/.test(d),
      ),
    ).toBe(true);
  });

  it("counts every refusal of a flood but logs one line a second per reason", async () => {
    const before = await refused("plain_text");
    const linesBefore = linesFor("plain_text").length;
    const started = Date.now();
    await Promise.all(Array.from({ length: 50 }, () => raw(Buffer.from("GET / HTTP/1.1\r\n\r\n"))));
    const seconds = (Date.now() - started) / 1000;
    expect(await refused("plain_text")).toBe(before + 50);
    const lines = linesFor("plain_text").length - linesBefore;
    expect(lines).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
    // The next line says how many were left out.
    await new Promise((r) => setTimeout(r, 1000));
    await raw(Buffer.from("hello"));
    expect(linesFor("plain_text").at(-1)!.suppressed).toBeGreaterThan(0);
  });

  it("keeps serving mesh peers after all that, and holds no connection once they are gone", async () => {
    expect(await ping(asPeer(await issue(ca, "node-c")))).toEqual(Buffer.from("ping"));
    const open = () => metricValue(s.metrics, "hermes_connections", { port: "mesh" });
    for (let waited = 0; (await open()) !== 0 && waited < 5000; waited += 20)
      await new Promise((r) => setTimeout(r, 20));
    expect(await open()).toBe(0);
  });
});
