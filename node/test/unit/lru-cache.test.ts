import { describe, expect, it } from "vitest";
import { LruCache } from "../../src/utils/lru-cache.js";

describe("LruCache", () => {
  it("holds at most its capacity and forgets the least recently used entry first", () => {
    const cache = new LruCache<string, number>(2);
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.get("a")).toBe(1); // a is now the most recent
    cache.set("c", 3);
    expect(cache.size).toBe(2);
    expect(cache.get("b")).toBeUndefined();
    expect([cache.get("a"), cache.get("c")]).toEqual([1, 3]);
  });

  it("replaces a value without growing", () => {
    const cache = new LruCache<string, number>(2);
    cache.set("a", 1);
    cache.set("a", 2);
    expect([cache.size, cache.get("a")]).toEqual([1, 2]);
  });

  it("refuses a capacity below one", () => {
    expect(() => new LruCache(0)).toThrow("capacity must be ≥ 1, got 0");
  });
});
