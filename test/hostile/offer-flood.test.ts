import { describe, expect, it } from "vitest";
import { attack, attackedNode, loggedLimit, scrape } from "./harness.js";
import { lostNothing, NOTHING_LOST } from "./victim.js";

const MAX_PENDING_OFFERS = 8;
const IDENTITIES = 40;
/** Half as many connects a second as identities: the rest wait their turn at the door. */
const CONNECTS_PER_SECOND = 10;

const start = attackedNode();

describe("offers from many fresh identities to one app", () => {
  it("are capped at maxPendingOffersPerApp, and the victim chat loses nothing", async () => {
    const { node, victim } = await start([
      `--limits.maxPendingOffersPerApp=${MAX_PENDING_OFFERS}`,
      `--limits.connectsPerSecondPerAddress=${CONNECTS_PER_SECOND}`,
    ]);

    // Victim app b takes no notice of strangers' offers: they stay pending until they expire.
    const report = (await attack(node, "offer-flood", {
      to: victim.b.appId,
      identities: IDENTITIES,
      concurrency: 8,
    }).report) as unknown as { offers: number; answers: Record<string, number> };
    expect(report.offers).toBe(IDENTITIES);
    expect(report.answers).toEqual({
      chatPending: MAX_PENDING_OFFERS,
      rate_limited: IDENTITIES - MAX_PENDING_OFFERS,
    });
    expect(victim.strangersOffers).toBe(MAX_PENDING_OFFERS);

    const m = await scrape(node);
    expect(m("hermes_limit_refusals_total", { limit: "pending_offers" })).toBe(
      IDENTITIES - MAX_PENDING_OFFERS,
    );
    expect(m("hermes_chats", { state: "pending" })).toBe(MAX_PENDING_OFFERS);
    expect(loggedLimit(node, "pending_offers")).toBe(true);
    // Past the connect burst, connections were held at the door until their turn and then
    // served: no Connect reached the node without a connect to spend, none was refused.
    expect(m("hermes_app_connects_total", { result: "ok" })).toBe(IDENTITIES + 2);
    expect(m("hermes_limit_refusals_total", { limit: "connect_rate" })).toBe(0);

    expect(lostNothing(await victim.stop())).toEqual(NOTHING_LOST);
  });
});
