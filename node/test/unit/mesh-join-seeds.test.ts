import { describe, expect, it } from "vitest";
import { JOIN_FANOUT, joinSeeds } from "../../src/mesh/join-seeds.js";
import { defaultMembershipConfig } from "../../src/mesh/membership/config.js";
import { FakeClock } from "../../src/utils/fake-clock.js";

/** A seed answers after `ms` and its answer makes `brings` members; `dead` never answers. */
type Seed = { ms: number; brings?: string[] } | "dead";

/** Seeds on a fake clock: a dead one holds its join until membership gives up, as it does. */
function seeds(plan: Record<string, Seed>) {
  const clock = new FakeClock();
  const start = clock.now();
  const members = new Set<string>();
  const asked = new Map<string, number>();
  let inFlight = 0;
  let mostInFlight = 0;
  let finished: number | undefined;
  const port = {
    isMember: (address: string) => members.has(address),
    join: (address: string) =>
      new Promise<number>((resolve) => {
        asked.set(address, clock.now() - start);
        mostInFlight = Math.max(mostInFlight, ++inFlight);
        const seed = plan[address]!;
        const ms = seed === "dead" ? defaultMembershipConfig.syncTimeoutMs : seed.ms;
        clock.setTimeout(() => {
          if (seed !== "dead") for (const m of seed.brings ?? []) members.add(m);
          inFlight--;
          resolve(seed === "dead" ? 0 : 1);
        }, ms);
      }),
  };
  const run = (addresses: string[]) =>
    joinSeeds(addresses, port).then(() => {
      finished = clock.now() - start;
    });
  /** Moves fake time to `ms` after the start in 1 ms steps, letting settled joins run on. */
  const until = async (ms: number) => {
    while (clock.now() - start < ms) {
      clock.advance(1);
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { run, until, asked, members, mostInFlight: () => mostInFlight, finished: () => finished };
}

const addr = (i: number) => `10.0.0.${i}:7401`;
const addresses = (n: number) => Array.from({ length: n }, (_, i) => addr(i));

describe("joining through seeds (fake clock)", () => {
  it("asks three seeds at once, the next as soon as one answers, and skips those the answers made members", async () => {
    const all = addresses(10);
    const s = seeds({
      ...Object.fromEntries(all.map((a) => [a, { ms: 100 }])),
      // The first answer brings the whole mesh but the node across a partition.
      [addr(0)]: { ms: 40, brings: all.slice(0, 9) },
      [addr(1)]: { ms: 300 },
      [addr(2)]: { ms: 500 },
    });
    void s.run(all);
    await s.until(1);
    expect([...s.asked]).toEqual([
      [addr(0), 0],
      [addr(1), 0],
      [addr(2), 0],
    ]);
    await s.until(1000);
    // Seeds 3..8 became members with the first answer and are not asked; the far side still is,
    // the moment the first seed finished.
    expect([...s.asked]).toEqual([
      [addr(0), 0],
      [addr(1), 0],
      [addr(2), 0],
      [addr(9), 40],
    ]);
    expect(s.mostInFlight()).toBe(JOIN_FANOUT);
    expect(s.finished()).toBe(500);
  });

  it("never has more than three joins in flight, refilling each freed slot at once", async () => {
    const all = addresses(8);
    const ms = [60, 10, 37, 20, 5, 40, 15, 25];
    const s = seeds(Object.fromEntries(all.map((a, i) => [a, { ms: ms[i]! }])));
    void s.run(all);
    await s.until(200);
    // Each seed is asked the moment one in flight finishes: at 10 (seed 1), 30 (seed 3, asked
    // at 10), 35 (seed 4), 37 (seed 2) and 52 (seed 6); the slowest, seed 7, ends at 77.
    expect(Object.fromEntries(s.asked)).toEqual({
      [addr(0)]: 0,
      [addr(1)]: 0,
      [addr(2)]: 0,
      [addr(3)]: 10,
      [addr(4)]: 30,
      [addr(5)]: 35,
      [addr(6)]: 37,
      [addr(7)]: 52,
    });
    expect(s.mostInFlight()).toBe(JOIN_FANOUT);
    expect(s.finished()).toBe(77);
  });

  it("dead seeds do not stall the join: the live ones are asked and answer meanwhile", async () => {
    const all = addresses(6);
    const s = seeds({
      [addr(0)]: "dead",
      [addr(1)]: "dead",
      [addr(2)]: { ms: 5 }, // refused at once
      [addr(3)]: { ms: 20, brings: all.slice(3) },
      [addr(4)]: { ms: 20 },
      [addr(5)]: { ms: 20 },
    });
    void s.run(all);
    await s.until(100);
    // Joined through the fourth seed 25 ms in, while the two dead ones still hold their slots.
    expect(Object.fromEntries(s.asked)).toEqual({ [addr(0)]: 0, [addr(1)]: 0, [addr(2)]: 0, [addr(3)]: 5 });
    expect([...s.members].sort()).toEqual(all.slice(3));
    expect(s.finished()).toBeUndefined();
    await s.until(defaultMembershipConfig.syncTimeoutMs + 100);
    // Done when membership gives up on the dead ones, with nothing else asked.
    expect(s.asked.size).toBe(4);
    expect(s.finished()).toBe(defaultMembershipConfig.syncTimeoutMs);
  });
});
