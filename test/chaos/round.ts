import { FAULTS, type FaultName, type Step } from "./faults.js";
import type { AppFleet } from "./fleet.js";
import type { ChaosMesh } from "./mesh.js";
import { findOutages, type Judged, judgeOutage } from "./outages.js";
import { victimWithApps } from "./plan.js";
import type { AppEvent, PairStatus, Way, WayTally } from "./protocol.js";
import { sleep, until } from "./wait.js";

/** Traffic before the fault, to see every pair flowing. */
const WARMUP_MS = 2000;
/** After the fault ended, how long every direction gets to deliver again. */
const RECOVERY_BOUND_MS = 20_000;
/** Traffic after recovery, before the round's sends are settled. */
const STEADY_MS = 2000;
/** How long the round's unsettled sends get once new ones stop (the SDK resends after 5 s). */
export const DRAIN_MS = 10_000;
/** After a fault, how long the mesh gets to be whole again (all alive everywhere, all ready). */
const WHOLE_MS = 60_000;
/** A stalled pair gets this long to open a new chat. */
const RENEW_MS = 30_000;
/** No new delivery for longer than this is an outage (messages go every 100 ms each way). */
export const GAP_MS = 1000;
/** The target: messages flow again within the mesh's detection time + 2 s. */
export const SLACK_MS = 2000;
/** What tells an app that something happened. */
const TOLD: readonly AppEvent["kind"][] = ["disconnected", "unreachable", "chat-ended", "send-rejected"];

export interface RoundPlan {
  round: number;
  fault: FaultName;
  victim: number;
}

export interface OutageResult extends Judged {
  pair: string;
  way: Way;
}

export interface RoundResult extends RoundPlan {
  /** The node the seed drew; `victim` is where the fault went (the drawn node, or the next with apps). */
  drawn: number;
  /** Apps connected to the victim when the fault began. */
  appsOnVictim: number;
  startedAt: number;
  durationMs: number;
  steps: Step[];
  ways: Omit<WayTally, "deliveries">[];
  outages: OutageResult[];
  /** Chats the SDK ended, by pair and app, with the reason it gave. */
  chatEnds: { pair: string; app: string; at: number; reason: string }[];
  /** Pairs whose chat was still open but stuck at the end of the round: the harness renewed them. */
  stalled: { pair: string; why: string }[];
  /** Per step, each app's first notice (disconnected, chat ended, send rejected). */
  told: { app: string; step: number; ms: number; kind: string }[];
  /** SDK 'error' events by what they said (e.g. errors for frames of an ended chat). */
  appErrors: Record<string, number>;
  /** Anything that makes the round less than clean, e.g. a pair not flowing before the fault. */
  notes: string[];
  /** What the apps of each pair that broke a promise were told, in order (repeated rejections left out). */
  evidence: AppEvent[];
}

/**
 * One round: steady traffic, the fault, recovery, steady traffic, then every send of the round
 * settled (bounded) and the books of every direction read. Pairs left stuck are given a new chat
 * so that the next round starts clean (and the stall is reported here).
 */
export async function runRound(mesh: ChaosMesh, fleet: AppFleet, plan: RoundPlan): Promise<RoundResult> {
  const notes: string[] = [];
  const startedAt = Date.now();
  await fleet.round();
  await sleep(WARMUP_MS);
  const before = await fleet.status();
  for (const status of before)
    for (const way of ["ab", "ba"] as const)
      if (status.lastDeliveryAt[way] < startedAt)
        notes.push(`${status.pair} ${way} not flowing before the fault`);
  const appsPerNode = appsByNode(before, mesh.ids);
  const victim = victimWithApps(plan.victim, appsPerNode);

  const steps: Step[] = await FAULTS[plan.fault].run(mesh, victim);
  const faultOverAt = Date.now();
  if (!(await mesh.whole(WHOLE_MS))) throw new Error(`the mesh was not whole ${WHOLE_MS} ms after the fault`);
  await until(
    async () =>
      (await fleet.status()).every(
        (s) => s.lastDeliveryAt.ab > faultOverAt && s.lastDeliveryAt.ba > faultOverAt,
      ),
    { timeoutMs: RECOVERY_BOUND_MS, everyMs: 250 },
  );
  await sleep(STEADY_MS);
  const pausedAt = Date.now();
  await fleet.pause();
  await fleet.settle(DRAIN_MS);
  const tally = await fleet.tally();
  for (const step of steps) step.detectedAt = mesh.detectedAt(step.victim, step.at);

  const outages = tally.ways.flatMap((w) =>
    findOutages(w.deliveries, { from: startedAt, to: pausedAt }, GAP_MS).map((o) => ({
      pair: w.pair,
      way: w.way,
      ...judgeOutage(o, steps, GAP_MS, SLACK_MS),
    })),
  );
  const stalled = new Map<string, string>();
  for (const w of tally.ways) {
    if (w.unsettled > 0)
      stalled.set(w.pair, `${w.way}: ${w.unsettled} sends unsettled ${DRAIN_MS} ms after the round`);
  }
  for (const o of outages)
    if (o.to === undefined && !stalled.has(o.pair))
      stalled.set(o.pair, `${o.way}: no delivery since the fault`);
  const chatEnds = tally.events
    .filter((e) => e.kind === "chat-ended")
    .map((e) => ({ pair: e.app.split(".")[0]!, app: e.app, at: e.at, reason: e.detail }));
  if (stalled.size > 0) {
    const { failed } = await fleet.renew([...stalled.keys()], RENEW_MS);
    for (const pair of failed) notes.push(`${pair}: no new chat within ${RENEW_MS} ms`);
  }
  const appErrors: Record<string, number> = {};
  for (const e of tally.events) if (e.kind === "error") appErrors[e.detail] = (appErrors[e.detail] ?? 0) + 1;
  const broken = new Set([
    ...stalled.keys(),
    ...chatEnds.map((e) => e.pair),
    ...tally.ways.filter((w) => w.lost + w.duplicated + w.reordered + w.corrupted > 0).map((w) => w.pair),
  ]);
  return {
    ...plan,
    victim,
    drawn: plan.victim,
    appsOnVictim: appsPerNode[victim] ?? 0,
    startedAt,
    durationMs: Date.now() - startedAt,
    steps,
    ways: tally.ways.map(({ deliveries: _, ...numbers }) => numbers),
    outages,
    chatEnds,
    stalled: [...stalled].map(([pair, why]) => ({ pair, why })),
    told: firstNotices(tally.events, steps),
    appErrors,
    notes,
    evidence: evidenceOf(tally.events, broken),
  };
}

/** How many apps have a session with each node (by index). */
function appsByNode(statuses: PairStatus[], ids: readonly string[]): number[] {
  const counts = ids.map(() => 0);
  for (const s of statuses)
    for (const nodeId of [s.nodeIds.a, s.nodeIds.b]) {
      const index = ids.indexOf(nodeId);
      if (index >= 0) counts[index]!++;
    }
  return counts;
}

/** The events of these pairs, in order, each app's repeated send rejections after the first left out. */
function evidenceOf(events: AppEvent[], pairs: Set<string>): AppEvent[] {
  const rejected = new Set<string>();
  return [...events]
    .sort((x, y) => x.at - y.at)
    .filter((e) => {
      if (!pairs.has(e.app.split(".")[0]!)) return false;
      if (e.kind !== "send-rejected") return true;
      if (rejected.has(e.app)) return false;
      rejected.add(e.app);
      return true;
    });
}

/** For each step, each app's first notice within the step (until the next one began). */
function firstNotices(events: AppEvent[], steps: Step[]): RoundResult["told"] {
  const told: RoundResult["told"] = [];
  for (const [i, step] of steps.entries()) {
    const until = steps[i + 1]?.at ?? Number.POSITIVE_INFINITY;
    const seen = new Set<string>();
    for (const e of [...events].sort((x, y) => x.at - y.at)) {
      if (e.at < step.at || e.at >= until || !TOLD.includes(e.kind) || seen.has(e.app)) continue;
      seen.add(e.app);
      told.push({ app: e.app, step: i, ms: e.at - step.at, kind: e.kind });
    }
  }
  return told;
}
