import { afterEach, describe, expect, it } from "vitest";
import type { SpawnedNode } from "../../node/dist/cli/spawn-node.js";
import { attack, hostileNode, loggedLimit, scrape } from "./harness.js";
import { lostNothing, NOTHING_LOST, Victim } from "./victim.js";

const MAX_PENDING_OFFERS = 8;
const IDENTITIES = 40;

let node: SpawnedNode | undefined;
let victim: Victim | undefined;
afterEach(async () => {
  await victim?.close();
  await node?.stop();
  victim = node = undefined;
});

describe("offers from many fresh identities to one app", () => {
  it("are capped at maxPendingOffersPerApp, and the victim chat loses nothing", async () => {
    node = await hostileNode([`--limits.maxPendingOffersPerApp=${MAX_PENDING_OFFERS}`]);
    victim = await Victim.start(node.appEndpoint);

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

    expect(lostNothing(await victim.stop())).toEqual(NOTHING_LOST);
  });
});
