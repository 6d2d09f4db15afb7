import { describe, expect, it } from "vitest";
import { attack, attackedNode, loggedLimit, scrape } from "./harness.js";
import { lostNothing, NOTHING_LOST } from "./victim.js";

const FRAMES_PER_SECOND = 200;
const BAD_FRAMES_PER_MINUTE = 30;
const ATTACK_MS = 4000;
/**
 * Frames one flooding session gets written before its stream is gone: the burst, the bad-frame
 * budget, and what HTTP/2 flow control lets through once the node stops reading the stream it
 * ended (a few thousand ~45-byte frames). A node that kept reading a stream it had closed would
 * take the flood for as long as the attacker likes: about a million frames a second here.
 */
const FRAMES_PER_SESSION_AT_MOST = 50_000;

const start = attackedNode();

describe("an app pipelining frames the node ignores (MessageAck seq 0 of its own chat)", () => {
  it("is refused past framesPerSecond and closed by the bad-frame budget, and the victim chat loses nothing", async () => {
    const { node, victim } = await start([
      `--limits.framesPerSecond=${FRAMES_PER_SECOND}`,
      `--limits.badFramesPerMinute=${BAD_FRAMES_PER_MINUTE}`,
    ]);

    const report = (await attack(node, "frame-flood", { "duration-ms": ATTACK_MS }).report) as unknown as {
      framesSent: number;
      sessions: number;
      answers: Record<string, number>;
      closeDetails: Record<string, number>;
    };
    // The attacker connects again each time it is closed: each of its streams ended for good.
    expect(report.sessions).toBeGreaterThanOrEqual(2);
    expect(report.closeDetails["too many bad frames"]).toBeGreaterThanOrEqual(report.sessions - 1);
    expect(report.answers.rate_limited).toBeGreaterThanOrEqual(BAD_FRAMES_PER_MINUTE);
    expect(report.framesSent / report.sessions).toBeLessThan(FRAMES_PER_SESSION_AT_MOST);

    const m = await scrape(node);
    expect(m("hermes_limit_refusals_total", { limit: "frame_rate" })).toBeGreaterThanOrEqual(
      report.answers.rate_limited!,
    );
    expect(m("hermes_limit_refusals_total", { limit: "bad_frames" })).toBeGreaterThanOrEqual(
      report.closeDetails["too many bad frames"]!,
    );
    expect(loggedLimit(node, "frame_rate")).toBe(true);
    expect(loggedLimit(node, "bad_frames")).toBe(true);

    expect(lostNothing(await victim.stop())).toEqual(NOTHING_LOST);
  });
});
