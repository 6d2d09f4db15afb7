import { stringify } from "yaml";

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
