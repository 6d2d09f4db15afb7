import type { Clock } from "../../utils/clock.js";

/** The floor: suspicionMult · max(1, log10 N) · probeInterval, as memberlist. */
export function suspicionMinTimeoutMs(suspicionMult: number, numMembers: number, probeIntervalMs: number) {
  const scale = Math.max(1, Math.log10(Math.max(1, numMembers)));
  return Math.floor(suspicionMult * scale * probeIntervalMs);
}

/**
 * Lifeguard: start at max and fall towards min as independent confirmations C arrive, reaching
 * min at the expected K: max - (max - min) · log(C + 1) / log(K + 1), never below min. With no
 * confirmations expected (K < 1), min from the start.
 */
export function suspicionTimeoutMs(confirmations: number, expected: number, minMs: number, maxMs: number) {
  if (expected < 1) return minMs;
  const frac = Math.log(confirmations + 1) / Math.log(expected + 1);
  return Math.max(minMs, Math.floor(maxMs - frac * (maxMs - minMs)));
}

/**
 * One running suspicion: a timer that declares the member dead, shortened by confirmations
 * from other members (one per member, the original accuser excluded).
 */
export interface SuspicionOptions {
  clock: Clock;
  /** The accuser; it never counts as a confirmation. */
  from: string;
  /** Confirmations that bring the timeout down to min. */
  expected: number;
  minMs: number;
  maxMs: number;
  onTimeout: (confirmations: number) => void;
  /**
   * A timer that fires this much later than due means this process was stalled (GC, CPU
   * starvation): refutations that arrived meanwhile still wait behind the timer in the event
   * loop. The verdict is deferred once by that much so they are heard first.
   */
  lateMs?: number;
  onLate?: (lagMs: number) => void;
}

export class Suspicion {
  private readonly seen = new Set<string>();
  private confirmations = 0;
  private readonly start: number;
  private cancelTimer: (() => void) | undefined;
  private fired = false;
  private deferred = false;
  private readonly clock: Clock;
  readonly expected: number;
  readonly minMs: number;
  readonly maxMs: number;
  private readonly onTimeout: (confirmations: number) => void;
  private readonly lateMs: number;
  private readonly onLate: (lagMs: number) => void;

  constructor(options: SuspicionOptions) {
    this.clock = options.clock;
    this.expected = options.expected;
    this.minMs = options.minMs;
    this.maxMs = options.maxMs;
    this.onTimeout = options.onTimeout;
    this.lateMs = options.lateMs ?? Number.POSITIVE_INFINITY;
    this.onLate = options.onLate ?? (() => {});
    this.seen.add(options.from);
    this.start = this.clock.now();
    this.arm(suspicionTimeoutMs(0, this.expected, this.minMs, this.maxMs));
  }

  /** True when `from` is a new confirmation (worth re-gossiping); reschedules the timer. */
  confirm(from: string): boolean {
    if (this.fired || this.confirmations >= this.expected || this.seen.has(from)) return false;
    this.seen.add(from);
    this.confirmations++;
    const total = suspicionTimeoutMs(this.confirmations, this.expected, this.minMs, this.maxMs);
    this.cancelTimer?.();
    // Never fire synchronously: the caller is still in the middle of handling an update.
    this.arm(Math.max(0, total - (this.clock.now() - this.start)));
    return true;
  }

  get confirmationCount(): number {
    return this.confirmations;
  }

  /** Clock time at which the member will be declared dead, barring news. */
  get deadline(): number {
    return this.start + suspicionTimeoutMs(this.confirmations, this.expected, this.minMs, this.maxMs);
  }

  cancel(): void {
    this.fired = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private arm(ms: number): void {
    const due = this.clock.now() + ms;
    this.cancelTimer = this.clock.setTimeout(() => {
      this.cancelTimer = undefined;
      if (this.fired) return;
      const lag = this.clock.now() - due;
      if (lag > this.lateMs && !this.deferred) {
        this.deferred = true;
        this.onLate(lag);
        this.arm(this.lateMs);
        return;
      }
      this.fired = true;
      this.onTimeout(this.confirmations);
    }, ms);
  }
}
