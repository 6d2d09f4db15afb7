import { endedPairs } from "./checks.js";
import { FAULTS, type FaultName } from "./faults.js";
import { DRAIN_MS, GAP_MS, type RoundResult, SLACK_MS } from "./round.js";

/** The campaign's results per fault, and the two tables printed after a run. Pure. */

export interface FaultSummary {
  fault: FaultName;
  rounds: number;
  /** Apps connected to the victim when each fault began, summed over rounds. */
  appsHit: number;
  sent: number;
  acked: number;
  delivered: number;
  lost: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  rejected: number;
  rejectedDelivered: number;
  unsettled: number;
  /** Pairs whose chat ended or stalled, counted once per round, by the first reason. */
  chatsEnded: Record<string, number>;
  /** Each app's first notice (disconnected, chat ended, send rejected) after a step. */
  toldMs: number[];
  /** From the step to each chat end the SDK reported. */
  chatEndMs: number[];
  /** Detection per step; undefined where the mesh never declared the victim dead. */
  detectionMs: (number | undefined)[];
  /** Recovery per outage a step caused; undefined where flow never came back. */
  recoveryMs: (number | undefined)[];
  late: number;
  appErrors: number;
}

export function summarize(results: readonly RoundResult[], faults: readonly FaultName[]): FaultSummary[] {
  return faults.map((fault) => {
    const rounds = results.filter((r) => r.fault === fault);
    const ways = rounds.flatMap((r) => r.ways);
    const sum = (pick: (w: (typeof ways)[number]) => number) => ways.reduce((n, w) => n + pick(w), 0);
    const chatsEnded: Record<string, number> = {};
    for (const round of rounds)
      for (const [, why] of endedPairs(round)) chatsEnded[why] = (chatsEnded[why] ?? 0) + 1;
    const outages = rounds.flatMap((r) => r.outages.filter((o) => o.step !== undefined));
    return {
      fault,
      rounds: rounds.length,
      appsHit: rounds.reduce((n, r) => n + r.appsOnVictim, 0),
      sent: sum((w) => w.sent),
      acked: sum((w) => w.acked),
      delivered: sum((w) => w.delivered),
      lost: sum((w) => w.lost),
      duplicated: sum((w) => w.duplicated),
      reordered: sum((w) => w.reordered),
      corrupted: sum((w) => w.corrupted),
      rejected: sum((w) => Object.values(w.rejected).reduce((n, k) => n + k, 0)),
      rejectedDelivered: sum((w) => w.rejectedDelivered),
      unsettled: sum((w) => w.unsettled),
      chatsEnded,
      toldMs: rounds.flatMap((r) => r.told.map((t) => t.ms)),
      chatEndMs: rounds.flatMap((r) =>
        r.chatEnds.flatMap((end) => {
          const step = r.steps.findLast((s) => s.at <= end.at);
          return step ? [end.at - step.at] : [];
        }),
      ),
      detectionMs: rounds.flatMap((r) =>
        r.steps.map((s) => (s.detectedAt === undefined ? undefined : s.detectedAt - s.at)),
      ),
      recoveryMs: outages.map((o) => o.recoveryMs),
      late: outages.filter((o) => o.late).length,
      appErrors: rounds.reduce((n, r) => n + Object.values(r.appErrors).reduce((k, v) => k + v, 0), 0),
    };
  });
}

const seconds = (ms: number | undefined) => (ms === undefined ? "never" : (ms / 1000).toFixed(1));

/** "median / max" in seconds, "never" counting as the longest; "—" when there is nothing. */
function spread(values: readonly (number | undefined)[]): string {
  if (values.length === 0) return "—";
  const sorted = [...values].sort(
    (x, y) => (x ?? Number.POSITIVE_INFINITY) - (y ?? Number.POSITIVE_INFINITY),
  );
  return `${seconds(sorted[Math.floor((sorted.length - 1) / 2)])} / ${seconds(sorted.at(-1))}`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

export function renderTables(summaries: readonly FaultSummary[]): string {
  const messages = table(
    [
      "fault",
      "rounds",
      "apps hit",
      "sent",
      "acked",
      "delivered",
      "lost",
      "dup",
      "reordered",
      "corrupt",
      "rejected",
      "rej+dlv",
      "unsettled",
    ],
    summaries.map((s) => [
      s.fault,
      `${s.rounds}`,
      `${s.appsHit}`,
      `${s.sent}`,
      `${s.acked}`,
      `${s.delivered}`,
      `${s.lost}`,
      `${s.duplicated}`,
      `${s.reordered}`,
      `${s.corrupted}`,
      `${s.rejected}`,
      `${s.rejectedDelivered}`,
      `${s.unsettled}`,
    ]),
  );
  const chats = table(
    [
      "fault",
      "chats ended (why)",
      "told s (n)",
      "chat end s (n)",
      "detected s",
      "recovered s",
      "late",
      "app errors",
    ],
    summaries.map((s) => {
      const ended = Object.entries(s.chatsEnded).sort((x, y) => y[1] - x[1]);
      const total = ended.reduce((n, [, k]) => n + k, 0);
      const undetected = s.detectionMs.filter((d) => d === undefined).length;
      return [
        s.fault,
        total === 0 ? "0" : `${total} (${ended.map(([why, k]) => `${why} ${k}`).join(", ")})`,
        `${spread(s.toldMs)} (${s.toldMs.length})`,
        `${spread(s.chatEndMs)} (${s.chatEndMs.length})`,
        `${spread(s.detectionMs.filter((d) => d !== undefined))}${undetected ? ` (${undetected} undetected)` : ""}`,
        spread(s.recoveryMs),
        `${s.late}/${s.recoveryMs.length}`,
        `${s.appErrors}`,
      ];
    }),
  );
  const legend = [
    "apps hit: apps connected to the victim when the fault began (rolling restart: the first node).",
    `rej+dlv: rejected, yet delivered. unsettled: neither acked nor rejected ${DRAIN_MS / 1000} s after the round.`,
    "chats ended: pairs per round whose chat ended (first reason) or stalled. Times: median / max.",
    "told: each app's first disconnected / chat ended / send rejected after the fault; chat end: each chat end an app saw.",
    `recovered: fault to first new delivery, per direction that had an outage (> ${GAP_MS / 1000} s without one).`,
    `late: outages over the target (detection, or the fault's end if sooner, + ${SLACK_MS / 1000} s).`,
  ];
  return `${messages}\n\n${chats}\n\n${legend.join("\n")}`;
}

/** One line per round, printed as the campaign runs. */
export function roundLine(r: RoundResult, of: number): string {
  const [s] = summarize([r], [r.fault]);
  const ended = Object.entries(s!.chatsEnded)
    .map(([why, k]) => `${why} ${k}`)
    .join(", ");
  return (
    `round ${r.round + 1}/${of} ${r.fault} on node-${r.victim} (${r.appsOnVictim} apps): sent ${s!.sent} lost ${s!.lost} dup ${s!.duplicated} ` +
    `reordered ${s!.reordered}; chats ended ${ended || 0}; detected ${spread(s!.detectionMs.filter((d) => d !== undefined))} s; ` +
    `recovered ${spread(s!.recoveryMs)} s (${s!.late} late)${r.notes.length ? `; ${r.notes.join("; ")}` : ""}`
  );
}

export const faultWhat = (fault: FaultName) => FAULTS[fault].what;
