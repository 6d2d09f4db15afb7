/**
 * Bytes written to app streams and not yet taken by their connections, per stream and in all.
 * An app that stops reading makes the node hold what it is sent: this bounds it, per stream and
 * for the whole node, so that one slow (or hostile) reader cannot exhaust memory. Pure
 * accounting; the gRPC shell writes, counts and closes.
 */
export class WriteQueues<K> {
  private readonly queued = new Map<K, number>();
  private total = 0;

  constructor(private readonly limits: { maxQueuedBytesPerSession: number; maxQueuedBytes: number }) {}

  /** Counts `bytes` written to `key`; returns the stream to close when a bound bites. */
  add(key: K, bytes: number): K | undefined {
    const mine = (this.queued.get(key) ?? 0) + bytes;
    this.queued.set(key, mine);
    this.total += bytes;
    if (mine > this.limits.maxQueuedBytesPerSession) return key;
    if (this.total > this.limits.maxQueuedBytes) return this.largest();
    return undefined;
  }

  /** `bytes` of `key`'s were taken by its connection. */
  taken(key: K, bytes: number): void {
    const mine = this.queued.get(key);
    if (mine === undefined) return;
    this.queued.set(key, mine - bytes);
    this.total -= bytes;
  }

  /** The stream is gone: what it held is released. */
  drop(key: K): void {
    this.total -= this.queued.get(key) ?? 0;
    this.queued.delete(key);
  }

  get totalBytes(): number {
    return this.total;
  }

  private largest(): K | undefined {
    let worst: K | undefined;
    let most = -1;
    for (const [key, bytes] of this.queued) {
      if (bytes > most) [worst, most] = [key, bytes];
    }
    return worst;
  }
}
