import type { Way, WayTally } from "../protocol.js";
import { decodeMessage, encodeMessage } from "./payload.js";

interface SendRecord {
  outcome: "pending" | "acked" | "rejected";
  reason?: string;
}

/**
 * The books of one direction of a pair: the sender's side (what each send() came to) and the
 * receiver's (every counter seen), kept together so that "acked but never delivered" is a plain
 * lookup. Pure: times come in as arguments.
 *
 * Counters run 1, 2, 3, … for the life of the pair, across chats. The receiver judges each
 * delivery against everything it has seen: seen before is a duplicate, below the highest seen is
 * reordered. A counter that never arrives is lost only if its send() resolved; a rejected send
 * was reported to the app, and is not sent again.
 */
export class WayLedger {
  private nextCounter = 1;
  /** This round's sends, by counter. */
  private readonly sends = new Map<number, SendRecord>();
  private readonly seen = new Set<number>();
  private highestSeen = 0;
  private duplicated = 0;
  private reordered = 0;
  private corrupted = 0;
  private deliveries: number[] = [];

  constructor(
    readonly pair: string,
    readonly way: Way,
  ) {}

  /** The next message of this direction, recorded as pending. */
  next(): { counter: number; body: Uint8Array } {
    const counter = this.nextCounter++;
    this.sends.set(counter, { outcome: "pending" });
    return { counter, body: encodeMessage({ pair: this.pair, way: this.way, counter }) };
  }

  acked(counter: number): void {
    const record = this.sends.get(counter);
    if (record?.outcome === "pending") record.outcome = "acked";
  }

  rejected(counter: number, reason: string): void {
    const record = this.sends.get(counter);
    if (record?.outcome !== "pending") return;
    record.outcome = "rejected";
    record.reason = reason;
  }

  /** This round's sends that have not settled. */
  get pending(): number {
    let n = 0;
    for (const record of this.sends.values()) if (record.outcome === "pending") n++;
    return n;
  }

  /** When the latest new message was delivered this round (0 if none). */
  get lastDeliveryAt(): number {
    return this.deliveries.at(-1) ?? 0;
  }

  /** The receiving app got `body` at time `at`. */
  received(body: Uint8Array, at: number): "new" | "duplicate" | "reordered" | "corrupt" {
    const stamp = decodeMessage(body);
    if ("corrupt" in stamp || stamp.pair !== this.pair || stamp.way !== this.way) {
      this.corrupted++;
      return "corrupt";
    }
    if (this.seen.has(stamp.counter)) {
      this.duplicated++;
      return "duplicate";
    }
    this.seen.add(stamp.counter);
    this.deliveries.push(at);
    if (stamp.counter < this.highestSeen) {
      this.reordered++;
      return "reordered";
    }
    this.highestSeen = stamp.counter;
    return "new";
  }

  /** Starts a round: the last round's sends are forgotten (a late outcome of one is ignored). */
  startRound(): void {
    this.sends.clear();
    this.duplicated = this.reordered = this.corrupted = 0;
    this.deliveries = [];
  }

  tally(): WayTally {
    const tally: WayTally = {
      pair: this.pair,
      way: this.way,
      sent: this.sends.size,
      acked: 0,
      delivered: 0,
      lost: 0,
      duplicated: this.duplicated,
      reordered: this.reordered,
      corrupted: this.corrupted,
      rejected: {},
      rejectedDelivered: 0,
      unsettled: 0,
      deliveries: [...this.deliveries],
    };
    for (const [counter, record] of this.sends) {
      const delivered = this.seen.has(counter);
      if (delivered) tally.delivered++;
      if (record.outcome === "pending") tally.unsettled++;
      else if (record.outcome === "acked") {
        tally.acked++;
        if (!delivered) tally.lost++;
      } else {
        const reason = record.reason ?? "unknown";
        tally.rejected[reason] = (tally.rejected[reason] ?? 0) + 1;
        if (delivered) tally.rejectedDelivered++;
      }
    }
    return tally;
  }
}
