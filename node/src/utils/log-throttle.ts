import type { Clock } from "./clock.js";

/**
 * One log line per key per interval: a flood of refusals is all counted in metrics, but the log
 * gets a line per reason per interval, carrying how many were left out since the last one.
 */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
  ) {}

  /** `{ suppressed }` when a line for `key` is due now (and how many were left out before it), else undefined. */
  admit(key: string): { suppressed: number } | undefined {
    const now = this.clock.now();
    const last = this.last.get(key);
    if (last !== undefined && now - last.at < this.intervalMs) {
      last.suppressed++;
      return undefined;
    }
    this.last.set(key, { at: now, suppressed: 0 });
    return { suppressed: last?.suppressed ?? 0 };
  }
}
