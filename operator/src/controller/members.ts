import type { V1Pod } from "@kubernetes/client-node";
import type { HermesNode } from "../api/types.js";
import { PORTS, selectorLabels } from "../desired/meta.js";
import type { KubeClient } from "../kube/client.js";
import { RESOURCES, resourcePath } from "../kube/resources.js";

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

const isReady = (pod: V1Pod) =>
  pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

/**
 * Asks one ready node how many members it sees alive (GET http://<pod IP>:7402/mesh/members).
 * Undefined when no node is ready or none answers within the timeout.
 */
export async function probeMembers(
  client: KubeClient,
  hn: HermesNode,
  timeoutMs = 2000,
): Promise<number | undefined> {
  const selector = Object.entries(selectorLabels(hn.metadata.name))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const pods = await client.list<V1Pod>(resourcePath(RESOURCES.pod, hn.metadata.namespace), {
    labelSelector: selector,
  });
  for (const pod of pods.items.filter(isReady)) {
    const ip = pod.status?.podIP;
    if (!ip) continue;
    try {
      const host = ip.includes(":") ? `[${ip}]` : ip;
      const res = await fetch(`http://${host}:${PORTS.admin}/mesh/members`, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!res.ok) continue;
      const count = countAliveMembers(await res.json());
      if (count !== undefined) return count;
    } catch {
      // try the next ready node
    }
  }
  return undefined;
}
