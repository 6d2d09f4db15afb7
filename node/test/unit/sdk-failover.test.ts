import { approuter } from "@hermes/proto";
import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import type { Chat } from "../../src/sdk/chat.js";
import { type ClientOptions, HermesClient, type IncomingOffer } from "../../src/sdk/client.js";
import { NodeError, type NodeUnreachableError } from "../../src/sdk/errors.js";
import { FakeClock } from "../../src/utils/fake-clock.js";
import { AppStreams, endpointOf } from "../support/app-streams.js";
import { proofFor } from "../support/frames.js";
import { FakeMesh, type MeshNode, settle } from "../support/mesh-link.js";

/**
 * The SDK's side of chats that outlive their nodes, under a fake clock: real routers in a
 * FakeMesh, app streams in memory (AppStreams), nodes killed, silenced and restarted.
 */

const { ErrorCode } = approuter;

interface World {
  mesh: FakeMesh;
  streams: AppStreams;
  clock: FakeClock;
  nodes: MeshNode[];
  client(node: MeshNode, options?: Partial<ClientOptions>): HermesClient;
  /** Runs what is due in `ms` of fake time, and every frame that follows from it. */
  tick(ms?: number): Promise<void>;
  /** Ticks in `stepMs` steps until `done()`, at most `maxMs` of fake time. */
  until(done: () => boolean, maxMs?: number, stepMs?: number): Promise<void>;
}

function world(size: number): World {
  const mesh = new FakeMesh();
  const nodes = Array.from({ length: size }, () => mesh.node());
  const streams = new AppStreams().add(...nodes);
  const clock = new FakeClock();
  const tick = async (ms = 0) => {
    clock.advance(ms);
    for (let i = 0; i < 8; i++) await settle();
  };
  return {
    mesh,
    streams,
    clock,
    nodes,
    client: (node, options = {}) =>
      new HermesClient({
        endpoint: endpointOf(node),
        identity: Identity.generate(),
        clock,
        open: streams.open,
        ...options,
      }),
    tick,
    async until(done, maxMs = 30_000, stepMs = 50) {
      for (let waited = 0; !done(); waited += stepMs) {
        if (waited > maxMs) throw new Error(`not done after ${maxMs} ms of fake time`);
        await tick(stepMs);
      }
    },
  };
}

async function connected(w: World, ...clients: HermesClient[]): Promise<void> {
  const done = Promise.all(clients.map((c) => c.connect()));
  await w.tick();
  await done;
}

/** a starts a chat with b, which accepts every offer. */
async function chat(w: World, a: HermesClient, b: HermesClient): Promise<[Chat, Chat]> {
  const theirs = new Promise<Chat>((resolve) => b.once("chat", resolve));
  b.on("offer", (offer) => void offer.accept().catch(() => undefined));
  const mine = a.startChat(b.appId);
  await w.tick();
  return [await mine, await theirs];
}

function received(chat: Chat): string[] {
  const got: string[] = [];
  chat.on("message", (m) => got.push(m.text()));
  return got;
}

describe("SDK failover", () => {
  it("fails over to a node named in ConnectAck when its node dies, resumes the chat, and delivers every message once", async () => {
    const w = world(3);
    const [A, B] = w.nodes as [MeshNode, MeshNode, MeshNode];
    const a = w.client(A);
    const b = w.client(B);
    await connected(w, a, b);
    const [ab, ba] = await chat(w, a, b);
    const atB = received(ba);
    const sends = Array.from({ length: 10 }, (_, i) => ab.send(`m${i + 1}`));
    await w.tick();
    await Promise.all(sends);

    w.streams.kill(B);
    w.mesh.lose(B);
    for (let i = 11; i <= 20; i++) sends.push(ab.send(`m${i}`));
    await w.until(() => b.isConnected && b.nodeId !== B.nodeId);
    await w.until(() => atB.length === 20);
    await Promise.all(sends);
    expect(atB).toEqual(Array.from({ length: 20 }, (_, i) => `m${i + 1}`));
    expect(b.nodeId).toBe(A.nodeId); // the node it was told of, where its peer is
    expect([ab.ended, ba.ended]).toEqual([false, false]);
    // Once at the dead node, then on to the next.
    expect(w.streams.dials.slice(-2)).toEqual([endpointOf(B), endpointOf(A)]);
  });

  it("goes to another node first when its node sends it away (cut off from the mesh)", async () => {
    const w = world(3);
    const [A, B] = w.nodes as [MeshNode, MeshNode, MeshNode];
    const a = w.client(A);
    const b = w.client(B);
    await connected(w, a, b);
    const [ab, ba] = await chat(w, a, b);
    const atB = received(ba);
    A.router.sendAway("cut off from the rest of the mesh");
    await w.until(() => a.isConnected && a.nodeId !== A.nodeId);
    expect(w.streams.dials.at(-1)).not.toBe(endpointOf(A));
    await ab.send("from elsewhere");
    await w.until(() => atB.length === 1);
    expect(atB).toEqual(["from elsewhere"]);
  });

  it("leaves a node that stopped answering while the app waited on it, sooner than HTTP/2 pings tell, and not for it again", async () => {
    const w = world(3);
    const [A, B] = w.nodes as [MeshNode, MeshNode, MeshNode];
    const a = w.client(A);
    const b = w.client(B);
    await connected(w, a, b);
    const [ab, ba] = await chat(w, a, b);
    const atB = received(ba);
    const dialled = w.streams.dials.length;
    w.streams.silence(A);
    const from = w.clock.now();
    const sent = ab.send("while A stood still");
    await w.until(() => a.isConnected && a.nodeId !== A.nodeId, 10_000, 50);
    // A quiet second, a heartbeat, keepalive.timeoutMs (2 s) without an answer, one backoff.
    expect(w.clock.now() - from).toBeLessThan(3000 + 2000);
    expect(w.streams.dials.slice(dialled)).toHaveLength(1);
    expect(w.streams.dials[dialled]).not.toBe(endpointOf(A));
    await sent;
    await w.until(() => atB.length === 1);
    expect(atB).toEqual(["while A stood still"]);
  });

  it("an idle app whose node goes quiet learns it from the HTTP/2 keep-alive, then tries that node once more", async () => {
    const w = world(2);
    const [A, B] = w.nodes as [MeshNode, MeshNode];
    const a = w.client(A, { endpoints: [endpointOf(B)] });
    await connected(w, a);
    const dialled = w.streams.dials.length;
    w.streams.silence(A);
    await w.tick(5000);
    expect(a.isConnected).toBe(true); // nothing asked of the node, nothing noticed yet
    w.streams.keepaliveFails(A);
    await w.until(() => a.isConnected, 10_000, 50);
    expect(a.nodeId).toBe(B.nodeId);
    expect(w.streams.dials.slice(dialled)).toEqual([endpointOf(A), endpointOf(B)]);
  });

  it("an app sent away by a cut-off node resumes where its peer is, and the chat flows both ways again", async () => {
    const w = world(2);
    const [A, B] = w.nodes as [MeshNode, MeshNode];
    const a = w.client(A);
    const b = w.client(B);
    await connected(w, a, b);
    const [ab, ba] = await chat(w, a, b);
    const [atA, atB] = [received(ab), received(ba)];
    await Promise.all([1, 2, 3].flatMap((i) => [ab.send(`a${i}`), ba.send(`b${i}`)]));
    // a's stream to A breaks once and a resumes there: A holds a resume of a's, signed for A.
    w.streams.kill(A);
    w.streams.revive(A);
    await w.until(() => a.isConnected && a.nodeId === A.nodeId);
    // The cut, first one way: a's messages still reach b, nothing (b's acks, b's messages)
    // comes back; then both ways. Both apps keep sending.
    w.mesh.drop = (from) => from === B.nodeId;
    const sends = [4, 5, 6, 7].flatMap((i) => [ab.send(`a${i}`), ba.send(`b${i}`)]);
    await w.tick(100);
    expect(atB).toEqual(["a1", "a2", "a3", "a4", "a5", "a6", "a7"]);
    w.mesh.drop = (from, to) => from === A.nodeId || to === A.nodeId;
    A.router.sendAway("cut off from the rest of the mesh");
    await w.until(() => a.isConnected && a.nodeId === B.nodeId);
    await w.until(() => atA.length === 7 && atB.length === 7, 30_000);
    await Promise.all(sends);
    // The cut heals: A's stale copy speaks up, and must not take the chat back from B.
    w.mesh.drop = undefined;
    w.mesh.tielinesUp(A);
    await w.tick(100);
    const after = [8, 9].flatMap((i) => [ab.send(`a${i}`), ba.send(`b${i}`)]);
    await w.until(() => atA.length === 9 && atB.length === 9, 30_000);
    await Promise.all(after);
    expect(atA).toEqual(["b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"]);
    expect(atB).toEqual(["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"]);
  });

  it("tries the next endpoint when one does not answer within connectTimeoutMs", async () => {
    const w = world(2);
    const [A, B] = w.nodes as [MeshNode, MeshNode];
    w.streams.silence(A);
    const a = w.client(A, { endpoints: [endpointOf(B)], connectTimeoutMs: 3000 });
    const ready = a.connect();
    await w.tick(2999);
    expect(a.isConnected).toBe(false);
    await w.until(() => a.isConnected, 5000);
    await ready;
    expect(a.nodeId).toBe(B.nodeId);
  });

  it("tells the app within unreachableAfterMs, rejects pending sends as queued, and sends them once when a node is back", async () => {
    const w = world(1);
    const [A] = w.nodes as [MeshNode];
    const a = w.client(A, { unreachableAfterMs: 10_000 });
    const b = w.client(A);
    await connected(w, a, b);
    const [ab, ba] = await chat(w, a, b);
    const atB = received(ba);
    await A.store.flush();
    w.streams.kill(A);
    await w.tick();
    const unreachable: NodeUnreachableError[] = [];
    a.on("unreachable", (error) => unreachable.push(error));
    const pending = ab.send("kept").catch((e: unknown) => e);
    const acked: number[] = [];
    ab.on("acked", (seq) => acked.push(seq));
    await w.tick(9_900);
    expect(unreachable).toEqual([]);
    await w.tick(200);
    expect(unreachable).toHaveLength(1);
    expect(await pending).toMatchObject({ name: "NodeUnreachableError", queued: true, chatId: ab.id });
    await expect(ab.send("refused")).rejects.toMatchObject({ queued: false });

    // The node restarts on the same address, with its records: both apps come back.
    const A2 = w.mesh.restart(A);
    w.streams.revive(A2);
    await w.until(() => a.isConnected && b.isConnected);
    await w.until(() => atB.length === 1);
    expect(atB).toEqual(["kept"]);
    await w.until(() => acked.length === 1);
    expect(acked).toEqual([1]);
    await ab.send("after");
    expect(atB).toEqual(["kept", "after"]);
  });
});

describe("offers and errors around a node loss (D3, D4)", () => {
  it("fails a startChat at once when the node it was made on is gone, instead of at the timeout", async () => {
    const w = world(2);
    const [A, B] = w.nodes as [MeshNode, MeshNode];
    const a = w.client(A, { timeoutMs: 60_000 });
    const b = w.client(B);
    await connected(w, a, b);
    w.mesh.paused = true; // the offer stays on its way to B
    const started = a.startChat(b.appId).catch((e: unknown) => e);
    await w.tick();
    w.streams.kill(A);
    w.mesh.lose(A);
    let outcome: unknown;
    void started.then((e) => {
      outcome = e;
    });
    await w.until(() => outcome !== undefined, 5000);
    const error = outcome;
    expect(error).toBeInstanceOf(NodeError);
    expect(error).toMatchObject({ code: ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE });
    expect(String((error as Error).message)).toMatch(/start the chat again/);
  });

  it("lets an answer the node could not take now be given again", async () => {
    const w = world(2);
    const [A, B] = w.nodes as [MeshNode, MeshNode];
    const a = w.client(A);
    const b = w.client(B);
    await connected(w, a, b);
    const offers: IncomingOffer[] = [];
    b.on("offer", (offer) => offers.push(offer));
    const started = a.startChat(b.appId);
    await w.tick();
    expect(offers).toHaveLength(1);
    B.link.up = false; // B's tieline to A is down
    await expect(offers[0]!.accept()).rejects.toMatchObject({ code: ErrorCode.ERROR_CODE_ROUTE_UNAVAILABLE });
    B.link.up = true;
    const accepted = offers[0]!.accept();
    await w.tick();
    const [mine, theirs] = await Promise.all([started, accepted]);
    expect(mine.id).toBe(theirs.id);
  });

  it("drops refusals of frames that were on their way when the chat ended", async () => {
    const w = world(1);
    const [A] = w.nodes as [MeshNode];
    const a = w.client(A);
    const b = w.client(A);
    await connected(w, a, b);
    const [ab, ba] = await chat(w, a, b);
    const errors: Error[] = [];
    a.on("error", (e) => errors.push(e));
    ab.on("error", (e) => errors.push(e));
    ba.delete();
    const late = Array.from({ length: 5 }, (_, i) => ab.send(`late ${i}`).catch((e: unknown) => e));
    await w.tick();
    expect(ab.ended).toBe(true);
    for (const outcome of await Promise.all(late)) expect(outcome).toMatchObject({ name: "ChatEndedError" });
    expect(errors).toEqual([]);
  });
});

describe("SDK after SessionClosed{REPLACED}", () => {
  /** Errors the client reports, and whether it closed itself. */
  function watch(client: HermesClient) {
    const errors: string[] = [];
    client.on("error", (e) => errors.push(e.message));
    return errors;
  }

  it("reconnects when the Connect shown is not its own key's, and its chat goes on", async () => {
    const w = world(3);
    const [A, B, C] = w.nodes as [MeshNode, MeshNode, MeshNode];
    const a = w.client(A);
    const b = w.client(B);
    await connected(w, a, b);
    const [ab, ba] = await chat(w, a, b);
    const atB = received(ba);
    const errors = watch(a);
    const dialled = w.streams.dials.length;
    // A node that believed a lie closes a's session with some other app's Connect to C.
    const someone = Identity.generate();
    const lost = new Promise<string>((resolve) => a.once("disconnected", resolve));
    A.router.appLocated(a.appId, C.nodeId, proofFor(someone, C.nodeId, w.clock.now() + 1));
    await w.tick();
    expect(await lost).toMatch(/^session replaced by a Connect this app did not sign .*; reconnecting$/);
    expect(a.isConnected).toBe(false);
    await w.until(() => a.isConnected);
    expect(a.nodeId).toBe(A.nodeId); // once more where it was, as after any lost session
    expect(w.streams.dials.slice(dialled)).toEqual([endpointOf(A)]);
    expect(errors).toEqual([]);
    const sent = ab.send("still here");
    await w.until(() => atB.length === 1);
    await sent;
    expect(atB).toEqual(["still here"]);
  });

  it("reconnects when the Connect shown is one it made itself and left (an attempt a node took late)", async () => {
    const w = world(2);
    const [A, B] = w.nodes as [MeshNode, MeshNode];
    const a = w.client(B, { endpoints: [endpointOf(A)] });
    await connected(w, a);
    const leftAtB = B.link.lastConnects.get(a.appId)!;
    w.streams.kill(B);
    w.mesh.lose(B);
    await w.until(() => a.isConnected && a.nodeId === A.nodeId);
    const errors = watch(a);
    A.router.appLocated(a.appId, B.nodeId, leftAtB);
    await w.tick();
    await w.until(() => a.isConnected);
    expect(a.nodeId).toBe(A.nodeId);
    expect(errors).toEqual([]);
  });

  it("stops when another process with its key connected after it, as that Connect proves", async () => {
    const w = world(2);
    const [A, B] = w.nodes as [MeshNode, MeshNode];
    const identity = Identity.generate();
    const first = w.client(A, { identity });
    await connected(w, first);
    const errors = watch(first);
    await w.tick(10);
    const second = w.client(B, { identity: Identity.fromSecretKey(identity.exportSecretKey()) });
    await connected(w, second);
    const dialled = w.streams.dials.length;
    // B's directory delta reaches A: the app connected there, after it connected here.
    A.router.appLocated(first.appId, B.nodeId, B.link.lastConnects.get(first.appId)!);
    await w.tick(5000);
    expect(first.isConnected).toBe(false);
    expect(errors).toEqual([expect.stringMatching(/^session replaced: the app connected to node/)]);
    expect(w.streams.dials.slice(dialled)).toEqual([]); // it does not fight the other process
    expect(second.isConnected).toBe(true);
  });
});
