/**
 * Notices that this node has heard from no peer for longer than the mesh takes to declare a
 * silent node dead: the others are then declaring it dead, so it is the one cut off, and its
 * apps are better served elsewhere. SWIM alone tells this late: a cut-off node's own probes slow
 * down (Lifeguard) and it declares its peers dead one by one.
 */
export class IsolationWatch {
  private lastHeardAt: number;
  private lastTickAt: number;

  constructor(
    now: number,
    private readonly tickMs: number,
  ) {
    this.lastHeardAt = now;
    this.lastTickAt = now;
  }

  heard(now: number): void {
    this.lastHeardAt = now;
  }

  /**
   * Called every tickMs: true when nothing was heard for more than `afterMs`. A late tick means
   * this process stood still (nothing could be heard meanwhile), so the count starts again.
   */
  silent(now: number, afterMs: number): boolean {
    if (now - this.lastTickAt > 2 * this.tickMs) this.lastHeardAt = now;
    this.lastTickAt = now;
    return now - this.lastHeardAt > afterMs;
  }
}
