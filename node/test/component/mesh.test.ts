import { approuter } from "@hermes/proto";
import { afterEach, describe, expect, it } from "vitest";
import { defaultConfig } from "../../src/config/index.js";
import { Identity } from "../../src/identity/index.js";
import type { Chat, HermesClient } from "../../src/sdk/index.js";
import { chatBetween, collect, newApp, startTestNode, until } from "./harness.js";

type TestNode = Awaited<ReturnType<typeof startTestNode>>;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** Fast timers so membership settles in test time. */
const fastMembership = {
  ...defaultConfig().mesh.membership,
  probeIntervalMs: 200,
  probeTimeoutMs: 100,
  suspicionMult: 2,
  pushPullIntervalMs: 2000,
  gossipIntervalMs: 50,
  syncTimeoutMs: 2000,
};

async function meshNode(peers: string[] = []): Promise<TestNode> {
  const node = await startTestNode({
    mesh: {
      ...defaultConfig().mesh,
      listen: "127.0.0.1:0",
      advertise: "127.0.0.1:0",
      insecure: true,
      peers,
      discoveryIntervalMs: 500,
      tielineGraceMs: 500,
      membership: fastMembership,
    },
  });
  cleanups.push(() => node.cleanup());
  return node;
}

function app(endpoint: string, identity?: Identity): HermesClient {
  const client = newApp(endpoint, identity);
  cleanups.push(() => client.close());
  return client;
}

const meshAddress = (n: TestNode) => `127.0.0.1:${n.meshPort}`;
const alive = (n: TestNode) => n.mesh!.membership.members().filter((m) => m.state === "alive").length;

async function cluster(size: number): Promise<TestNode[]> {
  const first = await meshNode();
  const rest = await Promise.all(Array.from({ length: size - 1 }, () => meshNode([meshAddress(first)])));
  const nodes = [first, ...rest];
  await until(() => nodes.every((n) => alive(n) === size), 10_000, `${size} members alive everywhere`);
  return nodes;
}

describe("mesh of in-process nodes", () => {
  it("joins through a seed and converges on membership", async () => {
    const nodes = await cluster(3);
    for (const n of nodes) expect(n.mesh!.isJoined).toBe(true);
    const metrics = await nodes[2]!.metrics.text();
    expect(metrics).toMatch(/hermes_mesh_members\{state="alive"\} 3/);
    expect(metrics).toMatch(/hermes_mesh_join_attempts_total\{result="ok"\} [1-9]/);
  });

  it("relays a chat between apps on different nodes, in order, with end-to-end acks", async () => {
    const [n1, n2] = await cluster(2);
    const a = app(n1!.endpoint);
    const b = app(n2!.endpoint);
    await Promise.all([a.connect(), b.connect()]);
    await until(() => n1!.mesh!.locate(b.appId) !== undefined, 5000, "b in n1's routing table");
    expect((await a.findApp(b.appId)).nodeId).toBe(n2!.nodeId);
    const [ab, ba] = await chatBetween(a, b);
    const count = 200;
    const atB = collect(ba, count);
    const atA = collect(ab, count);
    const sends: Promise<void>[] = [];
    for (let i = 1; i <= count; i++) sends.push(ab.send(`a${i}`), ba.send(`b${i}`));
    await Promise.all(sends);
    expect(await atB).toEqual(Array.from({ length: count }, (_, i) => `a${i + 1}`));
    expect(await atA).toEqual(Array.from({ length: count }, (_, i) => `b${i + 1}`));
    expect(await n2!.metrics.text()).toMatch(/hermes_messages_relayed_total\{scope="mesh"\} (\d+)/);
    expect(n1!.router.stats().chats.ready).toBe(1);
    expect(n2!.router.stats().chats.ready).toBe(1);
  });

  it("deletes a cross-node chat on both nodes", async () => {
    const [n1, n2] = await cluster(2);
    const a = app(n1!.endpoint);
    const b = app(n2!.endpoint);
    await Promise.all([a.connect(), b.connect()]);
    await until(() => n1!.mesh!.locate(b.appId) !== undefined, 5000, "route to b");
    const [ab, ba] = await chatBetween(a, b);
    const ended = Promise.all([endOf(ab), endOf(ba)]);
    ab.delete();
    expect(await ended).toEqual([
      approuter.ChatEndReason.CHAT_END_REASON_DELETED,
      approuter.ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER,
    ]);
    await until(
      () => n1!.router.stats().chats.ready === 0 && n2!.router.stats().chats.ready === 0,
      2000,
      "chat gone on both nodes",
    );
  });

  it("keeps a chat when the peer's node stops: the peer fails over, resumes it, and nothing is lost or repeated", async () => {
    const [n1, n2, n3] = await cluster(3);
    const a = app(n1!.endpoint);
    const b = app(n2!.endpoint);
    await Promise.all([a.connect(), b.connect()]);
    await until(() => n1!.mesh!.locate(b.appId) !== undefined, 5000, "route to b");
    const [ab, ba] = await chatBetween(a, b);
    let ended = false;
    ab.once("ended", () => {
      ended = true;
    });
    const count = 60;
    const atB = collect(ba, count, 20_000);
    const atA = collect(ab, count, 20_000);
    const sends: Promise<void>[] = [];
    for (let i = 1; i <= count / 2; i++) sends.push(ab.send(`a${i}`), ba.send(`b${i}`));
    await n2!.stop(); // graceful: it leaves; b fails over to a node it was told of
    for (let i = count / 2 + 1; i <= count; i++) sends.push(ab.send(`a${i}`), ba.send(`b${i}`));
    await Promise.all(sends);
    expect(await atB).toEqual(Array.from({ length: count }, (_, i) => `a${i + 1}`));
    expect(await atA).toEqual(Array.from({ length: count }, (_, i) => `b${i + 1}`));
    expect(ended).toBe(false);
    expect([n1!.nodeId, n3!.nodeId]).toContain(b.nodeId);
    await until(() => n1!.mesh!.locate(b.appId)?.nodeId !== n2!.nodeId, 5000, "route to b moved");
  });

  it("ends the chat for the peer when an app comes back on another node without it (a new process)", async () => {
    const [n1, n2, n3] = await cluster(3);
    const a = app(n1!.endpoint);
    const identity = Identity.generate();
    const b = app(n2!.endpoint, identity);
    await Promise.all([a.connect(), b.connect()]);
    await until(() => n1!.mesh!.locate(b.appId)?.nodeId === n2!.nodeId, 5000, "route to b on n2");
    const [ab] = await chatBetween(a, b);
    const ended = endOf(ab);
    await b.close();
    const moved = app(n3!.endpoint, Identity.fromSecretKey(identity.exportSecretKey()));
    await moved.connect();
    expect(await ended).toBe(approuter.ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE);
    await until(() => n2!.router.stats().chats.ready === 0, 5000, "n2's copy gone");
    await until(() => n1!.mesh!.locate(moved.appId)?.nodeId === n3!.nodeId, 5000, "route to b on n3");
    const [again, there] = await chatBetween(a, moved);
    const got = collect(there, 1);
    await again.send("found you");
    expect(await got).toEqual(["found you"]);
  });

  it("answers find-app for an app on another node and refuses an unknown one", async () => {
    const [n1, n2] = await cluster(2);
    const a = app(n1!.endpoint);
    const b = app(n2!.endpoint);
    await Promise.all([a.connect(), b.connect()]);
    await until(() => n1!.mesh!.locate(b.appId) !== undefined, 5000, "route to b");
    const found = await a.findApp(b.appId);
    expect(found).toMatchObject({ online: true, nodeId: n2!.nodeId, appEndpoint: n2!.endpoint });
    await expect(a.startChat("a".repeat(32))).rejects.toThrow(/UNKNOWN_APP/);
  });

  it("serves /mesh/members and /mesh/routes", async () => {
    const [n1, n2] = await cluster(2);
    const b = app(n2!.endpoint);
    await b.connect();
    await until(() => n1!.mesh!.locate(b.appId) !== undefined, 5000, "route to b");
    const admin = `http://127.0.0.1:${n1!.adminPort}`;
    const members = (await (await fetch(`${admin}/mesh/members`)).json()) as {
      nodeId: string;
      state: string;
    }[];
    expect(members.map((m) => m.nodeId).sort()).toEqual([n1!.nodeId, n2!.nodeId].sort());
    expect(members.every((m) => m.state === "alive")).toBe(true);
    const routes = (await (await fetch(`${admin}/mesh/routes`)).json()) as {
      nodes: { nodeId: string; apps: { appId: string }[] }[];
    };
    const ofN2 = routes.nodes.find((n) => n.nodeId === n2!.nodeId);
    expect(ofN2?.apps.map((x) => x.appId)).toEqual([b.appId]);
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
  });
});

function endOf(chat: Chat): Promise<approuter.ChatEndReason> {
  return new Promise((resolve) => chat.once("ended", resolve));
}
