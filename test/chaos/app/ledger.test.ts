import { describe, expect, it } from "vitest";
import { WayLedger } from "./ledger.js";
import { decodeMessage, encodeMessage } from "./payload.js";

// A chaos run that finds nothing is only worth something if its checks find what they look for.

describe("message bodies", () => {
  it("carry pair, direction and counter under a hash that catches any change", () => {
    const body = encodeMessage({ pair: "p0-1", way: "ab", counter: 42 });
    expect(decodeMessage(body)).toEqual({ pair: "p0-1", way: "ab", counter: 42 });
    const flipped = Uint8Array.from(body);
    flipped[20] = flipped[20]! ^ 1;
    expect(decodeMessage(flipped)).toEqual({ corrupt: "hash mismatch" });
    expect(decodeMessage(new TextEncoder().encode("hello"))).toHaveProperty("corrupt");
  });
});

describe("a direction's ledger", () => {
  const delivered = (ledger: WayLedger, counter: number, at = counter) =>
    ledger.received(encodeMessage({ pair: "p", way: "ab", counter }), at);

  it("counts an acked message that never arrived as lost, a rejected one as not", () => {
    const ledger = new WayLedger("p", "ab");
    const sent = [1, 2, 3, 4].map(() => ledger.next());
    expect(sent.map((m) => m.counter)).toEqual([1, 2, 3, 4]);
    expect(delivered(ledger, 1)).toBe("new");
    for (const m of sent.slice(0, 3)) ledger.acked(m.counter); // 2 and 3 acked, never delivered
    ledger.rejected(4, "chat ended: route_unavailable");
    expect(ledger.pending).toBe(0);
    expect(ledger.tally()).toMatchObject({
      sent: 4,
      acked: 3,
      delivered: 1,
      lost: 2,
      rejected: { "chat ended: route_unavailable": 1 },
      rejectedDelivered: 0,
      unsettled: 0,
    });
  });

  it("counts duplicates, reordering, corruption, rejected-yet-delivered and unsettled sends", () => {
    const ledger = new WayLedger("p", "ab");
    for (let i = 0; i < 5; i++) ledger.next();
    ledger.rejected(1, "x");
    expect([1, 3, 2, 3].map((n) => delivered(ledger, n))).toEqual(["new", "new", "reordered", "duplicate"]);
    expect(ledger.received(encodeMessage({ pair: "q", way: "ab", counter: 4 }), 9)).toBe("corrupt");
    expect(ledger.received(encodeMessage({ pair: "p", way: "ba", counter: 4 }), 9)).toBe("corrupt");
    expect(ledger.tally()).toMatchObject({
      delivered: 3,
      duplicated: 1,
      reordered: 1,
      corrupted: 2,
      rejectedDelivered: 1,
      unsettled: 4,
      deliveries: [1, 3, 2],
    });
  });

  it("starts each round with that round's sends only, and remembers what was delivered before", () => {
    const ledger = new WayLedger("p", "ab");
    ledger.next();
    delivered(ledger, 1);
    ledger.startRound();
    expect(ledger.tally()).toMatchObject({ sent: 0, delivered: 0, duplicated: 0, deliveries: [] });
    expect(ledger.next().counter).toBe(2);
    expect(delivered(ledger, 1)).toBe("duplicate");
    ledger.acked(1); // from the last round: ignored
    expect(ledger.tally()).toMatchObject({ sent: 1, acked: 0, duplicated: 1, unsettled: 1 });
  });
});
