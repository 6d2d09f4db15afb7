/** The API resources the operator reads or writes, and their REST paths. */
export interface Resource {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

const r = (group: string, version: string, plural: string, kind: string): Resource => ({
  group,
  version,
  plural,
  kind,
});

export const RESOURCES = {
  hermesNode: r("hermes.io", "v1alpha1", "hermesnodes", "HermesNode"),
  statefulSet: r("apps", "v1", "statefulsets", "StatefulSet"),
  service: r("", "v1", "services", "Service"),
  configMap: r("", "v1", "configmaps", "ConfigMap"),
  secret: r("", "v1", "secrets", "Secret"),
  pod: r("", "v1", "pods", "Pod"),
  disruptionBudget: r("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"),
  serviceMonitor: r("monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor"),
  certificate: r("cert-manager.io", "v1", "certificates", "Certificate"),
  lease: r("coordination.k8s.io", "v1", "leases", "Lease"),
  event: r("events.k8s.io", "v1", "events", "Event"),
} as const;

export type ResourceName = keyof typeof RESOURCES;

export const groupVersion = (res: Resource) => (res.group ? `${res.group}/${res.version}` : res.version);

/** /api/v1 or /apis/<group>/<version>. */
export const apiPrefix = (res: Resource) =>
  res.group ? `/apis/${res.group}/${res.version}` : `/api/${res.version}`;

/** Collection path (namespace optional: all namespaces), or an object's path with a name. */
export function resourcePath(res: Resource, namespace?: string, name?: string, subresource?: string): string {
  let path = apiPrefix(res);
  if (namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${res.plural}`;
  if (name) path += `/${encodeURIComponent(name)}`;
  if (name && subresource) path += `/${subresource}`;
  return path;
}

/** The resource for an object's apiVersion and kind, among those above. */
export function resourceOf(apiVersion: string | undefined, kind: string | undefined): Resource {
  const found = Object.values(RESOURCES).find((res) => groupVersion(res) === apiVersion && res.kind === kind);
  if (!found) throw new Error(`no resource known for ${apiVersion} ${kind}`);
  return found;
}
