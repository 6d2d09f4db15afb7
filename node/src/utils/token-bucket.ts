/** A token bucket: `rate` tokens per `perMs`, holding at most `burst`. */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly rate: number,
    private readonly perMs: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.updatedAt = now;
  }

  /** Takes `count` tokens (one by default); otherwise returns how many ms until they are there. */
  take(now: number, count = 1): { ok: true } | { ok: false; retryAfterMs: number } {
    const verdict = this.check(now, count);
    if (verdict.ok) this.tokens -= count;
    return verdict;
  }

  /** Whether `count` tokens are there now (taking none); otherwise how many ms until they are. */
  check(now: number, count = 1): { ok: true } | { ok: false; retryAfterMs: number } {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) * this.rate) / this.perMs);
    this.updatedAt = now;
    if (this.tokens >= count) return { ok: true };
    return { ok: false, retryAfterMs: Math.ceil(((count - this.tokens) * this.perMs) / this.rate) };
  }
}
