import { afterEach, describe, expect, it } from "vitest";
import type { SpawnedNode } from "../../node/dist/cli/spawn-node.js";
import { HermesClient, Identity } from "../../node/dist/index.js";
import { attack, hostileNode, loggedLimit, scrape } from "./harness.js";
import { lostNothing, NOTHING_LOST, Victim } from "./victim.js";

const CONNECTS_PER_SECOND = 20;
const FAILURES_PER_MINUTE = 30;
const ATTACK_MS = 5000;

let node: SpawnedNode | undefined;
let victim: Victim | undefined;
const apps: HermesClient[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  await victim?.close();
  await node?.stop();
  victim = node = undefined;
});

describe("connects with random signatures, as fast as one process can send them", () => {
  it("are throttled per address before any signature is checked, then turned away at the door, and the victim chat keeps flowing and loses nothing", async () => {
    node = await hostileNode([
      `--limits.connectsPerSecondPerAddress=${CONNECTS_PER_SECOND}`,
      `--limits.connectFailuresPerMinutePerAddress=${FAILURES_PER_MINUTE}`,
    ]);
    victim = await Victim.start(node.appEndpoint);
    const deliveredBefore = victim.delivered;

    const attacker = attack(node, "connect-flood", { concurrency: 32, "duration-ms": ATTACK_MS });
    // Meanwhile an app from another address connects at once: the attacker's budget is its own.
    const newcomer = new HermesClient({ endpoint: node.appEndpoint, identity: Identity.generate() });
    apps.push(newcomer);
    await newcomer.connect();
    const report = (await attacker.report) as unknown as {
      elapsedMs: number;
      attempts: number;
      connects: number;
      answers: Record<string, number>;
    };
    const deliveredDuring = victim.delivered - deliveredBefore;

    // Signatures checked (each failed): the failure budget and its refill over the attack, no more.
    const checkable = FAILURES_PER_MINUTE + Math.ceil((FAILURES_PER_MINUTE * report.elapsedMs) / 60_000);
    const failed = report.answers.auth_failed ?? 0;
    expect(failed).toBeGreaterThan(0);
    expect(failed).toBeLessThanOrEqual(checkable);
    // Every other Connect that reached the node was refused unchecked; once the address had
    // spent its failures, its connections got a GOAWAY and new ones were held unanswered, so
    // most tries never got that far.
    expect(report.answers.rate_limited).toBeGreaterThanOrEqual(report.connects - checkable - 32);
    expect(report.attempts).toBeGreaterThan(report.connects);

    const m = await scrape(node);
    expect(m("hermes_app_connects_total", { result: "auth_failed" })).toBe(failed);
    expect(m("hermes_limit_refusals_total", { limit: "connect_rate" })).toBeGreaterThanOrEqual(
      report.answers.rate_limited!,
    );
    expect(loggedLimit(node, "connect_rate")).toBe(true);
    expect(m("hermes_connections_refused_total", { port: "app", reason: "failed_connects" })).toBeGreaterThan(
      0,
    );
    expect(node.logs.some((l) => l.msg === "connection refused" && l.reason === "failed_connects")).toBe(
      true,
    );

    expect(deliveredDuring).toBeGreaterThan(0);
    expect(lostNothing(await victim.stop())).toEqual(NOTHING_LOST);
  });
});
