import { describe, expect, it } from "vitest";
import { TokenBucket } from "../../src/utils/token-bucket.js";

function takeN(bucket: TokenBucket, n: number, now: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (bucket.take(now).ok) ok++;
  return ok;
}

describe("TokenBucket", () => {
  it("starts full and allows a burst", () => {
    const bucket = new TokenBucket(10, 1000, 5, 0);
    expect(takeN(bucket, 8, 0)).toBe(5);
  });

  it("says how long until the next token", () => {
    const bucket = new TokenBucket(10, 1000, 1, 0);
    expect(bucket.take(0)).toEqual({ ok: true });
    expect(bucket.take(0)).toEqual({ ok: false, retryAfterMs: 100 });
    expect(bucket.take(40)).toEqual({ ok: false, retryAfterMs: 60 });
    expect(bucket.take(100)).toEqual({ ok: true });
  });

  it("refills at its rate, never beyond the burst", () => {
    const bucket = new TokenBucket(2, 1000, 4, 0);
    expect(takeN(bucket, 4, 0)).toBe(4);
    expect(takeN(bucket, 4, 1000)).toBe(2);
    expect(takeN(bucket, 10, 60_000)).toBe(4);
  });

  it("accumulates fractional refills", () => {
    const bucket = new TokenBucket(1, 1000, 1, 0);
    bucket.take(0);
    for (const t of [250, 500, 750]) expect(bucket.take(t).ok).toBe(false);
    expect(bucket.take(750)).toEqual({ ok: false, retryAfterMs: 250 });
    expect(bucket.take(1000).ok).toBe(true);
  });

  it("handles per-minute rates", () => {
    const bucket = new TokenBucket(30, 60_000, 30, 0);
    expect(takeN(bucket, 31, 0)).toBe(30);
    const refused = bucket.take(0);
    expect(refused).toEqual({ ok: false, retryAfterMs: 2000 });
    expect(bucket.take(2000).ok).toBe(true);
  });
});
