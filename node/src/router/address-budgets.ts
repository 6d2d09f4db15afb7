import { TokenBucket } from "../utils/token-bucket.js";

/** Remote addresses tracked at most; a scan of many source addresses cannot grow the table forever. */
const MAX_ADDRESSES = 10_000;

interface Budgets {
  connects: TokenBucket;
  failures: TokenBucket;
}

/**
 * Per remote address: how many connects it may have checked (a signature check is the most
 * expensive thing an unauthenticated peer can make the node do) and how many may fail. Both
 * refill over time; an address that failed too often is refused unchecked until they do.
 */
export class AddressBudgets {
  private readonly byAddress = new Map<string, Budgets>();

  constructor(
    private readonly limits: {
      connectsPerSecondPerAddress: number;
      connectFailuresPerMinutePerAddress: number;
    },
  ) {}

  /**
   * May a connect from `address` be checked now? Otherwise, when to come back, and whether the
   * address is `failing`: it spent its budget of failed connects.
   */
  takeConnect(
    address: string,
    now: number,
  ): { ok: true } | { ok: false; retryAfterMs: number; failing: boolean } {
    const budgets = this.of(address, now);
    const failures = budgets.failures.check(now);
    if (!failures.ok) return { ...failures, failing: true };
    const taken = budgets.connects.take(now);
    return taken.ok ? taken : { ...taken, failing: false };
  }

  /** Has `address` spent its budget of failed connects (and not yet earned one back)? */
  failing(address: string, now: number): boolean {
    const budgets = this.byAddress.get(address);
    return budgets !== undefined && !budgets.failures.check(now).ok;
  }

  /** A connect from `address` failed its checks. */
  failed(address: string, now: number): void {
    this.of(address, now).failures.take(now);
  }

  private of(address: string, now: number): Budgets {
    let budgets = this.byAddress.get(address);
    if (!budgets) {
      if (this.byAddress.size >= MAX_ADDRESSES) this.byAddress.clear();
      const { connectsPerSecondPerAddress: perSecond, connectFailuresPerMinutePerAddress: perMinute } =
        this.limits;
      budgets = {
        connects: new TokenBucket(perSecond, 1000, perSecond * 2, now),
        failures: new TokenBucket(perMinute, 60_000, perMinute, now),
      };
      this.byAddress.set(address, budgets);
    }
    return budgets;
  }
}
