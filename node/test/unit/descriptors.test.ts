import { describe, expect, it } from "vitest";
import {
  countOpenFds,
  DescriptorBudget,
  parseSoftFdLimit,
  readSoftFdLimit,
} from "../../src/transport/descriptors.js";
import { FakeClock } from "../../src/utils/fake-clock.js";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

describe("file descriptor limit", () => {
  it("is the soft limit of /proc/<pid>/limits", () => {
    expect(parseSoftFdLimit(LIMITS)).toBe(1024);
    expect(parseSoftFdLimit(LIMITS.replace("1024   ", "unlimited"))).toBeUndefined();
    expect(parseSoftFdLimit("Limit  Soft Limit\n")).toBeUndefined();
  });

  it("is read from this process on Linux, and open descriptors are counted", () => {
    const limit = readSoftFdLimit();
    expect(limit).toBeGreaterThan(0);
    const open = countOpenFds();
    expect(open).toBeGreaterThan(2);
    expect(open).toBeLessThanOrEqual(limit!);
  });
});

describe("descriptor budget", () => {
  it("admits nothing past the limit minus the reserve, and counts other descriptors again after a while", () => {
    const clock = new FakeClock();
    let open = 89; // the runtime's own, files, outbound connections
    let counts = 0;
    const budget = new DescriptorBudget(
      {
        clock,
        countOpen: () => {
          counts++;
          return open;
        },
      },
      { limit: 100, reserve: 5 },
    );
    /** A socket is accepted (its descriptor is open) and stays only if admitted. */
    const accept = () => {
      open++;
      const admitted = budget.admit();
      if (!admitted) open--;
      return admitted;
    };
    expect(budget.connectionLimit).toBe(95);
    for (let i = 0; i < 6; i++) expect(accept()).toBe(true);
    expect(accept()).toBe(false);
    expect(counts).toBe(1); // counted once a second at most
    budget.released();
    open--;
    expect(accept()).toBe(true);
    // Ten other descriptors closed: seen at the next count, not before.
    open -= 10;
    expect(accept()).toBe(false);
    clock.advance(1000);
    for (let i = 0; i < 10; i++) expect(accept()).toBe(true);
    expect(accept()).toBe(false);
    expect(counts).toBe(2);
  });

  it("admits everything when the limit is unknown, without counting", () => {
    const budget = new DescriptorBudget(
      { clock: new FakeClock(), countOpen: () => expect.fail("no count without a limit") },
      { limit: undefined, reserve: 64 },
    );
    for (let i = 0; i < 1000; i++) expect(budget.admit()).toBe(true);
    expect(budget.connectionLimit).toBeUndefined();
  });
});
