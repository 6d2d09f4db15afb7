import { stringify } from "yaml";
import type { Cluster } from "./cluster.js";

/** A HermesNode manifest. */
export function hermesNodeYaml(name: string, spec: Record<string, unknown> = {}): string {
  return stringify({ apiVersion: "hermes.io/v1alpha1", kind: "HermesNode", metadata: { name }, spec });
}

export type Condition = {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
};

export const condition = (hn: { status?: { conditions?: Condition[] } } | undefined, type: string) =>
  hn?.status?.conditions?.find((c) => c.type === type);

/**
 * Writes a StatefulSet's status as the StatefulSet controller would (there is none here), for its
 * current generation.
 */
export async function writeStatefulSetStatus(
  cluster: Cluster,
  namespace: string,
  name: string,
  { replicas, ready = replicas, updated = replicas }: { replicas: number; ready?: number; updated?: number },
): Promise<void> {
  const sts = await cluster.mustGet("statefulset", name, namespace);
  const status = {
    observedGeneration: sts.metadata.generation,
    currentRevision: "r1",
    updateRevision: "r1",
    replicas,
    readyReplicas: ready,
    availableReplicas: ready,
    updatedReplicas: updated,
    currentReplicas: updated,
  };
  await cluster.patchStatus("statefulset", name, namespace, status);
}
