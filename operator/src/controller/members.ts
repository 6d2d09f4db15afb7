import type { V1Pod } from "@kubernetes/client-node";
import type { HermesNode } from "../api/types.js";
import { PORTS, selectorLabels } from "../desired/meta.js";
import type { KubeClient } from "../kube/client.js";
import { RESOURCES, resourcePath } from "../kube/resources.js";

/**
 * What the ready nodes of a HermesNode say about the mesh, asked over their admin port
 * (GET /mesh/members), and when to ask again. The operator has no other view of membership:
 * StatefulSet events tell it when pods change, but a node is ready once it has joined one peer,
 * and it takes a few more protocol periods until it sees all the others and they see it alive.
 * So a mesh that has not converged is asked again soon rather than at the next resync.
 */

/** One answer per ready pod, in pod-name order: the alive members it sees, or undefined if it did not answer. */
export type MemberAnswers = (number | undefined)[];

export interface MeshView {
  /** The fewest alive members any ready node sees; undefined when none answered. */
  members?: number;
  /** Every ready node answered and sees exactly the ready nodes alive. */
  converged: boolean;
}

/**
 * Alive members in a /mesh/members answer. Accepts a list or { members: [...] }; an entry counts
 * when its state (or status) is "alive", or when it carries no state at all.
 */
export function countAliveMembers(body: unknown): number | undefined {
  const list = Array.isArray(body) ? body : (body as { members?: unknown })?.members;
  if (!Array.isArray(list)) return undefined;
  return list.filter((m) => {
    const state = (m as { state?: unknown; status?: unknown })?.state ?? (m as { status?: unknown })?.status;
    return state === undefined || String(state).toLowerCase() === "alive";
  }).length;
}

/**
 * The mesh as its ready nodes see it. The fewest is reported because a node that has just
 * restarted, or is cut off, sees fewer than the rest: the count only reaches the number of ready
 * nodes when every one of them sees all the others.
 */
export function judgeMembers(answers: MemberAnswers): MeshView {
  const heard = answers.filter((n): n is number => n !== undefined);
  return {
    ...(heard.length > 0 ? { members: Math.min(...heard) } : {}),
    converged:
      answers.length > 0 && heard.length === answers.length && heard.every((n) => n === answers.length),
  };
}

/** Re-checks of a mesh that has not converged. */
export const MEMBER_RECHECK = {
  /** The first re-check; a joining node is usually seen by all within a few protocol periods. */
  minDelayMs: 1000,
  /** Re-checks then follow at about the time already waited (1, 1, 2, 4, 8 s…), at most this far apart. */
  maxDelayMs: 15_000,
  /** After this long with the same answers, the mesh is not about to converge: back to the usual resync. */
  windowMs: 2 * 60_000,
} as const;

/** Since when a HermesNode's mesh has not converged, and what its nodes said last. */
export interface MemberRecheck {
  /** When the number of ready pods last changed: re-checks back off from here. */
  sinceMs: number;
  readyPods: number;
  /** When the answers last changed: the window runs from here. */
  changedMs: number;
  answers: string;
}

/**
 * When to ask the nodes again, from what they just said. Nothing while the mesh has converged or
 * no pod is ready. Otherwise soon, backing off from when the number of ready pods last changed,
 * for as long as the answers keep changing and for a window after they stop. A rolling update
 * replaces pods without changing their number for minutes on end; its mesh is still moving, and
 * the status must follow it to the end. A mesh stuck on the same answers costs a bounded number of
 * reconciles, however many other events also reconcile it; one that keeps changing, one every
 * maxDelayMs at most.
 */
export function planMemberRecheck(
  previous: MemberRecheck | undefined,
  answers: MemberAnswers,
  nowMs: number,
): { recheck?: MemberRecheck; delayMs?: number } {
  if (answers.length === 0 || judgeMembers(answers).converged) return {};
  const said = answers.join(",");
  let recheck: MemberRecheck;
  if (!previous || previous.readyPods !== answers.length)
    recheck = { sinceMs: nowMs, readyPods: answers.length, changedMs: nowMs, answers: said };
  else if (previous.answers !== said) recheck = { ...previous, changedMs: nowMs, answers: said };
  else recheck = previous;
  if (nowMs - recheck.changedMs >= MEMBER_RECHECK.windowMs) return { recheck };
  const waitedMs = nowMs - recheck.sinceMs;
  const delayMs = Math.min(Math.max(waitedMs, MEMBER_RECHECK.minDelayMs), MEMBER_RECHECK.maxDelayMs);
  return { recheck, delayMs };
}

/** Ready pods asked at once: a large mesh is asked in a few rounds, not one node after another. */
const CONCURRENT_ASKS = 8;

/** Ready and staying: a terminating pod stays ready until it stops, but it has left the mesh. */
const isReady = (pod: V1Pod) =>
  !pod.metadata?.deletionTimestamp &&
  (pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false);

/** The admin port as the pod declares it (the StatefulSet's "admin" container port). */
const adminPort = (pod: V1Pod) =>
  pod.spec?.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === "admin")?.containerPort ??
  PORTS.admin;

/** How many members one node sees alive; undefined when it does not answer within the timeout. */
async function askNode(pod: V1Pod, timeoutMs: number): Promise<number | undefined> {
  const ip = pod.status?.podIP;
  if (!ip) return undefined;
  try {
    const host = ip.includes(":") ? `[${ip}]` : ip;
    const res = await fetch(`http://${host}:${adminPort(pod)}/mesh/members`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    return res.ok ? countAliveMembers(await res.json()) : undefined;
  } catch {
    return undefined;
  }
}

/** Asks every ready pod of the HermesNode how many members it sees alive. */
export async function askMembers(
  client: Pick<KubeClient, "list">,
  hn: HermesNode,
  timeoutMs = 2000,
): Promise<MemberAnswers> {
  const selector = Object.entries(selectorLabels(hn.metadata.name))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const pods = await client.list<V1Pod>(resourcePath(RESOURCES.pod, hn.metadata.namespace), {
    labelSelector: selector,
  });
  const ready = pods.items
    .filter(isReady)
    .sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
  const answers: MemberAnswers = [];
  for (let i = 0; i < ready.length; i += CONCURRENT_ASKS) {
    answers.push(
      ...(await Promise.all(ready.slice(i, i + CONCURRENT_ASKS).map((pod) => askNode(pod, timeoutMs)))),
    );
  }
  return answers;
}
