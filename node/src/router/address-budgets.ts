import type { Barred, TurnAway } from "../transport/door.js";
import { TokenBucket } from "../utils/token-bucket.js";

/** Remote addresses tracked at most; a scan of many source addresses cannot grow the table forever. */
const MAX_ADDRESSES = 10_000;

interface Budgets {
  connects: TokenBucket;
  /** Connects taken at the door for connections let in, not yet spent by a Connect. */
  prepaid: number;
  failures: TokenBucket;
  slowCuts: TokenBucket;
}

export interface AddressLimits {
  connectsPerSecondPerAddress: number;
  connectFailuresPerMinutePerAddress: number;
  slowReaderCutsPerMinutePerAddress: number;
}

/**
 * Per remote address: how many connects it may have checked (a signature check is the most
 * expensive thing an unauthenticated peer can make the node do), how many may fail, and how
 * many of its streams may be cut for not reading what they were sent (each cut stream made the
 * node hold, then drop, up to maxQueuedBytesPerSession). All refill over time; an address that
 * spent either of the last two is barred, refused unchecked, until it earns one back.
 */
export class AddressBudgets {
  private readonly byAddress = new Map<string, Budgets>();

  constructor(private readonly limits: AddressLimits) {}

  /**
   * May a connect from `address` be checked now (with one taken at the door, or else from its
   * budget)? Otherwise, when to come back, and any bar.
   */
  takeConnect(
    address: string,
    now: number,
  ): { ok: true } | { ok: false; retryAfterMs: number; bar?: Barred } {
    const budgets = this.of(address, now);
    const bar = this.barOf(budgets, now);
    if (bar) return { ok: false, retryAfterMs: bar.retryAfterMs, bar: bar.why };
    if (budgets.prepaid > 0) {
      budgets.prepaid--;
      return { ok: true };
    }
    return budgets.connects.take(now);
  }

  /**
   * Lets a new connection from `address` in, taking a connect for it (its Connect will spend
   * that one), or says why not and for how long: the address is barred, or has no connect left.
   * Taken at the door, a connect cannot be raced for by a herd of connections.
   */
  admit(address: string, now: number): TurnAway | undefined {
    const budgets = this.of(address, now);
    const bar = this.barOf(budgets, now);
    if (bar) return bar;
    const connect = budgets.connects.take(now);
    if (!connect.ok) return { why: "connect_rate", retryAfterMs: connect.retryAfterMs };
    budgets.prepaid = Math.min(budgets.prepaid + 1, this.limits.connectsPerSecondPerAddress * 2);
    return undefined;
  }

  /** A connect from `address` failed its checks. */
  failed(address: string, now: number): void {
    this.of(address, now).failures.take(now);
  }

  /** A stream from `address` was cut for reading too slowly. */
  cutSlow(address: string, now: number): void {
    this.of(address, now).slowCuts.take(now);
  }

  private barOf(budgets: Budgets, now: number): { why: Barred; retryAfterMs: number } | undefined {
    const failures = budgets.failures.check(now);
    if (!failures.ok) return { why: "failed_connects", retryAfterMs: failures.retryAfterMs };
    const slowCuts = budgets.slowCuts.check(now);
    if (!slowCuts.ok) return { why: "slow_reader", retryAfterMs: slowCuts.retryAfterMs };
    return undefined;
  }

  private of(address: string, now: number): Budgets {
    let budgets = this.byAddress.get(address);
    if (!budgets) {
      if (this.byAddress.size >= MAX_ADDRESSES) this.byAddress.clear();
      const perSecond = this.limits.connectsPerSecondPerAddress;
      const perMinute = (n: number) => new TokenBucket(n, 60_000, n, now);
      budgets = {
        connects: new TokenBucket(perSecond, 1000, perSecond * 2, now),
        prepaid: 0,
        failures: perMinute(this.limits.connectFailuresPerMinutePerAddress),
        slowCuts: perMinute(this.limits.slowReaderCutsPerMinutePerAddress),
      };
      this.byAddress.set(address, budgets);
    }
    return budgets;
  }
}
