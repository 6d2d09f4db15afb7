import { describe, expect, it } from "vitest";
import type { MembershipMessage } from "../../src/mesh/membership/index.js";
import { InMemoryNetwork, Simulation } from "../../src/mesh/membership/testing.js";
import { FakeClock, seededRandom } from "../../src/utils/fake-clock.js";

const gossip: MembershipMessage = { type: "gossip", updates: [] };

describe("membership test doubles", () => {
  it("seededRandom is deterministic and uniform-ish", () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
  });

  it("InMemoryNetwork delivers with per-link delay, blocks and heals, and copies messages", () => {
    const clock = new FakeClock(0);
    const net = new InMemoryNetwork(clock, { delayMs: 5 });
    const got: [string, string, number][] = [];
    for (const addr of ["a", "b", "c"]) net.register(addr, (from) => got.push([from, addr, clock.now()]));
    net.setLink("a", "c", { delayMs: 50 });
    const msg: MembershipMessage = { type: "ack", seq: 1, updates: [] };
    net.transportFor("a").send({ address: "b" }, msg);
    net.transportFor("a").send({ address: "c" }, msg);
    net.partition(["b"]);
    net.transportFor("a").send({ address: "b" }, gossip);
    net.transportFor("c").send({ address: "b" }, gossip);
    clock.advance(100);
    expect(got).toEqual([
      ["a", "b", 5],
      ["a", "c", 50],
    ]);
    expect(net.stats("a")).toEqual({ sent: 3, delivered: 2, dropped: 1 });
    net.heal();
    net.transportFor("c").send({ address: "b" }, gossip);
    net.transportFor("c").send({ address: "nobody" }, gossip);
    clock.advance(10);
    expect(got.at(-1)).toEqual(["c", "b", 105]);
    expect(net.totals).toEqual({ sent: 6, delivered: 3, dropped: 3 });
  });

  it("drops messages at the configured rate", () => {
    const clock = new FakeClock(0);
    const net = new InMemoryNetwork(clock, { dropRate: 0.3, random: seededRandom(9) });
    let n = 0;
    net.register("b", () => n++);
    for (let i = 0; i < 2000; i++) net.transportFor("a").send({ address: "b" }, gossip);
    clock.advance(10);
    expect(n / 2000).toBeGreaterThan(0.65);
    expect(n / 2000).toBeLessThan(0.75);
  });

  it("a frozen node's timers and inbound messages run late, in order, when it thaws", () => {
    const clock = new FakeClock(0);
    const net = new InMemoryNetwork(clock);
    const log: string[] = [];
    net.register("b", () => log.push(`msg@${clock.now()}`));
    const bClock = net.clockFor("b");
    bClock.setTimeout(() => log.push(`timer@${clock.now()}`), 10);
    const cancel = bClock.setTimeout(() => log.push("never"), 20);
    net.freeze("b", 100);
    net.transportFor("a").send({ address: "b" }, gossip);
    clock.advance(50);
    cancel(); // cleared while already fired into the backlog
    expect(log).toEqual([]);
    clock.advance(50);
    expect(log).toEqual(["msg@100", "timer@100"]);
  });

  it("a node crashed while frozen never processes its backlog", async () => {
    const sim = new Simulation({ seed: 2 });
    const [a, b] = await sim.startCluster(2);
    sim.network.freeze(b!.address);
    sim.clock.advance(2000);
    const received = b!.membership.counters().messagesReceived;
    sim.kill(b!);
    sim.network.thaw(b!.address);
    expect(b!.membership.counters().messagesReceived).toBe(received);
    expect(a!.membership.isStopped).toBe(false);
  });
});
