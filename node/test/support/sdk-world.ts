import { Identity } from "../../src/identity/index.js";
import type { Chat } from "../../src/sdk/chat.js";
import { type ClientOptions, HermesClient } from "../../src/sdk/client.js";
import { FakeClock } from "../../src/utils/fake-clock.js";
import { AppStreams, endpointOf } from "./app-streams.js";
import { FakeMesh, type MeshNode, settle } from "./mesh-link.js";

/**
 * SDK clients on a FakeMesh under one fake clock: real routers, app streams in memory
 * (AppStreams), nodes that can be killed, silenced and restarted.
 */
export interface World {
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

export function world(size: number): World {
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

export async function connected(w: World, ...clients: HermesClient[]): Promise<void> {
  const done = Promise.all(clients.map((c) => c.connect()));
  await w.tick();
  await done;
}

/** a starts a chat with b, which accepts every offer. */
export async function chat(w: World, a: HermesClient, b: HermesClient): Promise<[Chat, Chat]> {
  const theirs = new Promise<Chat>((resolve) => b.once("chat", resolve));
  b.on("offer", (offer) => void offer.accept().catch(() => undefined));
  const mine = a.startChat(b.appId);
  await w.tick();
  return [await mine, await theirs];
}

export function received(chat: Chat): string[] {
  const got: string[] = [];
  chat.on("message", (m) => got.push(m.text()));
  return got;
}
