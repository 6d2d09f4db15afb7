import { TokenBucket } from "../utils/token-bucket.js";

/** Remote addresses tracked at most; a scan of many source addresses cannot grow the table forever. */
const MAX_ADDRESSES = 10_000;

/**
 * Why an address is barred: its connects kept failing their checks, or its streams kept being
 * cut for reading too slowly. Either way its connects would only cost the node again.
 */
export type AddressBar = "failed_connects" | "slow_reader";

interface Budgets {
  connects: TokenBucket;
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

  /** May a connect from `address` be checked now? Otherwise, when to come back, and any bar. */
  takeConnect(
    address: string,
    now: number,
  ): { ok: true } | { ok: false; retryAfterMs: number; bar?: AddressBar } {
    const budgets = this.of(address, now);
    const failures = budgets.failures.check(now);
    if (!failures.ok) return { ...failures, bar: "failed_connects" };
    const slowCuts = budgets.slowCuts.check(now);
    if (!slowCuts.ok) return { ...slowCuts, bar: "slow_reader" };
    return budgets.connects.take(now);
  }

  /** Is `address` barred now, and why? */
  bar(address: string, now: number): AddressBar | undefined {
    const budgets = this.byAddress.get(address);
    if (budgets === undefined) return undefined;
    if (!budgets.failures.check(now).ok) return "failed_connects";
    if (!budgets.slowCuts.check(now).ok) return "slow_reader";
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

  private of(address: string, now: number): Budgets {
    let budgets = this.byAddress.get(address);
    if (!budgets) {
      if (this.byAddress.size >= MAX_ADDRESSES) this.byAddress.clear();
      const perSecond = this.limits.connectsPerSecondPerAddress;
      const perMinute = (n: number) => new TokenBucket(n, 60_000, n, now);
      budgets = {
        connects: new TokenBucket(perSecond, 1000, perSecond * 2, now),
        failures: perMinute(this.limits.connectFailuresPerMinutePerAddress),
        slowCuts: perMinute(this.limits.slowReaderCutsPerMinutePerAddress),
      };
      this.byAddress.set(address, budgets);
    }
    return budgets;
  }
}
