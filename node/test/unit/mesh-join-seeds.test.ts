import { describe, expect, it } from "vitest";
import { JOIN_FANOUT, joinSeeds } from "../../src/mesh/join-seeds.js";

/** Join attempts the test settles by hand, and the members their answers bring. */
function seeds() {
  const members = new Set<string>();
  const attempts = new Map<string, (brings: string[]) => void>();
  let inFlight = 0;
  let mostInFlight = 0;
  const port = {
    isMember: (address: string) => members.has(address),
    join: (address: string) =>
      new Promise<void>((resolve) => {
        inFlight++;
        mostInFlight = Math.max(mostInFlight, inFlight);
        attempts.set(address, (brings) => {
          for (const m of brings) members.add(m);
          inFlight--;
          resolve();
        });
      }),
  };
  return { port, attempts, members, mostInFlight: () => mostInFlight };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("joinSeeds", () => {
  it("joins through a few seeds at a time and skips those the answers made members", async () => {
    const s = seeds();
    const addresses = Array.from({ length: 10 }, (_, i) => `10.0.0.${i}:7401`);
    const done = joinSeeds(addresses, s.port);
    await tick();
    expect([...s.attempts.keys()]).toEqual(addresses.slice(0, JOIN_FANOUT));
    // The first seed answers with the whole mesh but one node (say, across a partition).
    s.attempts.get(addresses[0]!)!(addresses.filter((a) => a !== addresses[9]));
    await tick();
    // Seeds already asked finish; the next one not yet a member is asked at once.
    expect([...s.attempts.keys()]).toEqual([...addresses.slice(0, JOIN_FANOUT), addresses[9]]);
    for (const address of [addresses[1]!, addresses[2]!, addresses[9]!]) s.attempts.get(address)!([]);
    await done;
    expect(s.mostInFlight()).toBe(JOIN_FANOUT);
  });

  it("does not wait for a slow seed before asking the next", async () => {
    const s = seeds();
    const addresses = ["a:1", "b:1", "c:1", "d:1", "e:1"];
    const done = joinSeeds(addresses, s.port, 2);
    await tick();
    expect([...s.attempts.keys()]).toEqual(["a:1", "b:1"]);
    s.attempts.get("b:1")!([]); // answered nothing new; a:1 is still silent
    await tick();
    expect([...s.attempts.keys()]).toEqual(["a:1", "b:1", "c:1"]);
    s.attempts.get("c:1")!([]);
    await tick();
    s.attempts.get("d:1")!([]);
    await tick();
    s.attempts.get("e:1")!([]);
    await tick();
    expect(s.attempts.size).toBe(5);
    s.attempts.get("a:1")!([]);
    await done;
  });
});
