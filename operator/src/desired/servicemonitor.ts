import type { KubernetesObject } from "@kubernetes/client-node";
import type { ResolvedSpec } from "../api/defaults.js";
import type { HermesNode } from "../api/types.js";
import { labelsFor, namesFor, ownedMeta } from "./meta.js";

/** A Prometheus Operator ServiceMonitor (monitoring.coreos.com/v1); no typed model exists for it. */
export interface ServiceMonitor extends KubernetesObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    endpoints: { port: string; path: string; interval: string; scheme: string }[];
    podTargetLabels?: string[];
  };
}

/**
 * Scrapes every node (not-ready ones too) through the headless Service's "metrics" port. Only
 * built when the spec asks for it; the caller also checks that the CRD is served.
 */
export function buildServiceMonitor(hn: HermesNode, spec: ResolvedSpec): ServiceMonitor | undefined {
  if (!spec.serviceMonitor.enabled) return undefined;
  const name = hn.metadata.name;
  return {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "ServiceMonitor",
    metadata: ownedMeta(hn, namesFor(name).serviceMonitor, "metrics", { labels: spec.serviceMonitor.labels }),
    spec: {
      selector: { matchLabels: { ...labelsFor(name, "mesh") } },
      endpoints: [
        { port: "metrics", path: "/metrics", interval: spec.serviceMonitor.interval, scheme: "http" },
      ],
      podTargetLabels: ["app.kubernetes.io/instance"],
    },
  };
}
