import * as grpc from "@grpc/grpc-js";
import { approuter, nodemesh } from "@hermes/proto";
import { afterEach, describe, expect, it } from "vitest";
import { defaultConfig } from "../../src/config/index.js";
import { Identity, sign } from "../../src/identity/index.js";
import { routeHello, signDescriptor } from "../../src/mesh/descriptor.js";
import { EnvelopeSealer } from "../../src/mesh/envelope.js";
import { bareEntry, newChatId } from "../support/frames.js";
import { chatBetween, collect, newApp, startTestNode, until } from "./harness.js";

/**
 * A real node with an insecure mesh, spoken to by raw gRPC clients that send whatever bytes
 * they like on the NodeMesh paths: the node refuses, counts, and keeps serving.
 */
type TestNode = Awaited<ReturnType<typeof startTestNode>>;
type RawCall = grpc.ClientDuplexStream<Buffer, Buffer>;

const PATHS = {
  join: "/hermes.nodemesh.v1.NodeMesh/Join",
  gossip: "/hermes.nodemesh.v1.NodeMesh/Gossip",
  routeChat: "/hermes.nodemesh.v1.NodeMesh/RouteChat",
} as const;
const MAX_FRAME = 64 * 1024;
const RATE = 100;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
});

async function meshNode(over: { peerFramesPerSecond?: number } = {}): Promise<TestNode> {
  const node = await startTestNode({
    mesh: {
      ...defaultConfig().mesh,
      listen: "127.0.0.1:0",
      advertise: "127.0.0.1:0",
      insecure: true,
      maxFrameBytes: MAX_FRAME,
      peerFramesPerSecond: over.peerFramesPerSecond ?? 10_000,
      tielineGraceMs: 500,
    },
  });
  cleanups.push(() => node.cleanup());
  return node;
}

function rawClient(node: TestNode): grpc.Client {
  const client = new grpc.Client(`127.0.0.1:${node.meshPort}`, grpc.credentials.createInsecure());
  cleanups.push(() => client.close());
  return client;
}

const passthrough = (b: Buffer) => b;

/** A raw bidi stream; `status` resolves with how the server ended it. */
function stream(
  client: grpc.Client,
  path: string,
): { call: RawCall; status: Promise<grpc.StatusObject>; data: Buffer[] } {
  const call = client.makeBidiStreamRequest(path, passthrough, passthrough);
  const data: Buffer[] = [];
  call.on("data", (b: Buffer) => data.push(b));
  call.on("error", () => undefined); // the status says it all
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  cleanups.push(() => call.cancel());
  return { call, status, data };
}

function join(
  client: grpc.Client,
  request: Buffer,
): Promise<{ error?: grpc.ServiceError; response?: Buffer }> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(PATHS.join, passthrough, passthrough, request, (error, response) =>
      resolve(error ? { error } : { response: response! }),
    ),
  );
}

const envelopeBytes = (e: nodemesh.GossipEnvelope) => Buffer.from(nodemesh.GossipEnvelope.encode(e).finish());
const routeBytes = (f: nodemesh.RouteFrame) => Buffer.from(nodemesh.RouteFrame.encode(f).finish());
const garbage = Buffer.from([0x0f, 0xff, 0xff, 0x00, 0x13, 0x37]);

/** A metric of the node, as its /metrics text shows it (0 when absent). */
async function metric(node: TestNode, name: string, labels: string): Promise<number> {
  const text = await node.metrics.text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}
const refused = (node: TestNode, code: string) =>
  metric(node, "hermes_mesh_refused_frames_total", `code="${code}"`);

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A valid envelope from `sender` that, once accepted, leaves a visible mark: its own directory
 * snapshot at `version`, which the node takes into its routing table.
 */
function snapshotEnvelope(sealer: EnvelopeSealer, sender: Identity, node: TestNode, version: number) {
  return sealer.seal(node.nodeId, version, {
    $case: "directorySnapshot",
    value: { nodeId: sender.id, version, apps: [bareEntry("q".repeat(32), Date.now())] },
  });
}

/** Two SDK apps on the node can still chat. */
async function appsStillChat(node: TestNode): Promise<void> {
  const a = newApp(node.endpoint);
  const b = newApp(node.endpoint);
  cleanups.push(
    () => a.close(),
    () => b.close(),
  );
  const [ab, ba] = await chatBetween(a, b);
  const got = collect(ba, 2, 5000);
  await Promise.all([ab.send("still"), ab.send("serving")]);
  expect(await got).toEqual(["still", "serving"]);
}

describe("NodeMesh refusals on a live node", () => {
  it("refuses and counts garbage on Gossip and on an open tieline, and goes on serving the same streams", async () => {
    const node = await meshNode();
    const client = rawClient(node);
    const me = Identity.generate();
    const sealer = new EnvelopeSealer(me, "127.0.0.1:1", Date.now());

    const gossip = stream(client, PATHS.gossip);
    gossip.call.write(garbage);
    await eventually(async () => (await refused(node, "malformed")) === 1, "the gossip garbage counted");
    gossip.call.write(envelopeBytes(snapshotEnvelope(sealer, me, node, 5)));
    await until(() => node.mesh!.directory.knownVersion(me.id) === 5, 5000, "the valid envelope taken");
    expect(node.mesh!.directory.locate("q".repeat(32))?.nodeId).toBe(me.id);

    // On a tieline, after the hello: the garbage is refused and the stream goes on.
    const seen: nodemesh.RouteFrame[] = [];
    node.mesh!.on("routeFrame", (from, frame) => from === me.id && seen.push(frame));
    const route = stream(client, PATHS.routeChat);
    route.call.write(routeBytes({ body: { $case: "hello", value: routeHello(me, node.nodeId) } }));
    await until(() => route.data.length === 1, 5000, "the node's hello");
    const answer = nodemesh.RouteFrame.decode(route.data[0]!);
    expect(answer.body?.$case === "hello" && answer.body.value).toMatchObject({
      nodeId: node.nodeId,
      receiverId: me.id,
    });
    route.call.write(garbage);
    await eventually(async () => (await refused(node, "malformed")) === 2, "the tieline garbage counted");
    const teardown: nodemesh.RouteFrame = {
      body: {
        $case: "teardown",
        value: { chatId: newChatId(), reason: approuter.ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER },
      },
    };
    route.call.write(routeBytes(teardown));
    await until(() => seen.length === 1, 5000, "the frame after the garbage");
    expect(seen[0]).toEqual(teardown);

    await appsStillChat(node);
    gossip.call.end();
    route.call.end();
    expect((await within(gossip.status, 5000, "the gossip stream closed")).code).toBe(grpc.status.OK);
    expect((await within(route.status, 5000, "the tieline closed")).code).toBe(grpc.status.OK);
  });

  it("counts unsigned, mis-signed, misaddressed, stale and replayed envelopes by their code, and takes none", async () => {
    const node = await meshNode();
    const client = rawClient(node);
    const me = Identity.generate();
    const other = Identity.generate();
    const sealer = new EnvelopeSealer(me, "127.0.0.1:1", Date.now());
    const gossip = stream(client, PATHS.gossip);

    const good = snapshotEnvelope(sealer, me, node, 10);
    const unsigned = {
      payload: snapshotEnvelope(sealer, me, node, 11).payload,
      signature: new Uint8Array(0),
    };
    const misSigned = (() => {
      const e = snapshotEnvelope(sealer, me, node, 12);
      return { payload: e.payload, signature: sign(other, "hermes/node-gossip/v1", [e.payload]) };
    })();
    const idMismatch = (() => {
      const payload = nodemesh.GossipPayload.encode({
        ...nodemesh.GossipPayload.decode(snapshotEnvelope(sealer, me, node, 13).payload),
        senderId: other.id,
      }).finish();
      return { payload, signature: sign(me, "hermes/node-gossip/v1", [payload]) };
    })();
    const misaddressed = sealer.seal(other.id, 14, { $case: "directoryRequest", value: {} });
    const stale = (() => {
      const payload = nodemesh.GossipPayload.encode({
        ...nodemesh.GossipPayload.decode(snapshotEnvelope(sealer, me, node, 15).payload),
        timestampMs: Date.now() - defaultConfig().timeouts.clockSkewMs - 60_000,
      }).finish();
      return { payload, signature: sign(me, "hermes/node-gossip/v1", [payload]) };
    })();

    for (const e of [unsigned, misSigned, idMismatch, misaddressed, stale])
      gossip.call.write(envelopeBytes(e));
    gossip.call.write(envelopeBytes(good));
    gossip.call.write(envelopeBytes(good)); // again: a replay
    await eventually(async () => (await refused(node, "replayed")) === 1, "the replay counted");
    expect({
      bad_signature: await refused(node, "bad_signature"),
      id_mismatch: await refused(node, "id_mismatch"),
      wrong_receiver: await refused(node, "wrong_receiver"),
      stale: await refused(node, "stale"),
      malformed: await refused(node, "malformed"),
    }).toEqual({ bad_signature: 2, id_mismatch: 1, wrong_receiver: 1, stale: 1, malformed: 0 });
    // Only the good one was taken (the refused ones carried higher versions).
    expect(node.mesh!.directory.knownVersion(me.id)).toBe(10);
    expect(node.mesh!.directory.knownVersion(other.id)).toBe(0);
    expect(await metric(node, "hermes_mesh_gossip_messages_total", 'direction="received"')).toBe(1);
    gossip.call.end();
  });

  it("closes a RouteChat stream whose first frame is not a valid hello with UNAUTHENTICATED, taking nothing after it", async () => {
    const node = await meshNode();
    const client = rawClient(node);
    const me = Identity.generate();
    const seen: nodemesh.RouteFrame[] = [];
    node.mesh!.on("routeFrame", (_from, frame) => seen.push(frame));
    const teardown: nodemesh.RouteFrame = {
      body: {
        $case: "teardown",
        value: { chatId: newChatId(), reason: approuter.ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER },
      },
    };
    const goodHello = () => routeBytes({ body: { $case: "hello", value: routeHello(me, node.nodeId) } });
    const firstFrames: [string, Buffer, string][] = [
      ["bytes that do not decode", garbage, "malformed"],
      ["a teardown before any hello", routeBytes(teardown), "malformed"],
      [
        "a hello for another node",
        routeBytes({ body: { $case: "hello", value: routeHello(me, Identity.generate().id) } }),
        "wrong_receiver",
      ],
      [
        "a hello signed by another key",
        routeBytes({
          body: {
            $case: "hello",
            value: {
              ...routeHello(Identity.generate(), node.nodeId),
              nodeId: me.id,
              publicKey: me.publicKey,
            },
          },
        }),
        "bad_signature",
      ],
      ["an empty frame", Buffer.alloc(0), "malformed"],
    ];
    for (const [name, first, code] of firstFrames) {
      const before = await refused(node, code);
      const route = stream(client, PATHS.routeChat);
      // The bad frame, then a proper hello and a frame in the same breath.
      route.call.write(first);
      route.call.write(goodHello());
      route.call.write(routeBytes(teardown));
      const status = await within(route.status, 5000, `the end of the stream opened with ${name}`);
      expect({ name, code: status.code }).toEqual({ name, code: grpc.status.UNAUTHENTICATED });
      expect(status.details.length).toBeGreaterThan(0);
      expect({ name, refused: await refused(node, code) }).toEqual({ name, refused: before + 1 });
      // No hello came back, and nothing reached the router.
      expect({ name, data: route.data.length }).toEqual({ name, data: 0 });
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([]);
    // A proper stream is still taken.
    const ok = stream(client, PATHS.routeChat);
    ok.call.write(goodHello());
    ok.call.write(routeBytes(teardown));
    await until(() => seen.length === 1, 5000, "the frame on a proper stream");
    expect(ok.data).toHaveLength(1);
    ok.call.end();
  });

  it("ends a stream carrying a frame over mesh.maxFrameBytes with RESOURCE_EXHAUSTED and keeps serving", async () => {
    const node = await meshNode();
    const client = rawClient(node);
    const me = Identity.generate();
    const sealer = new EnvelopeSealer(me, "127.0.0.1:1", Date.now());

    const gossip = stream(client, PATHS.gossip);
    gossip.call.write(Buffer.alloc(MAX_FRAME + 1024, 7));
    expect((await within(gossip.status, 5000, "the oversized gossip refused")).code).toBe(
      grpc.status.RESOURCE_EXHAUSTED,
    );

    const route = stream(client, PATHS.routeChat);
    route.call.write(routeBytes({ body: { $case: "hello", value: routeHello(me, node.nodeId) } }));
    await until(() => route.data.length === 1, 5000, "the node's hello");
    const huge: nodemesh.RouteFrame = {
      body: {
        $case: "relay",
        value: {
          chatId: newChatId(),
          fromAppId: "q".repeat(32),
          seq: 1,
          ciphertext: new Uint8Array(MAX_FRAME * 2),
          sentAtMs: 0,
        },
      },
    };
    route.call.write(routeBytes(huge));
    expect((await within(route.status, 5000, "the oversized frame refused")).code).toBe(
      grpc.status.RESOURCE_EXHAUSTED,
    );

    // A new stream right after is served.
    const again = stream(client, PATHS.gossip);
    again.call.write(envelopeBytes(snapshotEnvelope(sealer, me, node, 3)));
    await until(() => node.mesh!.directory.knownVersion(me.id) === 3, 5000, "an envelope on a new stream");
    again.call.end();
    await appsStillChat(node);
  });

  it("refuses a Join with a missing, garbled, mis-signed or stale descriptor with PERMISSION_DENIED", async () => {
    const node = await meshNode();
    const client = rawClient(node);
    const joiner = Identity.generate();
    const fields = { meshEndpoint: "127.0.0.1:1", appEndpoint: "127.0.0.1:2", incarnation: 1, metadata: {} };
    const good = signDescriptor(joiner, fields);
    const decoded = nodemesh.NodeDescriptor.decode(good.descriptor);
    const staleBytes = nodemesh.NodeDescriptor.encode({
      ...decoded,
      timestampMs: Date.now() - defaultConfig().timeouts.clockSkewMs - 60_000,
    }).finish();
    const requests: [string, nodemesh.JoinRequest, RegExp, string][] = [
      ["no descriptor", { node: undefined, members: [] }, /no descriptor/, "malformed"],
      [
        "garbled descriptor",
        { node: { descriptor: new Uint8Array([0xff, 0xff]), signature: good.signature }, members: [] },
        /does not decode/,
        "malformed",
      ],
      [
        "mis-signed",
        {
          node: {
            descriptor: good.descriptor,
            signature: sign(Identity.generate(), "hermes/node-join/v1", [good.descriptor]),
          },
          members: [],
        },
        new RegExp(`descriptor of ${joiner.id} is not signed by its key`),
        "bad_signature",
      ],
      [
        "stale",
        {
          node: {
            descriptor: staleBytes,
            signature: sign(joiner, "hermes/node-join/v1", [staleBytes]),
          },
          members: [],
        },
        new RegExp(`descriptor of ${joiner.id} is \\d+ ms old`),
        "stale",
      ],
    ];
    for (const [name, request, message, code] of requests) {
      const before = await refused(node, code);
      const { error } = await join(client, Buffer.from(nodemesh.JoinRequest.encode(request).finish()));
      expect({ name, code: error?.code }).toEqual({ name, code: grpc.status.PERMISSION_DENIED });
      expect(error?.details).toMatch(/^join refused: /);
      expect(error?.details).toMatch(message);
      expect({ name, refused: await refused(node, code) }).toEqual({ name, refused: before + 1 });
    }
    // Bytes that are no JoinRequest at all are refused too, and the node lives on.
    const { error } = await join(client, garbage);
    expect(error?.code).toBeDefined();
    expect(error?.code).not.toBe(grpc.status.OK);
    // None of them became a member.
    expect(node.mesh!.membership.member(joiner.id)).toBeUndefined();
    await appsStillChat(node);
  });

  it("refuses a Join whose signed descriptor announces an unusable mesh endpoint, and lives on", async () => {
    const node = await meshNode();
    const client = rawClient(node);
    const joiner = Identity.generate();
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on("uncaughtException", onUncaught);
    cleanups.push(() => void process.off("uncaughtException", onUncaught));
    const before = await refused(node, "malformed");
    const signed = signDescriptor(joiner, {
      meshEndpoint: "",
      appEndpoint: "",
      incarnation: 1,
      metadata: {},
    });
    const { error } = await join(
      client,
      Buffer.from(nodemesh.JoinRequest.encode({ node: signed, members: [] }).finish()),
    );
    expect(error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(error?.details).toMatch(new RegExp(`descriptor of ${joiner.id} has no usable mesh endpoint`));
    expect(await refused(node, "malformed")).toBe(before + 1);
    expect(node.mesh!.membership.member(joiner.id)).toBeUndefined();
    // Give the membership timers a few rounds: nothing may blow up.
    await new Promise((r) => setTimeout(r, 1500));
    expect(uncaught).toEqual([]);
    await appsStillChat(node);
  });

  it("survives a member re-announcing itself at an unusable address", async () => {
    const node = await meshNode();
    const client = rawClient(node);
    const me = Identity.generate();
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on("uncaughtException", onUncaught);
    cleanups.push(() => void process.off("uncaughtException", onUncaught));
    // A proper join first (at an address where nobody answers).
    const signed = signDescriptor(me, {
      meshEndpoint: "127.0.0.1:1",
      appEndpoint: "",
      incarnation: 1,
      metadata: {},
    });
    const { error } = await join(
      client,
      Buffer.from(nodemesh.JoinRequest.encode({ node: signed, members: [] }).finish()),
    );
    expect(error).toBeUndefined();
    expect(node.mesh!.membership.member(me.id)?.address).toBe("127.0.0.1:1");
    // Past the once-a-second snapshot limit, so the node's anti-entropy answers this envelope too.
    await new Promise((r) => setTimeout(r, 1100));
    const sealer = new EnvelopeSealer(me, "", Date.now());
    const gossip = stream(client, PATHS.gossip);
    const update: nodemesh.MemberUpdate = {
      kind: nodemesh.MemberUpdate_Kind.KIND_ALIVE,
      nodeId: me.id,
      incarnation: 5,
      meshEndpoint: "",
      metadata: {},
      from: "",
    };
    const swim: nodemesh.SwimMessage = {
      kind: nodemesh.SwimMessage_Kind.KIND_GOSSIP,
      seq: 0,
      target: "",
      source: "",
      targetAddress: "",
      join: false,
      updates: [update],
      members: [],
    };
    gossip.call.write(envelopeBytes(sealer.seal(node.nodeId, 99, { $case: "swim", value: swim })));
    await until(() => node.mesh!.membership.member(me.id)?.address === "", 5000, "the new address taken");
    // Probes and answers now go to "": refused quietly, never thrown.
    await new Promise((r) => setTimeout(r, 1500));
    expect(uncaught).toEqual([]);
    gossip.call.end();
    await appsStillChat(node);
  });

  it("rate-limits a flooding tieline (rate_limited grows) while the node stays responsive", async () => {
    const node = await meshNode({ peerFramesPerSecond: RATE });
    const client = rawClient(node);
    const me = Identity.generate();
    const seen: nodemesh.RouteFrame[] = [];
    node.mesh!.on("routeFrame", (_from, frame) => seen.push(frame));
    const route = stream(client, PATHS.routeChat);
    route.call.write(routeBytes({ body: { $case: "hello", value: routeHello(me, node.nodeId) } }));
    await until(() => route.data.length === 1, 5000, "the node's hello");

    const frame = routeBytes({
      body: {
        $case: "teardown",
        value: { chatId: newChatId(), reason: approuter.ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER },
      },
    });
    const batches = 20;
    const perBatch = 250;
    const started = Date.now();
    let health: Promise<Response> | undefined;
    for (let i = 0; i < batches; i++) {
      for (let j = 0; j < perBatch; j++) route.call.write(frame);
      if (i === batches / 2) health = fetch(`http://127.0.0.1:${node.adminPort}/healthz`);
      await new Promise((r) => setImmediate(r));
    }
    const sent = batches * perBatch;
    const answer = await health!;
    expect(answer.status).toBe(200);
    await eventually(
      async () => seen.length + (await refused(node, "rate_limited")) === sent,
      "every flooded frame taken or refused",
      10_000,
    );
    const elapsedS = (Date.now() - started) / 1000;
    // At most the burst (2× the rate) plus the rate for the time it took got through.
    expect(seen.length).toBeLessThanOrEqual(2 * RATE + Math.ceil(RATE * elapsedS) + 1);
    expect(await refused(node, "rate_limited")).toBeGreaterThanOrEqual(sent - seen.length);
    expect(await refused(node, "rate_limited")).toBeGreaterThan(sent / 2);
    // The same stream carries frames again once the budget refills.
    const before = seen.length;
    await new Promise((r) => setTimeout(r, 200));
    route.call.write(frame);
    await until(() => seen.length === before + 1, 5000, "a frame after the flood");
    route.call.end();
    await appsStillChat(node);
  });

  it("rate-limits a flooding gossip stream the same way", async () => {
    const node = await meshNode({ peerFramesPerSecond: RATE });
    const client = rawClient(node);
    const me = Identity.generate();
    const sealer = new EnvelopeSealer(me, "127.0.0.1:1", Date.now());
    const gossip = stream(client, PATHS.gossip);
    // One envelope over and over: within the budget the first is taken and the rest are replays.
    const bytes = envelopeBytes(snapshotEnvelope(sealer, me, node, 1));
    const total = 800;
    for (let i = 0; i < total; i++) gossip.call.write(bytes);
    const health = await fetch(`http://127.0.0.1:${node.adminPort}/healthz`);
    expect(health.status).toBe(200);
    const accounted = async () =>
      (await metric(node, "hermes_mesh_gossip_messages_total", 'direction="received"')) +
      (await refused(node, "replayed")) +
      (await refused(node, "rate_limited"));
    await eventually(async () => (await accounted()) === total, "every envelope taken or refused", 10_000);
    expect(await metric(node, "hermes_mesh_gossip_messages_total", 'direction="received"')).toBe(1);
    expect(await refused(node, "replayed")).toBeGreaterThan(0);
    expect(await refused(node, "rate_limited")).toBeGreaterThan(total / 2);
    gossip.call.end();
  });
});
