import { describe, expect, it } from "vitest";
import { attack, attackedNode, scrape, sleep, until } from "./harness.js";
import { lostNothing, NOTHING_LOST } from "./victim.js";

const PER_SESSION = 4 * 1024 * 1024;
const NODE_WIDE = 16 * 1024 * 1024;
/** One frame over a bound at most: the bound is checked after each write. */
const MAX_FRAME = 262144;
/** Six readers filling 4 MiB each hold more than the node-wide 16 MiB: both bounds bite. */
const READERS = 6;
const ROUNDS = 16;
/** The second test: a smaller queue bound (quicker cuts) and a budget of cuts per address. */
const SMALL_PER_SESSION = 1024 * 1024;
const CUTS_PER_MINUTE = 4;
const ATTACK_MS = 6000;

const start = attackedNode();

describe("an app that accepts chats and never reads", () => {
  it("is cut at the queued-bytes bound, the node lets go of what it queued, and the victim chat loses nothing", async () => {
    const { node, victim } = await start([
      `--limits.maxQueuedBytesPerSession=${PER_SESSION}`,
      `--limits.maxQueuedBytes=${NODE_WIDE}`,
      // Every reader is cut here: the address is not barred (the next test bars it).
      `--limits.slowReaderCutsPerMinutePerAddress=${READERS * ROUNDS}`,
    ]);
    const before = await scrape(node);
    const externalBefore = before("hermes_nodejs_external_memory_bytes");

    const attacker = attack(node, "slow-reader", { readers: READERS, rounds: ROUNDS });
    // The queue gauge, sampled while the attack lasts: it never holds more than the node-wide bound.
    let mostQueued = 0;
    let attacking = true;
    void attacker.report.finally(() => {
      attacking = false;
    });
    while (attacking) {
      const m = await scrape(node);
      mostQueued = Math.max(mostQueued, m("hermes_app_queued_bytes"));
      await sleep(50);
    }
    const report = await attacker.report;
    expect(report).toMatchObject({ readers: READERS * ROUNDS, refused: 0, cut: READERS * ROUNDS, notCut: 0 });
    expect(mostQueued).toBeLessThanOrEqual(NODE_WIDE + MAX_FRAME);

    const cuts = (await scrape(node))("hermes_limit_refusals_total", { limit: "queued_bytes" });
    expect(cuts).toBe(READERS * ROUNDS);
    // Each cut stream had more than PER_SESSION queued (or the node more than NODE_WIDE).
    const queuedInAll = cuts * PER_SESSION;
    await until(
      async () => (await scrape(node!))("hermes_app_queued_bytes") < 64 * 1024,
      10_000,
      "hermes_app_queued_bytes to fall back to about 0 once the readers were cut",
    );
    // Had the node kept the frames of cut streams, it would hold at least queuedInAll.
    const external = await until(
      async () => {
        const grown = (await scrape(node!))("hermes_nodejs_external_memory_bytes") - externalBefore;
        return grown < queuedInAll / 4 ? { grown } : undefined;
      },
      15_000,
      `external memory to grow by less than a quarter of the ${queuedInAll} bytes queued in all`,
    );
    expect(external.grown).toBeLessThan(queuedInAll / 4);
    expect(node.logs.some((l) => l.msg === "app reads too slowly: stream closed")).toBe(true);

    expect(lostNothing(await victim.stop())).toEqual(NOTHING_LOST);
  });

  it("from one address, is cut a few times and then that address is refused, and the victim chat loses nothing", async () => {
    const { node, victim } = await start([
      `--limits.maxQueuedBytesPerSession=${SMALL_PER_SESSION}`,
      `--limits.slowReaderCutsPerMinutePerAddress=${CUTS_PER_MINUTE}`,
    ]);
    const report = await attack(node, "slow-reader", { readers: 2, "duration-ms": ATTACK_MS }).report;
    const m = await scrape(node);
    // The budget (CUTS_PER_MINUTE at once) and what refills while the attack lasts, no more.
    const allowed = CUTS_PER_MINUTE + Math.ceil((CUTS_PER_MINUTE * ATTACK_MS) / 60_000);
    const cuts = m("hermes_limit_refusals_total", { limit: "queued_bytes" });
    expect(cuts).toBeGreaterThanOrEqual(CUTS_PER_MINUTE);
    expect(cuts).toBeLessThanOrEqual(allowed);
    expect(report.cut).toBe(cuts);
    expect(report.refused).toBeGreaterThan(0);
    // Its new connections are turned away at the door (held unanswered, then closed).
    expect(m("hermes_connections_refused_total", { port: "app", reason: "slow_reader" })).toBeGreaterThan(0);
    expect(node.logs.some((l) => l.msg === "connection refused" && l.reason === "slow_reader")).toBe(true);

    expect(lostNothing(await victim.stop())).toEqual(NOTHING_LOST);
  });
});
