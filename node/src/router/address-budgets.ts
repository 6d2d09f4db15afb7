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

  /** May a connect from `address` be checked now? Otherwise, when to come back. */
  takeConnect(address: string, now: number): { ok: true } | { ok: false; retryAfterMs: number } {
    const budgets = this.of(address, now);
    const failures = budgets.failures.check(now);
    return failures.ok ? budgets.connects.take(now) : failures;
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
