import type { V1PodDisruptionBudget } from "@kubernetes/client-node";
import type { ResolvedSpec } from "../api/defaults.js";
import type { HermesNode } from "../api/types.js";
import { namesFor, ownedMeta, selectorLabels } from "./meta.js";

/** Limits voluntary evictions (drains, upgrades) so the mesh keeps a quorum of live members. */
export function buildDisruptionBudget(hn: HermesNode, spec: ResolvedSpec): V1PodDisruptionBudget | undefined {
  if (!spec.disruptionBudget.enabled) return undefined;
  const name = hn.metadata.name;
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: ownedMeta(hn, namesFor(name).disruptionBudget, "node"),
    spec: {
      maxUnavailable: spec.disruptionBudget.maxUnavailable,
      selector: { matchLabels: selectorLabels(name) },
      // A pod that never became ready may be evicted anyway: it serves nobody.
      unhealthyPodEvictionPolicy: "AlwaysAllow",
    },
  };
}
