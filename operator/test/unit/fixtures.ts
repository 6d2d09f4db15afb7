import type { OperatorSettings } from "../../src/api/defaults.js";
import type { HermesNode, HermesNodeSpec } from "../../src/api/types.js";

export const settings: OperatorSettings = {
  defaultImage: "ghcr.io/hermes/node:0.1.0",
  clusterDomain: "cluster.local",
};

/** A HermesNode as the API server returns it (CRD defaults are applied by the operator again). */
export function hermesNode(spec: HermesNodeSpec = {}, name = "mesh", namespace = "chat"): HermesNode {
  return {
    apiVersion: "hermes.io/v1alpha1",
    kind: "HermesNode",
    metadata: { name, namespace, uid: "0b6e8f1e-5a8c-4c1e-9a53-8d0c2c1e7a11", generation: 1 },
    spec,
  };
}
