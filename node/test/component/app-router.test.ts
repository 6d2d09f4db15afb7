import { readFile } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import { approuter } from "@hermes/proto";
import { afterEach, describe, expect, it } from "vitest";
import { Identity, sign } from "../../src/identity/index.js";
import { FileKeyBackend } from "../../src/keystore/index.js";
import type { InboundFrame } from "../../src/router/index.js";
import type { Chat, HermesClient } from "../../src/sdk/index.js";
import { newEphemeralKey, signedAcceptChat, signedConnect } from "../support/frames.js";
import { chatBetween, collect, freePort, newApp, startTestNode, until } from "./harness.js";

const { ErrorCode, NodeFrame, AppFrame, SessionCloseReason } = approuter;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function node(overrides: Parameters<typeof startTestNode>[0] = {}, dataDir?: string) {
  const n = await startTestNode(overrides, dataDir);
  cleanups.push(() => n.cleanup());
  return n;
}

function app(endpoint: string, identity?: Identity): HermesClient {
  const client = newApp(endpoint, identity);
  cleanups.push(() => client.close());
  return client;
}

/** A client that writes raw bytes, to send the node what no SDK would. */
function rawStream(endpoint: string) {
  const Raw = grpc.makeGenericClientConstructor(
    {
      open: {
        path: "/hermes.approuter.v1.AppRouter/Open",
        requestStream: true,
        responseStream: true,
        requestSerialize: (bytes: Buffer) => bytes,
        requestDeserialize: (bytes: Buffer) => bytes,
        responseSerialize: (frame: approuter.NodeFrame) => Buffer.from(NodeFrame.encode(frame).finish()),
        responseDeserialize: (bytes: Buffer) => NodeFrame.decode(bytes),
      },
    },
    "AppRouter",
  );
  const client = new Raw(endpoint, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    open(): grpc.ClientDuplexStream<Buffer, approuter.NodeFrame>;
  };
  const stream = client.open();
  const frames: approuter.NodeFrame[] = [];
  let failure: grpc.ServiceError | undefined;
  stream.on("data", (frame: approuter.NodeFrame) => frames.push(frame));
  stream.on("error", (error: grpc.ServiceError) => {
    failure = error;
  });
  cleanups.push(async () => {
    stream.cancel();
    client.close();
  });
  return {
    frames,
    get failure() {
      return failure;
    },
    write: (bytes: Uint8Array) => stream.write(Buffer.from(bytes)),
    writeFrame: (frame: approuter.AppFrame) => stream.write(Buffer.from(AppFrame.encode(frame).finish())),
  };
}

/** An app written from the .proto alone: connected on a raw stream, saying whether it takes batches. */
async function rawApp(endpoint: string, takesBatches: boolean) {
  const raw = rawStream(endpoint);
  await until(() => raw.frames.length === 1, 5000, "challenge");
  const challenge = raw.frames[0]!.body;
  if (challenge?.$case !== "challenge") throw new Error("no challenge");
  const identity = Identity.generate();
  const connect = {
    ...signedConnect(identity, { ...challenge.value, timestampMs: Date.now() }),
    takesBatches,
  };
  raw.writeFrame({ correlationId: "c1", body: { $case: "connect", value: connect } });
  await until(() => raw.frames.some((f) => f.body?.$case === "connectAck"), 5000, "connect ack");
  return { identity, raw };
}

/** The seqs of every delivery a raw app got, in batches or alone. */
function deliveredSeqs(frames: approuter.NodeFrame[]): number[] {
  return frames.flatMap((f) =>
    f.body?.$case === "delivery"
      ? [f.body.value.seq]
      : f.body?.$case === "batch"
        ? f.body.value.deliveries.map((d) => d.seq)
        : [],
  );
}

describe("batches between an SDK app and an app that does or does not take them", () => {
  for (const takesBatches of [false, true]) {
    it(`${takesBatches ? "batches" : "does not batch"} deliveries to a raw app that says takes_batches: ${takesBatches}`, async () => {
      const n = await node();
      const a = app(n.endpoint);
      await a.connect();
      const b = await rawApp(n.endpoint, takesBatches);
      const started = a.startChat(b.identity.id);
      await until(() => b.raw.frames.some((f) => f.body?.$case === "chatOffer"), 5000, "offer");
      const offer = b.raw.frames.find((f) => f.body?.$case === "chatOffer")!.body;
      if (offer?.$case !== "chatOffer") throw new Error("no offer");
      const accept = signedAcceptChat(b.identity, {
        chatId: offer.value.chatId,
        initiatorAppId: offer.value.initiatorAppId,
        initiatorEphemeralKey: offer.value.ephemeralKey,
        ephemeralKey: newEphemeralKey(),
        timestampMs: Date.now(),
      });
      b.raw.writeFrame({ correlationId: "acc", body: { $case: "acceptChat", value: accept } });
      const ab = await started;
      const before = b.raw.frames.length;
      // A window's worth at once: the SDK sends them as one MessageBatch.
      for (let i = 1; i <= 50; i++) void ab.send(`m${i}`).catch(() => undefined);
      await until(() => deliveredSeqs(b.raw.frames).length === 50, 10_000, "50 deliveries");
      const frames = b.raw.frames.slice(before);
      expect(deliveredSeqs(frames)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      const kinds = new Set(frames.map((f) => f.body?.$case));
      if (takesBatches) {
        expect(kinds.has("batch")).toBe(true);
        expect(frames.length).toBeLessThan(50);
      } else {
        expect([...kinds]).toEqual(["delivery"]);
        expect(frames).toHaveLength(50);
      }
    });
  }
});

describe("AppRouter over gRPC", () => {
  it("relays a chat both ways, in order, with end-to-end acks", async () => {
    const n = await node();
    const [a, b] = [app(n.endpoint), app(n.endpoint)];
    const [ab, ba] = await chatBetween(a, b);
    const count = 300;
    const atB = collect(ba, count);
    const atA = collect(ab, count);
    const sends = [];
    for (let i = 1; i <= count; i++) sends.push(ab.send(`a${i}`), ba.send(`b${i}`));
    await Promise.all(sends);
    expect(await atB).toEqual(Array.from({ length: count }, (_, i) => `a${i + 1}`));
    expect(await atA).toEqual(Array.from({ length: count }, (_, i) => `b${i + 1}`));
    expect(ab.unacked).toBe(0);
    const metrics = await n.metrics.text();
    expect(metrics).toMatch(/hermes_messages_relayed_total\{scope="local"\} 600/);
    // Acks are cumulative and coalesced by the receiving SDK: fewer frames than messages.
    const acks = Number(/hermes_acks_relayed_total\{scope="local"\} (\d+)/.exec(metrics)?.[1]);
    expect(acks).toBeGreaterThan(0);
    expect(acks).toBeLessThanOrEqual(600);
  });

  it("never gives the node plaintext or a chat key", async () => {
    const n = await node();
    const seen: Buffer[] = [];
    const receive = n.router.receive.bind(n.router);
    n.router.receive = (session, frame: InboundFrame) => {
      if (!("malformed" in frame)) seen.push(Buffer.from(AppFrame.encode(frame).finish()));
      receive(session, frame);
    };
    const [a, b] = [app(n.endpoint), app(n.endpoint)];
    const [ab, ba] = await chatBetween(a, b);
    const secret = "the eagle lands at midnight";
    const got = collect(ba, 5);
    await Promise.all([1, 2, 3, 4, 5].map((i) => ab.send(`${secret} #${i}`)));
    expect(await got).toHaveLength(5);
    await until(() => !n.router.stats().chats.pending && seen.length > 0);
    await new Promise((r) => setTimeout(r, 200)); // a keystore flush interval
    const keys = (ab as unknown as { keys: { send: Uint8Array; receive: Uint8Array } }).keys;
    const needles = [Buffer.from(secret), Buffer.from(keys.send), Buffer.from(keys.receive)];

    const backend = await FileKeyBackend.open(
      n.config.keystore.path,
      new TextEncoder().encode("test passphrase"),
    );
    const records = backend.list("chat/").map((name) => Buffer.from(backend.get(name)!));
    await backend.close();
    expect(records).toHaveLength(1);
    const file = await readFile(n.config.keystore.path);
    for (const haystack of [...seen, ...records, file]) {
      for (const needle of needles) expect(haystack.includes(needle)).toBe(false);
    }
    // The frames did carry the messages, so the check above looked at the right bytes.
    expect(seen.filter((f) => f.length > 40)).not.toHaveLength(0);
  });

  it("answers garbage bytes with MALFORMED_FRAME: before connect it closes the stream, after connect it keeps it", async () => {
    const n = await node();
    const stranger = rawStream(n.endpoint);
    await until(() => stranger.frames.length === 1, 5000, "challenge");
    stranger.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]));
    await until(() => stranger.frames.length === 3, 5000, "error and close");
    const [, refused, closed] = stranger.frames.map((f) => f.body);
    expect(refused?.$case === "error" && refused.value.code).toBe(ErrorCode.ERROR_CODE_MALFORMED_FRAME);
    expect(closed?.$case === "sessionClosed" && closed.value.reason).toBe(
      SessionCloseReason.SESSION_CLOSE_REASON_PROTOCOL,
    );

    const raw = rawStream(n.endpoint);
    await until(() => raw.frames.length === 1, 5000, "challenge");
    const challenge = raw.frames[0]!.body;
    if (challenge?.$case !== "challenge") throw new Error("no challenge");
    const id = Identity.generate();
    const timestampMs = Date.now();
    const signature = sign(id, "hermes/app-connect/v1", [
      challenge.value.nodeId,
      id.id,
      challenge.value.nonce,
      timestampMs,
    ]);
    raw.writeFrame({
      correlationId: "c1",
      body: {
        $case: "connect",
        value: {
          publicKey: id.publicKey,
          nonce: challenge.value.nonce,
          timestampMs,
          signature,
          resume: [],
          takesBatches: false,
        },
      },
    });
    await until(() => raw.frames.length === 2, 5000, "connect ack");
    expect(raw.frames[1]!.body?.$case).toBe("connectAck");
    expect(raw.frames[1]!.correlationId).toBe("c1");
    raw.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]));
    await until(() => raw.frames.length === 3, 5000, "error frame");
    const error = raw.frames[2]!.body;
    expect(error?.$case === "error" && error.value.code).toBe(ErrorCode.ERROR_CODE_MALFORMED_FRAME);
    raw.writeFrame({ correlationId: "h1", body: { $case: "heartbeat", value: { timestampMs: Date.now() } } });
    await until(() => raw.frames.length === 4, 5000, "heartbeat answer");
    expect(raw.frames[3]!.correlationId).toBe("h1");
  });

  it("ends the stream with RESOURCE_EXHAUSTED for a frame over maxFrameBytes", async () => {
    const n = await node({ limits: { maxFrameBytes: 2048, maxCiphertextBytes: 1024 } });
    const raw = rawStream(n.endpoint);
    await until(() => raw.frames.length === 1, 5000, "challenge");
    raw.write(new Uint8Array(8192));
    await until(() => raw.failure !== undefined, 5000, "stream failure");
    expect(raw.failure?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it("refuses an oversize message in the SDK before it uses a seq", async () => {
    const n = await node({ limits: { maxCiphertextBytes: 1024 } });
    const [ab, ba] = await chatBetween(app(n.endpoint), app(n.endpoint));
    await expect(ab.send(new Uint8Array(2000))).rejects.toThrow(/exceeds the node's limit/);
    const got = collect(ba, 1);
    await ab.send("small");
    expect(await got).toEqual(["small"]);
  });

  it("replaces the session when the same app connects again", async () => {
    const n = await node();
    const id = Identity.generate();
    const first = app(n.endpoint, id);
    await first.connect();
    const replaced = new Promise<Error>((resolve) => first.once("error", resolve));
    const second = app(n.endpoint, Identity.fromSecretKey(id.exportSecretKey()));
    await second.connect();
    expect((await replaced).message).toMatch(/session replaced/);
    expect(n.router.stats().sessions).toBe(1);
    const peer = app(n.endpoint);
    await peer.connect();
    expect((await peer.findApp(id.id)).online).toBe(true);
  });

  it("loses and duplicates nothing when the receiver's stream breaks mid-transfer", async () => {
    const n = await node();
    const [a, b] = [app(n.endpoint), app(n.endpoint)];
    const [ab, ba] = await chatBetween(a, b);
    const count = 400;
    const got = collect(ba, count, 20_000);
    const sends = Array.from({ length: count }, (_, i) => ab.send(`m${i + 1}`));
    await until(() => ab.unacked < count - 50, 5000, "some acks");
    const reconnected = new Promise((resolve) => b.once("connected", resolve));
    // Breaks the gRPC stream as a network fault would.
    (b as unknown as { connection: { stream: { break(): void } } }).connection.stream.break();
    await reconnected;
    await Promise.all(sends);
    expect(await got).toEqual(Array.from({ length: count }, (_, i) => `m${i + 1}`));
  });

  it("resumes chats after a node restart", async () => {
    const port = await freePort();
    const first = await startTestNode({ listen: { app: `127.0.0.1:${port}`, admin: "127.0.0.1:0" } });
    const dataDir = first.config.dataDir;
    const [a, b] = [app(first.endpoint), app(first.endpoint)];
    const [ab, ba] = await chatBetween(a, b);
    const got = collect(ba, 20, 20_000);
    for (let i = 1; i <= 10; i++) await ab.send(`m${i}`);
    const down = new Promise((resolve) => a.once("disconnected", resolve));
    await first.stop();
    await down;
    const second = await node({ listen: { app: `127.0.0.1:${port}`, admin: "127.0.0.1:0" } }, dataDir);
    expect(second.nodeId).toBe(first.nodeId);
    expect(second.router.stats().chats.ready).toBe(1);
    await until(() => a.isConnected && b.isConnected, 10_000, "reconnect");
    for (let i = 11; i <= 20; i++) await ab.send(`m${i}`);
    expect(await got).toEqual(Array.from({ length: 20 }, (_, i) => `m${i + 1}`));
    expect(ab.ended).toBe(false);
  });

  it("slows a sender past its message rate without losing anything", async () => {
    const n = await node({ limits: { messagesPerSecond: 100, messageBurst: 10 } });
    const [ab, ba] = await chatBetween(app(n.endpoint), app(n.endpoint));
    const got = collect(ba, 60, 20_000);
    await Promise.all(Array.from({ length: 60 }, (_, i) => ab.send(`r${i + 1}`)));
    expect(await got).toEqual(Array.from({ length: 60 }, (_, i) => `r${i + 1}`));
    expect(await n.metrics.text()).toMatch(/hermes_limit_refusals_total\{limit="message_rate"\} [1-9]/);
  });

  it("deletes a chat on both sides and erases its record", async () => {
    const n = await node();
    const [ab, ba] = await chatBetween(app(n.endpoint), app(n.endpoint));
    await ab.send("hello");
    const ended = Promise.all([ended_(ab), ended_(ba)]);
    ba.delete();
    const [reasonA, reasonB] = await ended;
    expect(reasonA).toBe(approuter.ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER);
    expect(reasonB).toBe(approuter.ChatEndReason.CHAT_END_REASON_DELETED);
    await expect(ab.send("after")).rejects.toThrow(/ended/);
    await n.stop();
    const backend = await FileKeyBackend.open(
      n.config.keystore.path,
      new TextEncoder().encode("test passphrase"),
    );
    expect(backend.list("chat/")).toEqual([]);
    await backend.close();
  });

  it("tells apps when the node shuts down, and serves health and metrics until then", async () => {
    const n = await node();
    const a = app(n.endpoint);
    await a.connect();
    const admin = `http://127.0.0.1:${n.adminPort}`;
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${admin}/metrics`)).text()).toMatch(/hermes_app_sessions 1/);
    const down = new Promise<string>((resolve) => a.once("disconnected", resolve));
    await n.stop();
    expect(await down).toMatch(/ended|closed|shut/i);
  });

  it("refuses to start on a wrong keystore passphrase, leaving the keystore untouched", async () => {
    process.env.HERMES_TEST_PASSPHRASE_A = "right";
    const n = await node({ keystore: { passphraseEnv: "HERMES_TEST_PASSPHRASE_A" } as never });
    await n.stop();
    const before = await readFile(n.config.keystore.path);
    process.env.HERMES_TEST_PASSPHRASE_A = "wrong";
    await expect(
      node({ keystore: { passphraseEnv: "HERMES_TEST_PASSPHRASE_A" } as never }, n.config.dataDir),
    ).rejects.toThrow(/passphrase/i);
    expect((await readFile(n.config.keystore.path)).equals(before)).toBe(true);
  });
});

function ended_(chat: Chat): Promise<approuter.ChatEndReason> {
  return new Promise((resolve) => chat.once("ended", resolve));
}
