import { connect as http2Connect } from "node:http2";
import { connect, type Socket } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { countOpenFds } from "../../src/transport/descriptors.js";
import { MAX_STREAMS_PER_CONNECTION } from "../../src/transport/server.js";
import { metricValue, type TestServer, testGrpcServer } from "../support/grpc-server.js";
import { chatBetween, collect, newApp, startTestNode, until } from "./harness.js";

/**
 * The connection bounds of a gRPC port (transport/server.ts) over real sockets: idle HTTP/2
 * connections closed, the per-address and total caps refused, counted and logged, and a chat
 * between well-behaved apps going on meanwhile.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
});

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** An empty SETTINGS frame: the client half of a completed HTTP/2 preface. */
const SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

interface RawConnection {
  socket: Socket;
  /** Resolves when the server closed or refused the connection (its FIN or a reset). */
  closed: Promise<void>;
  isClosed(): boolean;
}

/**
 * A TCP connection that completes the HTTP/2 preface (or sends nothing) and then opens no stream.
 * It never closes its own side, not even after the server's FIN, as an attacker would not.
 */
function rawConnection(port: number, options: { from?: string; preface?: boolean } = {}): RawConnection {
  const socket = connect({
    port,
    host: "127.0.0.1",
    localAddress: options.from ?? "127.0.0.1",
    allowHalfOpen: true,
  });
  let closed = false;
  socket.on("connect", () => {
    if (options.preface ?? true) socket.write(Buffer.concat([PREFACE, SETTINGS]));
  });
  socket.on("data", () => undefined);
  socket.on("error", () => undefined);
  // The server's FIN or reset; this side stays open (allowHalfOpen) as a careless peer would.
  const done = new Promise<void>((resolve) => {
    const gone = () => {
      closed = true;
      resolve();
    };
    socket.once("end", gone);
    socket.once("close", gone);
  });
  cleanups.push(() => void socket.destroy());
  return { socket, closed: done, isClosed: () => closed };
}

const passthrough = (b: Buffer) => b;
const ECHO = "/hermes.test.Echo/Echo";
const echoService: grpc.ServiceDefinition = {
  echo: {
    path: ECHO,
    requestStream: true,
    responseStream: true,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
  },
};
const echo = (server: grpc.Server) =>
  server.addService(echoService, {
    echo: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on("data", (b: Buffer) => call.write(b));
      call.on("end", () => call.end());
      call.on("error", () => undefined);
    },
  });

function client(port: number): grpc.Client {
  const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
  });
  cleanups.push(() => c.close());
  return c;
}

/** Opens an echo stream and waits for its first answer; the call stays open until ended. */
async function openEcho(
  c: grpc.Client,
  deadlineMs?: number,
): Promise<grpc.ClientDuplexStream<Buffer, Buffer>> {
  const call = c.makeBidiStreamRequest(ECHO, passthrough, passthrough, new grpc.Metadata(), {
    ...(deadlineMs ? { deadline: Date.now() + deadlineMs } : {}),
  });
  call.on("error", () => undefined);
  const answered = new Promise<void>((resolve) => call.once("data", () => resolve()));
  call.write(Buffer.from("ping"));
  await answered;
  return call;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const refusedLogs = (s: TestServer, reason: string) =>
  s.logs.filter((l) => l.msg === "connection refused" && l.reason === reason);

describe("idle connections", () => {
  it("HTTP/2 connections that open no stream are closed after the idle timeout, even if they ignore the FIN", async () => {
    const s = await testGrpcServer({ port: "app", bounds: { idleMs: 300 }, services: echo });
    cleanups.push(() => s.close());
    const idle = Array.from({ length: 10 }, () => rawConnection(s.port));
    const silent = rawConnection(s.port, { preface: false });
    await until(() => s.server.connections === 11, 5000, "11 connections accepted");
    expect(await metricValue(s.metrics, "hermes_connections", { port: "app" })).toBe(11);

    await Promise.all([...idle, silent].map((c) => c.closed));
    await until(() => s.server.connections === 0, 5000, "the server to let go of them");
    expect(await metricValue(s.metrics, "hermes_connections", { port: "app" })).toBe(0);
    expect(await metricValue(s.metrics, "hermes_connections_idle_closed_total", { port: "app" })).toBe(11);
    const lines = s.logs.filter((l) => l.msg === "idle connection closed");
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines[0]).toMatchObject({ port: "app", remote: "127.0.0.1", idleMs: 300 });
  });

  it("a connection stays open while a call is open, and is closed once its calls ended however they ended", async () => {
    const s = await testGrpcServer({
      port: "app",
      bounds: { idleMs: 300 },
      services: echo,
      grpcOptions: { "grpc.max_receive_message_length": 1024 },
    });
    cleanups.push(() => s.close());
    const c = client(s.port);
    const call = await openEcho(c);
    // Well past the idle timeout: the stream keeps its connection.
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const answer = new Promise<Buffer>((resolve) => call.once("data", resolve));
      call.write(Buffer.from(`still here ${i}`));
      expect((await answer).toString()).toBe(`still here ${i}`);
    }
    expect(s.server.connections).toBe(1);
    expect(await metricValue(s.metrics, "hermes_connections_idle_closed_total", { port: "app" })).toBe(0);

    // Calls that end abnormally: too large a message, cancelled, past their deadline.
    const tooLarge = await openEcho(c);
    const refused = new Promise<grpc.StatusObject>((resolve) => tooLarge.on("status", resolve));
    tooLarge.write(Buffer.alloc(4096));
    expect((await refused).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    (await openEcho(c)).cancel();
    const late = await openEcho(c, 200);
    await new Promise<void>((resolve) => late.on("status", () => resolve()));
    call.end();
    await until(() => s.server.connections === 0, 5000, "the connection to be closed once idle");
    expect(await metricValue(s.metrics, "hermes_connections_idle_closed_total", { port: "app" })).toBe(1);
  });
});

describe("connection caps", () => {
  it("refuses connections past the per-address cap, counts and logs them, and serves other addresses", async () => {
    const s = await testGrpcServer({ port: "app", bounds: { maxConnectionsPerAddress: 3 }, services: echo });
    cleanups.push(() => s.close());
    const held = Array.from({ length: 3 }, () => rawConnection(s.port, { from: "127.0.0.2" }));
    await until(() => s.server.connections === 3, 5000, "three connections from 127.0.0.2");
    const extra = Array.from({ length: 5 }, () => rawConnection(s.port, { from: "127.0.0.2" }));
    await Promise.all(extra.map((c) => c.closed));
    expect(held.some((c) => c.isClosed())).toBe(false);
    expect(
      await metricValue(s.metrics, "hermes_connections_refused_total", {
        port: "app",
        reason: "per_address",
      }),
    ).toBe(5);
    const lines = refusedLogs(s, "per_address");
    // Five refusals within a moment: one line, which may carry the count of those left out.
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThan(5);
    expect(lines[0]).toMatchObject({ port: "app", remote: "127.0.0.2" });

    // Another address still gets in, and its calls work.
    const call = await openEcho(client(s.port));
    call.end();
    expect(s.server.connections).toBe(4);

    // A held connection goes: its address may connect again.
    held[0]!.socket.destroy();
    await until(() => s.server.connections === 3, 5000, "the server to see the close");
    const again = rawConnection(s.port, { from: "127.0.0.2" });
    await until(() => s.server.connections === 4, 5000, "a new connection from 127.0.0.2");
    expect(again.isClosed()).toBe(false);
  });

  it("refuses connections past the total cap from any address", async () => {
    const s = await testGrpcServer({ port: "mesh", bounds: { maxConnections: 4 } });
    cleanups.push(() => s.close());
    const held = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"].map((from) =>
      rawConnection(s.port, { from }),
    );
    await until(() => s.server.connections === 4, 5000, "four connections");
    const extra = rawConnection(s.port, { from: "127.0.0.6" });
    await extra.closed;
    expect(held.some((c) => c.isClosed())).toBe(false);
    expect(
      await metricValue(s.metrics, "hermes_connections_refused_total", {
        port: "mesh",
        reason: "max_connections",
      }),
    ).toBe(1);
    expect(refusedLogs(s, "max_connections")[0]).toMatchObject({ port: "mesh", remote: "127.0.0.6" });
  });

  it("keeps the descriptor reserve: past the limit minus the reserve, connections are refused", async () => {
    // The clients live in this process too: a limit with room for their 20 sockets and 8 more.
    const s = await testGrpcServer({
      port: "app",
      descriptors: { limit: countOpenFds() + 20 + 8 + 64, reserve: 64 },
    });
    cleanups.push(() => s.close());
    const conns = Array.from({ length: 20 }, (_, i) => rawConnection(s.port, { from: `127.0.1.${i + 1}` }));
    await until(
      () => conns.filter((c) => c.isClosed()).length + s.server.connections === 20,
      5000,
      "every connection accepted or refused",
    );
    expect(s.server.connections).toBeGreaterThan(0);
    expect(s.server.connections).toBeLessThanOrEqual(8);
    const refused = await metricValue(s.metrics, "hermes_connections_refused_total", {
      port: "app",
      reason: "fd_reserve",
    });
    expect(refused).toBe(20 - s.server.connections);
    expect(refusedLogs(s, "fd_reserve").length).toBeGreaterThanOrEqual(1);
  });
});

describe("streams per connection", () => {
  it(`refuses a stream past ${MAX_STREAMS_PER_CONNECTION} open on one connection (REFUSED_STREAM), and the others carry on`, async () => {
    const s = await testGrpcServer({ port: "app", services: echo });
    cleanups.push(() => s.close());
    // A plain HTTP/2 client that opens every stream at once, before it has the server's settings
    // (and assumes the peer takes 1000): the server must refuse what is over its own bound.
    const session = http2Connect(`http://127.0.0.1:${s.port}`, { peerMaxConcurrentStreams: 1000 });
    session.on("error", () => undefined);
    cleanups.push(() => void session.destroy());
    const settings = new Promise<number | undefined>((resolve) =>
      session.once("remoteSettings", (remote) => resolve(remote.maxConcurrentStreams)),
    );

    // A gRPC message: no compression, 4-byte length, the bytes.
    const message = (text: string) => {
      const body = Buffer.from(text);
      const header = Buffer.alloc(5);
      header.writeUInt32BE(body.length, 1);
      return Buffer.concat([header, body]);
    };
    const streams = Array.from({ length: MAX_STREAMS_PER_CONNECTION + 1 }, (_, i) => {
      const stream = session.request(
        { ":method": "POST", ":path": ECHO, "content-type": "application/grpc", te: "trailers" },
        { endStream: false },
      );
      stream.on("error", () => undefined);
      const echoed = new Promise<string>((resolve) =>
        stream.once("data", (d: Buffer) => resolve(d.toString())),
      );
      const closed = new Promise<number>((resolve) =>
        stream.once("close", () => resolve(stream.rstCode ?? 0)),
      );
      stream.write(message(`stream ${i}`));
      return { stream, echoed, closed };
    });
    expect(await settings).toBe(MAX_STREAMS_PER_CONNECTION);
    expect(await streams.at(-1)!.closed).toBe(7); // NGHTTP2_REFUSED_STREAM
    const echoes = await Promise.all(streams.slice(0, -1).map((s) => s.echoed));
    expect(echoes.every((e, i) => e.endsWith(`stream ${i}`))).toBe(true);
    expect(streams.slice(0, -1).some((s) => s.stream.closed)).toBe(false);

    // One ends: the connection takes a new stream in its place.
    streams[0]!.stream.close();
    await streams[0]!.closed;
    const again = session.request(
      { ":method": "POST", ":path": ECHO, "content-type": "application/grpc", te: "trailers" },
      { endStream: false },
    );
    again.on("error", () => undefined);
    const answer = new Promise<string>((resolve) => again.once("data", (d: Buffer) => resolve(d.toString())));
    again.write(message("again"));
    expect(await answer).toContain("again");
  });
});

describe("a node under a connection flood", () => {
  it("refuses the flood from one address while a chat from another loses nothing", async () => {
    const node = await startTestNode({
      limits: { maxConnectionsPerAddress: 20 },
      timeouts: { connectionIdleMs: 500 },
    });
    cleanups.push(() => node.cleanup());
    const [a, b] = [newApp(node.endpoint), newApp(node.endpoint)];
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const [mine, theirs] = await chatBetween(a, b);

    const COUNT = 200;
    const received = collect(theirs, COUNT, 20_000);
    // The flood: connections from 127.0.0.2 opened in waves, as fast as they are refused or closed.
    const flood = (async () => {
      for (let wave = 0; wave < 5; wave++) {
        const wave_ = Array.from({ length: 30 }, () => rawConnection(node.appPort, { from: "127.0.0.2" }));
        await Promise.all(wave_.map((c) => c.closed));
      }
    })();
    for (let i = 0; i < COUNT; i++) await mine.send(`message ${i}`);
    expect(await received).toEqual(Array.from({ length: COUNT }, (_, i) => `message ${i}`));
    await flood;
    const refused = await metricValue(node.metrics, "hermes_connections_refused_total", {
      port: "app",
      reason: "per_address",
    });
    const idleClosed = await metricValue(node.metrics, "hermes_connections_idle_closed_total", {
      port: "app",
    });
    // Every flood connection was refused at once or closed once idle; at least 10 a wave were over the cap.
    expect(refused + idleClosed).toBe(5 * 30);
    expect(refused).toBeGreaterThanOrEqual(5 * 10);
    expect(idleClosed).toBeGreaterThan(0);
    // The apps' own connections carry their streams: never idle, never refused.
    const open = () => metricValue(node.metrics, "hermes_connections", { port: "app" });
    for (let waited = 0; (await open()) !== 2 && waited < 5000; waited += 20) await sleep(20);
    expect(await open()).toBe(2);
  });
});

describe("connections turned away", () => {
  it("from an address the gate names are counted, logged, held unanswered within the bounds and then closed, while others are served", async () => {
    const s = await testGrpcServer({ port: "app", services: echo });
    cleanups.push(() => s.close());
    s.server.setGate((address) =>
      address === "127.0.0.2" ? { why: "failed_connects", retryAfterMs: 60_000 } : undefined,
    );
    const held = rawConnection(s.port, { from: "127.0.0.2" });
    let answered = false;
    held.socket.on("data", () => {
      answered = true;
    });
    await until(() => s.server.connections === 1, 5000, "the connection accepted");
    expect(
      await metricValue(s.metrics, "hermes_connections_refused_total", {
        port: "app",
        reason: "failed_connects",
      }),
    ).toBe(1);
    expect(refusedLogs(s, "failed_connects")[0]).toMatchObject({ port: "app", remote: "127.0.0.2" });

    // Another address is served meanwhile, and the held connection counts against the bounds.
    const call = await openEcho(client(s.port));
    expect(s.server.connections).toBe(2);
    expect(held.isClosed()).toBe(false); // a connection closed at once would be reopened at once
    call.end();

    await held.closed;
    expect(answered).toBe(false);
    await until(() => s.server.connections <= 1, 5000, "the held connection let go");
  });

  it("from an address over its connect rate are held unread until the gate lets them in, then served", async () => {
    const s = await testGrpcServer({ port: "app", services: echo });
    cleanups.push(() => s.close());
    let asked = 0;
    s.server.setGate(() => (++asked <= 2 ? { why: "connect_rate", retryAfterMs: 100 } : undefined));
    const started = Date.now();
    const call = await openEcho(client(s.port));
    // Asked again after each wait: the socket, paused meanwhile, loses nothing of what was sent.
    expect(asked).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(
      await metricValue(s.metrics, "hermes_connections_refused_total", {
        port: "app",
        reason: "connect_rate",
      }),
    ).toBe(0);
    call.end();
  });

  it("from an address over its connect rate wait in line, counted, until the port's idle timeout closes them", async () => {
    const s = await testGrpcServer({ port: "app", services: echo, bounds: { idleMs: 1000 } });
    cleanups.push(() => s.close());
    s.server.setGate(() => ({ why: "connect_rate", retryAfterMs: 100 }));
    const held = rawConnection(s.port);
    let answered = false;
    held.socket.on("data", () => {
      answered = true;
    });
    const waiting = () => metricValue(s.metrics, "hermes_connections_waiting", { port: "app" });
    const waitingBecomes = async (n: number) => {
      for (let waited = 0; (await waiting()) !== n && waited < 5000; waited += 20) await sleep(20);
      return waiting();
    };
    expect(await waitingBecomes(1)).toBe(1);
    await held.closed;
    expect(answered).toBe(false);
    expect(await waitingBecomes(0)).toBe(0);
    expect(await metricValue(s.metrics, "hermes_connections_idle_closed_total", { port: "app" })).toBe(1);
  });
});
