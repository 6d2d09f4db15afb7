import { afterEach, describe, expect, it, vi } from "vitest";
import { WorkQueue } from "../../src/controller/workqueue.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("WorkQueue", () => {
  it("queues a key once however often it is added, in order", async () => {
    const q = new WorkQueue();
    for (const k of ["a", "b", "a", "c", "b"]) q.add(k);
    expect(q.length).toBe(3);
    expect([await q.get(), await q.get(), await q.get()]).toEqual(["a", "b", "c"]);
  });

  it("never hands one key to two workers: a key added while processed comes back after done()", async () => {
    const q = new WorkQueue();
    q.add("a");
    const key = await q.get();
    q.add("a");
    expect(q.length).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done(key!);
    await Promise.resolve();
    expect(second).toBe("a");
  });

  it("wakes a waiting worker when a key arrives", async () => {
    const q = new WorkQueue();
    const next = q.get();
    q.add("x");
    expect(await next).toBe("x");
  });

  it("backs off a failing key exponentially up to a cap, and forgets on success", () => {
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000, burst: 1000 });
    expect([1, 2, 3, 4, 5, 6].map(() => q.nextDelay("k"))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(q.retries("k")).toBe(6);
    q.forget("k");
    expect(q.nextDelay("k")).toBe(100);
    expect(q.nextDelay("other")).toBe(100);
  });

  it("caps all retries together with a token bucket", () => {
    let now = 0;
    const q = new WorkQueue({ baseDelayMs: 1, qps: 10, burst: 2, now: () => now });
    expect(q.nextDelay("a")).toBe(1);
    expect(q.nextDelay("b")).toBe(1);
    expect(q.nextDelay("c")).toBe(100); // bucket empty: one token per 100 ms
    now += 1000;
    expect(q.nextDelay("d")).toBe(1);
  });

  it("adds after a delay, keeping the earliest schedule of a key", async () => {
    vi.useFakeTimers();
    const q = new WorkQueue();
    q.addAfter("k", 5000);
    q.addAfter("k", 1000);
    q.addAfter("k", 9000);
    vi.advanceTimersByTime(999);
    expect(q.length).toBe(0);
    vi.advanceTimersByTime(1);
    expect(q.length).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(q.length).toBe(1);
  });

  it("releases waiting workers on shut down and takes no more keys", async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toBeUndefined();
    q.add("late");
    expect(await q.get()).toBeUndefined();
  });
});
