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

  /** Takes one token; otherwise returns how many ms until one is available. */
  take(now: number): { ok: true } | { ok: false; retryAfterMs: number } {
    const verdict = this.check(now);
    if (verdict.ok) this.tokens -= 1;
    return verdict;
  }

  /** Whether a token is there now (taking none); otherwise how many ms until one is. */
  check(now: number): { ok: true } | { ok: false; retryAfterMs: number } {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) * this.rate) / this.perMs);
    this.updatedAt = now;
    if (this.tokens >= 1) return { ok: true };
    return { ok: false, retryAfterMs: Math.ceil(((1 - this.tokens) * this.perMs) / this.rate) };
  }
}
