import { type Chat, HermesClient, Identity } from "../../node/dist/index.js";

/**
 * The victim: two SDK apps on the attacked node keeping one chat going both ways with numbered
 * messages at a steady pace, each receiver checking that every number arrives once and in
 * order. Offers from anyone else to app b are counted and left unanswered (the attacked app
 * that takes no notice is the one that makes the node hold the most).
 */

/** Messages per second in each direction: well inside the node's per-app budgets in every test. */
const MESSAGES_PER_SECOND = 40;

export interface DirectionTally {
  sent: number;
  /** send() resolved: the peer app acknowledged it end to end. */
  acked: number;
  delivered: number;
  /** Numbers that arrived out of turn (a gap, a repeat, a reordering). */
  outOfTurn: string[];
  /** send() rejections. */
  failures: string[];
}

interface Direction {
  tally: DirectionTally;
  sends: Promise<void>[];
}

export class Victim {
  /** Offers to app b from anyone but app a. */
  strangersOffers = 0;
  private readonly directions = new Map<"a→b" | "b→a", Direction>();
  private readonly timers: NodeJS.Timeout[] = [];

  private constructor(
    readonly a: HermesClient,
    readonly b: HermesClient,
  ) {}

  /** Connects both apps to `endpoint`, starts their chat and the traffic. */
  static async start(endpoint: string): Promise<Victim> {
    const [ida, idb] = [Identity.generate(), Identity.generate()];
    const a = new HermesClient({ endpoint, identity: ida });
    const b = new HermesClient({ endpoint, identity: idb });
    const victim = new Victim(a, b);
    let accepted: Promise<Chat> | undefined;
    b.on("offer", (offer) => {
      if (offer.fromAppId === ida.id && !accepted) accepted = offer.accept();
      else victim.strangersOffers++;
    });
    await Promise.all([a.connect(), b.connect()]);
    const ab = await a.startChat(idb.id);
    const ba = await (accepted ?? Promise.reject(new Error("app b got no offer from app a")));
    victim.run("a→b", ab, ba);
    victim.run("b→a", ba, ab);
    return victim;
  }

  private run(name: "a→b" | "b→a", from: Chat, to: Chat): void {
    const tally: DirectionTally = { sent: 0, acked: 0, delivered: 0, outOfTurn: [], failures: [] };
    const direction: Direction = { tally, sends: [] };
    this.directions.set(name, direction);
    to.on("message", (m) => {
      const n = Number(m.text());
      if (n !== tally.delivered + 1) tally.outOfTurn.push(`${name}: got ${n} after ${tally.delivered}`);
      tally.delivered = Math.max(tally.delivered, n);
    });
    const timer = setInterval(() => {
      const n = ++tally.sent;
      direction.sends.push(
        from.send(String(n)).then(
          () => {
            tally.acked++;
          },
          (error: Error) => {
            tally.failures.push(`${name} ${n}: ${error.message}`);
          },
        ),
      );
    }, 1000 / MESSAGES_PER_SECOND);
    this.timers.push(timer);
  }

  /** Messages delivered so far, both directions. */
  get delivered(): number {
    return [...this.directions.values()].reduce((sum, d) => sum + d.tally.delivered, 0);
  }

  /**
   * Stops sending and waits (at most settleMs) until every message sent was acknowledged and
   * delivered; returns both directions' tallies either way, for the test to judge.
   */
  async stop(settleMs = 20_000): Promise<Record<string, DirectionTally>> {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    const deadline = Date.now() + settleMs;
    const all = [...this.directions.values()];
    const settled = Promise.all(all.map((d) => Promise.all(d.sends)));
    await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, settleMs))]);
    while (Date.now() < deadline && all.some((d) => d.tally.delivered < d.tally.sent)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return Object.fromEntries([...this.directions].map(([name, d]) => [name, d.tally]));
  }

  async close(): Promise<void> {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    await Promise.all([this.a.close(), this.b.close()]);
  }
}

/** The victim lost nothing: every message sent was acked and delivered once, in order, and none failed. */
export function lostNothing(tallies: Record<string, DirectionTally>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(tallies).map(([name, t]) => [
      name,
      {
        unacked: t.sent - t.acked,
        undelivered: t.sent - t.delivered,
        outOfTurn: t.outOfTurn,
        failures: t.failures,
        sentSome: t.sent > 0,
      },
    ]),
  );
}

export const NOTHING_LOST = {
  "a→b": { unacked: 0, undelivered: 0, outOfTurn: [], failures: [], sentSome: true },
  "b→a": { unacked: 0, undelivered: 0, outOfTurn: [], failures: [], sentSome: true },
};
