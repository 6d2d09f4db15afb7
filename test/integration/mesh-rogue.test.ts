import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { nodemesh } from "@hermes/proto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type LocalCluster, startLocalCluster, waitFor } from "../../node/dist/cli/local-cluster.js";
import { type HermesClient, Identity } from "../../node/dist/index.js";
import { EnvelopeSealer } from "../../node/dist/mesh/envelope.js";
import { requireBuild } from "./cli.js";
import { appsByNode, connectApp, exchange, FAST_MESH, metric, openChat } from "./mesh-helpers.js";

// A rogue member: it holds a valid mesh certificate (node-1's, stolen) and an identity of its own,
// and sends node 0 signed directory news claiming that apps connected to it. Two real `hermes
// node` processes over mutual TLS; the rogue speaks raw NodeMesh from this process.

let cluster: LocalCluster;
const apps: HermesClient[] = [];
let setupError: unknown;

beforeAll(async () => {
  try {
    requireBuild();
    cluster = await startLocalCluster({ size: 2, flags: FAST_MESH, timeoutMs: 30_000 });
  } catch (error) {
    setupError = error;
  }
});

// A broken setup fails every test with the reason (never a skip).
beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await cluster?.stop();
});

/** A NodeMesh client with a certificate of the mesh, and a Gossip stream to `endpoint`. */
async function rogueStream(endpoint: string) {
  const dir = cluster.certDir;
  const credentials = grpc.credentials.createSsl(
    await readFile(join(dir, "ca.pem")),
    await readFile(join(dir, "node-1-key.pem")),
    await readFile(join(dir, "node-1.pem")),
  );
  const client = new nodemesh.NodeMeshClient(endpoint, credentials);
  const stream = client.gossip();
  stream.on("error", () => undefined);
  return {
    send: (envelope: nodemesh.GossipEnvelope) => stream.write(envelope),
    close() {
      stream.end();
      client.close();
    },
  };
}

/** A claim that `app` connected to the rogue, with a made-up proof: its real key, a random signature. */
function forgedEntry(app: Identity, atMs: number): nodemesh.AppEntry {
  return {
    appId: app.id,
    connectedAtMs: atMs,
    publicKey: app.publicKey,
    nonce: new Uint8Array(randomBytes(32)),
    signature: new Uint8Array(randomBytes(64)),
  };
}

const bare = (appId: string, connectedAtMs: number): nodemesh.AppEntry => ({
  appId,
  connectedAtMs,
  publicKey: new Uint8Array(),
  nonce: new Uint8Array(),
  signature: new Uint8Array(),
});

describe("a rogue member of the mesh", () => {
  it("cannot evict an app from its node with a signed directory snapshot: refused, counted, the chat flows", async () => {
    const [n0, n1] = cluster.nodes as [LocalCluster["nodes"][0], LocalCluster["nodes"][0]];
    const aId = Identity.generate();
    const bId = Identity.generate();
    const a = await connectApp(n0.appEndpoint, aId);
    const b = await connectApp(n1.appEndpoint, bId);
    apps.push(a, b);
    const session = a.sessionId;
    await waitFor(
      async () => Boolean((await appsByNode(n0)).get(n1.nodeId)?.has(b.appId)),
      10_000,
      "node 0 to locate b on node 1",
    );
    const disconnects: string[] = [];
    a.on("disconnected", (why) => disconnects.push(why));
    const [ab, ba] = await openChat(a, b);
    const before = await exchange(ab, ba, 20);
    expect([before.ab.delivered, before.ba.delivered]).toEqual([20, 20]);

    const rogue = Identity.generate();
    const sealer = new EnvelopeSealer(rogue, "127.0.0.1:1", Date.now(), () => Date.now());
    const stream = await rogueStream(n0.meshEndpoint);
    const stranger = Identity.generate().id; // connected nowhere: the control, taken as claimed
    const later = Date.now() + 5000;
    const snapshot = (version: number, entries: nodemesh.AppEntry[]) =>
      sealer.seal(n0.nodeId, version, {
        $case: "directorySnapshot",
        value: { nodeId: rogue.id, version, apps: entries },
      });
    // a is connected to node 0; b is the peer of a chat node 0 carries.
    stream.send(snapshot(1, [forgedEntry(aId, later), bare(stranger, later)]));
    stream.send(snapshot(2, [bare(aId.id, later), bare(stranger, later)]));
    stream.send(snapshot(3, [forgedEntry(bId, later), bare(stranger, later)]));

    await waitFor(
      async () => (await metric(n0, "hermes_mesh_refused_frames_total", { code: "unproven_claim" })) >= 3,
      10_000,
      "node 0 to refuse the three claims",
    );
    // The snapshots were taken, all but the claims: the rogue is placed as hosting the stranger only.
    const table = await appsByNode(n0);
    expect([...(table.get(rogue.id) ?? [])]).toEqual([stranger]);
    expect(table.get(n0.nodeId)?.has(a.appId)).toBe(true);
    expect(table.get(n1.nodeId)?.has(b.appId)).toBe(true);

    // The app kept its session, and its chat goes on both ways, in order, all acked.
    const after = await exchange(ab, ba, 50);
    expect(after).toEqual({
      ab: { sent: 50, delivered: 50, acked: 50, inOrder: true },
      ba: { sent: 50, delivered: 50, acked: 50, inOrder: true },
    });
    expect(a.isConnected).toBe(true);
    expect(a.sessionId).toBe(session);
    expect(disconnects).toEqual([]);
    expect([ab.ended, ba.ended]).toEqual([false, false]);
    expect(await metric(n0, "hermes_mesh_refused_frames_total", { code: "unproven_claim" })).toBe(3);
    stream.close();
  });
});
