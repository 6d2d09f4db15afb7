/**
 * Lifeguard local health awareness. A node that misses acks it should have seen (no nack from
 * helpers, failed probes, having to refute) is more likely slow itself than surrounded by dead
 * peers, so it stretches its probe interval and timeout by (score + 1) and gives others more
 * time before it accuses them. Successful probes bring the score back down.
 */
export class Awareness {
  private current = 0;

  /** @param maxMultiplier timers scale by at most this factor; the score stays below it. */
  constructor(private readonly maxMultiplier: number) {}

  /** Adds `delta` (may be negative) and returns the new score, clamped to 0..max-1. */
  applyDelta(delta: number): number {
    this.current = Math.min(this.maxMultiplier - 1, Math.max(0, this.current + delta));
    return this.current;
  }

  /** 0 is healthy. */
  get score(): number {
    return this.current;
  }

  scale(ms: number): number {
    return ms * (this.current + 1);
  }
}
