import type { Clock } from "../../src/router/clock.js";

interface Timer {
  due: number;
  order: number;
  every: number | undefined;
  fn: () => void;
  cancelled: boolean;
}

/** A Clock that moves only when told; advance() runs due timers in (due time, creation) order. */
export class FakeClock implements Clock {
  private current: number;
  private order = 0;
  private timers: Timer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): () => void {
    return this.add(fn, ms, undefined);
  }

  setInterval(fn: () => void, ms: number): () => void {
    return this.add(fn, ms, Math.max(1, ms));
  }

  /** Timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, firing every timer that falls due (including ones set meanwhile). */
  advance(ms: number): void {
    const until = this.current + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      const next = this.timers.reduce<Timer | undefined>(
        (best, t) => (!best || t.due < best.due || (t.due === best.due && t.order < best.order) ? t : best),
        undefined,
      );
      if (!next || next.due > until) break;
      this.current = next.due;
      if (next.every === undefined) next.cancelled = true;
      else next.due += next.every;
      next.fn();
    }
    this.current = until;
  }

  private add(fn: () => void, ms: number, every: number | undefined): () => void {
    const timer: Timer = {
      due: this.current + Math.max(0, ms),
      order: this.order++,
      every,
      fn,
      cancelled: false,
    };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }
}
