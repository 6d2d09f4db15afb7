import { describe, expect, it } from "vitest";
import { attack, attackedNode, loggedLimit, scrape } from "./harness.js";
import { lostNothing, NOTHING_LOST } from "./victim.js";

const MAX_UNAUTHENTICATED = 20;
const AUTHENTICATE_WITHIN_MS = 3000;
const STREAMS = 60;
/**
 * A correctness bound, not a speed one: the node's timer fires at AUTHENTICATE_WITHIN_MS; the
 * slack covers a busy machine's event-loop lag and the stream's reset after its trailers.
 */
const SLACK_MS = 3000;

const start = attackedNode();

describe("streams that never authenticate but keep sending refused frames", () => {
  it("are capped in number and closed for good within authenticateWithinMs, and the victim chat loses nothing", async () => {
    const { node, victim } = await start([
      `--limits.maxUnauthenticatedSessions=${MAX_UNAUTHENTICATED}`,
      `--timeouts.authenticateWithinMs=${AUTHENTICATE_WITHIN_MS}`,
    ]);

    // Every stream sends a Heartbeat each 500 ms and never ends its own half.
    const report = await attack(node, "unauthenticated", {
      streams: STREAMS,
      "every-ms": 500,
      "duration-ms": AUTHENTICATE_WITHIN_MS + 2 * SLACK_MS,
    }).report;
    const closed = report as unknown as {
      challenged: number;
      refusedAtOnce: number;
      closeDetails: Record<string, number>;
      toldClosed: number;
      toldClosedMsMax: number;
      challengedEnded: number;
      challengedOpenMsMax: number;
      refusedEnded: number;
      refusedOpenMsMax: number;
      stillOpen: number;
    };
    expect(closed.challenged).toBe(MAX_UNAUTHENTICATED);
    expect(closed.refusedAtOnce).toBe(STREAMS - MAX_UNAUTHENTICATED);
    expect(closed.closeDetails).toEqual({
      [`no connect within ${AUTHENTICATE_WITHIN_MS} ms`]: MAX_UNAUTHENTICATED,
      "node at capacity": STREAMS - MAX_UNAUTHENTICATED,
    });
    // Closed for good: the node does not keep reading a stream it has ended.
    expect(closed).toMatchObject({
      stillOpen: 0,
      toldClosed: MAX_UNAUTHENTICATED,
      challengedEnded: MAX_UNAUTHENTICATED,
      refusedEnded: STREAMS - MAX_UNAUTHENTICATED,
    });
    expect(closed.toldClosedMsMax).toBeLessThanOrEqual(AUTHENTICATE_WITHIN_MS + SLACK_MS);
    expect(closed.challengedOpenMsMax).toBeLessThanOrEqual(AUTHENTICATE_WITHIN_MS + SLACK_MS);
    expect(closed.refusedOpenMsMax).toBeLessThanOrEqual(SLACK_MS);

    const m = await scrape(node);
    expect(m("hermes_limit_refusals_total", { limit: "unauthenticated_sessions" })).toBe(
      STREAMS - MAX_UNAUTHENTICATED,
    );
    expect(m("hermes_limit_refusals_total", { limit: "authenticate_within" })).toBe(MAX_UNAUTHENTICATED);
    expect(node.logs.some((l) => l.msg === "too many streams not yet connected")).toBe(true);
    expect(loggedLimit(node, "authenticate_within")).toBe(true);

    expect(lostNothing(await victim.stop())).toEqual(NOTHING_LOST);
  });
});
