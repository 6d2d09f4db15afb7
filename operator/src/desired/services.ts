import type { V1Service } from "@kubernetes/client-node";
import type { ResolvedSpec } from "../api/defaults.js";
import type { HermesNode } from "../api/types.js";
import { namesFor, ownedMeta, PORTS, selectorLabels } from "./meta.js";

/**
 * The headless Service: one DNS record per pod (<pod>.<name>-mesh...) and an SRV record for the
 * port named "mesh", which is how nodes find each other. Not-ready pods are published too,
 * because a node only becomes ready after it has joined the others.
 */
export function buildHeadlessService(hn: HermesNode): V1Service {
  const name = hn.metadata.name;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: ownedMeta(hn, namesFor(name).headlessService, "mesh"),
    spec: {
      clusterIP: "None",
      publishNotReadyAddresses: true,
      selector: selectorLabels(name),
      ports: [
        { name: "mesh", port: PORTS.mesh, targetPort: "mesh", protocol: "TCP", appProtocol: "grpc" },
        { name: "app", port: PORTS.app, targetPort: "app", protocol: "TCP", appProtocol: "grpc" },
        // Named "metrics" for ServiceMonitors; serves /healthz, /readyz, /metrics and /mesh/*.
        { name: "metrics", port: PORTS.admin, targetPort: "admin", protocol: "TCP", appProtocol: "http" },
      ],
    },
  };
}

/** The Service apps connect to: ready nodes only, any of them. */
export function buildClientService(hn: HermesNode, spec: ResolvedSpec): V1Service {
  const name = hn.metadata.name;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: ownedMeta(hn, namesFor(name).clientService, "client", {
      annotations: spec.service.annotations,
    }),
    spec: {
      type: spec.service.type,
      selector: selectorLabels(name),
      ports: [
        { name: "app", port: spec.service.port, targetPort: "app", protocol: "TCP", appProtocol: "grpc" },
      ],
    },
  };
}
