import type { MemberUpdate } from "./types.js";

/** Transmissions per update: enough for epidemic spread to reach all N members w.h.p. */
export function retransmitLimit(retransmitMult: number, numMembers: number): number {
  return retransmitMult * Math.ceil(Math.log10(Math.max(1, numMembers) + 1));
}

interface Item {
  update: MemberUpdate;
  transmits: number;
  /** Insertion order; higher is newer. */
  order: number;
}

/**
 * memberlist's TransmitLimitedQueue: updates waiting to be piggybacked, one per member (news
 * about a member supersedes what was queued about it), handed out least-transmitted and newest
 * first, and dropped once sent retransmitLimit times.
 */
export class BroadcastQueue {
  private readonly items = new Map<string, Item>();
  private counter = 0;

  constructor(private readonly retransmitMult: number) {}

  /** Queues `update`, replacing whatever was queued about the same member. */
  enqueue(update: MemberUpdate): void {
    this.items.set(update.id, { update, transmits: 0, order: ++this.counter });
  }

  /**
   * Up to `max` updates for one outgoing message. Each counts as one transmission; the limit is
   * computed from the current member count, so it follows the cluster as it grows or shrinks.
   * Updates matching `skip` (useless to this recipient) stay queued and are not counted.
   */
  take(max: number, numMembers: number, skip?: (u: MemberUpdate) => boolean): MemberUpdate[] {
    if (max <= 0 || this.items.size === 0) return [];
    const limit = retransmitLimit(this.retransmitMult, numMembers);
    const picked = [...this.items.values()]
      .filter((item) => !skip?.(item.update))
      .sort((a, b) => a.transmits - b.transmits || b.order - a.order)
      .slice(0, max);
    for (const item of picked) {
      item.transmits++;
      if (item.transmits >= limit) this.items.delete(item.update.id);
    }
    return picked.map((item) => item.update);
  }

  /** Updates still to be sent, in the order take() would hand them out. */
  pending(): MemberUpdate[] {
    return [...this.items.values()]
      .sort((a, b) => a.transmits - b.transmits || b.order - a.order)
      .map((item) => item.update);
  }

  has(id: string): boolean {
    return this.items.has(id);
  }

  get size(): number {
    return this.items.size;
  }

  clear(): void {
    this.items.clear();
  }
}
