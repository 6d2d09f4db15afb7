import type { Clock } from "./clock.js";

interface FakeTimer {
  due: number;
  order: number;
  /** Set for intervals: the timer is due again this many ms after it ran. */
  every: number | undefined;
  fn: () => void;
  cancelled: boolean;
}

/**
 * The test double for Clock: time moves only when told, and due timers run in (due time,
 * creation) order, kept in a binary heap so that simulations with thousands of timers stay fast.
 */
export class FakeClock implements Clock {
  private current: number;
  private order = 0;
  private readonly heap: FakeTimer[] = [];

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

  /** Moves time forward by `ms`, running every timer that falls due, including new ones. */
  advance(ms: number): void {
    const until = this.current + ms;
    for (;;) {
      const next = this.heap[0];
      if (!next || next.due > until) break;
      this.pop();
      if (next.cancelled) continue;
      this.current = next.due;
      if (next.every !== undefined) {
        next.due += next.every;
        next.order = this.order++;
        this.push(next);
      }
      next.fn();
    }
    this.current = until;
  }

  /** Timers not yet run or cancelled. */
  pending(): number {
    return this.heap.filter((t) => !t.cancelled).length;
  }

  private add(fn: () => void, ms: number, every: number | undefined): () => void {
    const timer: FakeTimer = {
      due: this.current + Math.max(0, ms),
      order: this.order++,
      every,
      fn,
      cancelled: false,
    };
    this.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  private push(t: FakeTimer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

const before = (a: FakeTimer, b: FakeTimer) => a.due < b.due || (a.due === b.due && a.order < b.order);

/** Deterministic uniform [0, 1) generator (mulberry32), for seeded simulations. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
