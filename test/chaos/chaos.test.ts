import { writeFile } from "node:fs/promises";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { requireBuild } from "../integration/cli.js";
import { requireNetnsTools } from "../integration/netns.js";
import { continuityFailures, integrityFailures, timingFailures } from "./checks.js";
import { AppFleet } from "./fleet.js";
import { ChaosMesh } from "./mesh.js";
import { APP_PROCESSES, NODE_FLAGS, pairsFor, planFromEnv, TRAFFIC } from "./plan.js";
import { faultWhat, renderTables, roundLine, summarize } from "./report.js";
import { type RoundResult, runRound } from "./round.js";

// The chaos suite (README.md beside this file): real nodes with mutual TLS in network
// namespaces, pairs of SDK apps in their own processes checking every message, one fault per
// round on a node drawn from the seed. The first test runs every round and prints the tables;
// the tests after it judge each fault three ways, kept apart so a failure says which promise broke.

const plan = planFromEnv(process.env);
/** A bound on the whole campaign, not a budget: every wait inside a round has its own. */
const CAMPAIGN_BOUND_MS = 120_000 + plan.rounds * 240_000;

let mesh: ChaosMesh | undefined;
let fleet: AppFleet | undefined;
const results: RoundResult[] = [];
let campaignError: unknown;

afterAll(async () => {
  await fleet?.stop();
  await mesh?.destroy();
}, 120_000);

describe(`chaos: ${plan.rounds} rounds, seed ${plan.seed}, ${plan.nodes} nodes`, () => {
  it(
    "runs every round, each with every pair flowing before its fault",
    async () => {
      try {
        requireBuild();
        requireNetnsTools();
        mesh = await ChaosMesh.start({ size: plan.nodes, flags: NODE_FLAGS });
        fleet = await AppFleet.start({
          appEndpoints: mesh.appEndpoints,
          pairs: pairsFor(plan.nodes),
          traffic: TRAFFIC,
          processes: APP_PROCESSES,
          timeoutMs: 60_000,
        });
        for (const round of plan.order) {
          const result = await runRound(mesh, fleet, round);
          results.push(result);
          console.info(roundLine(result, plan.rounds));
        }
      } catch (error) {
        campaignError = error;
        throw error;
      } finally {
        const summaries = summarize(results, plan.faults);
        const faults = plan.faults.map((f) => `  ${f}: ${faultWhat(f)}`).join("\n");
        console.info(
          `\nchaos, seed ${plan.seed}, ${results.length} of ${plan.rounds} rounds\n${faults}\n\n${renderTables(summaries)}`,
        );
        await writeFile(plan.report, JSON.stringify({ plan, summaries, results }, null, 2));
        if (fleet) console.info(`the app runners' event loops stalled up to ${fleet.worstStallMs} ms`);
        console.info(`report: ${plan.report}`);
      }
      expect(results.length).toBe(plan.rounds);
      expect(results.flatMap((r) => r.notes.map((note) => `round ${r.round}: ${note}`))).toEqual([]);
    },
    CAMPAIGN_BOUND_MS,
  );

  for (const fault of plan.faults) {
    describe(`${fault}: ${faultWhat(fault)}`, () => {
      const rounds = () => results.filter((r) => r.fault === fault);
      beforeEach(() => {
        if (rounds().length === 0)
          throw new Error(`no round of ${fault} ran${campaignError ? `: ${String(campaignError)}` : ""}`);
      });

      it("no acked message is lost, none is duplicated, reordered or corrupted", () => {
        expect(integrityFailures(rounds())).toEqual([]);
      });

      it("every chat continues across the fault: none ends, none stalls", () => {
        expect(continuityFailures(rounds())).toEqual([]);
      });

      it("messages flow again within the mesh's detection time (or the fault's end) + 2 s", () => {
        expect(timingFailures(rounds())).toEqual([]);
      });
    });
  }
});
