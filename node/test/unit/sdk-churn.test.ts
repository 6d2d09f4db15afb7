import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import type { Chat } from "../../src/sdk/chat.js";
import { HermesClient } from "../../src/sdk/client.js";
import { FakeClock, seededRandom } from "../../src/utils/fake-clock.js";
import { AppStreams, endpointOf } from "../support/app-streams.js";
import { FakeMesh, type MeshNode, settle } from "../support/mesh-link.js";

/**
 * Churn under a fake clock: four chats across three nodes with messages flowing both ways while
 * nodes stop gracefully, crash (declared dead or back at once) or are cut off and heal, each
 * seed its own schedule. Every message must arrive once, in order, however the apps moved.
 */
describe("chats under churn", () => {
  for (let seed = 1; seed <= 40; seed++)
    it(`schedule ${seed}: every message delivered once, in order`, async () => {
      const random = seededRandom(seed);
      const mesh = new FakeMesh();
      let nodes = [mesh.node(), mesh.node(), mesh.node()] as MeshNode[];
      const streams = new AppStreams().add(...nodes);
      const clock = new FakeClock();
      let sinceSweep = 0;
      const tick = async (ms = 0) => {
        clock.advance(ms);
        sinceSweep += ms;
        if (sinceSweep >= 5000) {
          sinceSweep = 0;
          for (const n of nodes) n.router.sweep();
        }
        for (let i = 0; i < 8; i++) await settle();
      };
      const client = (node: MeshNode) =>
        new HermesClient({
          endpoint: endpointOf(node),
          endpoints: nodes.map(endpointOf),
          identity: Identity.generate(),
          clock,
          open: streams.open,
        });
      const pairs: {
        a: HermesClient;
        b: HermesClient;
        ab: Chat;
        ba: Chat;
        atA: string[];
        atB: string[];
        sent: number;
      }[] = [];
      for (let p = 0; p < 4; p++) {
        const a = client(nodes[Math.floor(random() * 3)]!);
        const b = client(nodes[Math.floor(random() * 3)]!);
        const c = Promise.all([a.connect(), b.connect()]);
        await tick();
        await c;
        b.on("offer", (o) => void o.accept().catch(() => undefined));
        const theirs = new Promise<Chat>((r) => b.once("chat", r));
        const mine = a.startChat(b.appId);
        for (let i = 0; i < 10; i++) await tick(10);
        const ab = await mine;
        const ba = await theirs;
        const atA: string[] = [];
        const atB: string[] = [];
        ab.on("message", (m) => atA.push(m.text()));
        ba.on("message", (m) => atB.push(m.text()));
        pairs.push({ a, b, ab, ba, atA, atB, sent: 0 });
      }
      const sendAll = () => {
        for (const p of pairs) {
          p.sent++;
          void p.ab.send(`a${p.sent}`).catch(() => undefined);
          void p.ba.send(`b${p.sent}`).catch(() => undefined);
        }
      };
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 5; i++) {
          sendAll();
          await tick(100);
        }
        const victim = nodes[Math.floor(random() * 3)]!;
        const kind = Math.floor(random() * 4);
        if (kind === 3) {
          // Cut off: nothing passes to or from it; it sends its apps away; later the cut heals.
          mesh.drop = (from, to) => from === victim.nodeId || to === victim.nodeId;
          victim.router.sendAway("cut off");
          for (let i = 0; i < 5; i++) {
            sendAll();
            await tick(100);
          }
          mesh.drop = undefined;
          mesh.tielinesUp(victim);
        } else {
          if (kind === 0) victim.router.shutdown();
          streams.kill(victim);
          if (kind !== 2) mesh.lose(victim);
          for (let i = 0; i < 5; i++) {
            sendAll();
            await tick(100);
          }
          const fresh = mesh.restart(victim);
          streams.revive(fresh);
          nodes = nodes.map((n) => (n === victim ? fresh : n));
        }
        for (let i = 0; i < 5; i++) {
          sendAll();
          await tick(100);
        }
      }
      for (let i = 0; i < 200; i++) await tick(100);
      for (const [k, p] of pairs.entries()) {
        const want = (x: string) => Array.from({ length: p.sent }, (_, i) => `${x}${i + 1}`);
        expect([k, p.atB.length, p.atA.length]).toEqual([k, p.sent, p.sent]);
        expect(p.atB).toEqual(want("a"));
        expect(p.atA).toEqual(want("b"));
      }
    });
});
