import type { Step } from "./faults.js";

/**
 * Outages of one direction, read from when its new messages were delivered, and how each one
 * compares with the fault that caused it. Pure.
 *
 * An outage is a stretch longer than gapMs without a new delivery: from the last delivery
 * before it to the first after it (`to` undefined: still out when the window closed). The
 * fault it is judged against is the last step injected within it (or up to gapMs before its
 * last delivery, which in-flight messages may follow): when steps follow each other (a rolling
 * restart), each later one may keep it going, and only the last one's recovery is in question.
 * Recovery is from that injection to the first delivery after; the target is the step's
 * reference time (detection, or the fault's end if that came first) + slackMs.
 */

export interface Outage {
  from: number;
  to?: number;
}

export interface Judged extends Outage {
  /** Index of the step that caused it; undefined when no fault was near. */
  step?: number;
  /** From the step's injection to the first delivery after; undefined if it never came. */
  recoveryMs?: number;
  /** The target for recoveryMs. */
  allowedMs?: number;
  /** Caused by a step and over its target, or never over. */
  late: boolean;
}

export function findOutages(
  deliveries: readonly number[],
  window: Outage & { to: number },
  gapMs: number,
): Outage[] {
  const outages: Outage[] = [];
  let last = window.from;
  for (const at of [...deliveries].sort((x, y) => x - y)) {
    if (at - last > gapMs) outages.push({ from: last, to: at });
    last = Math.max(last, at);
  }
  if (window.to - last > gapMs) outages.push({ from: last });
  return outages;
}

/** The time a step's recovery is measured against: detection, or the fault's end if sooner. */
export function referenceAt(step: Step): number {
  return Math.min(step.detectedAt ?? Number.POSITIVE_INFINITY, step.endedAt);
}

export function judgeOutage(outage: Outage, steps: readonly Step[], gapMs: number, slackMs: number): Judged {
  const end = outage.to ?? Number.POSITIVE_INFINITY;
  const step = steps.findLastIndex((s) => s.at >= outage.from - gapMs && s.at <= end);
  if (step < 0) return { ...outage, late: false };
  const cause = steps[step]!;
  const allowedMs = referenceAt(cause) - cause.at + slackMs;
  if (outage.to === undefined) return { ...outage, step, allowedMs, late: true };
  const recoveryMs = outage.to - cause.at;
  return { ...outage, step, recoveryMs, allowedMs, late: recoveryMs > allowedMs };
}
