import type { MemberState } from "../mesh/membership/index.js";
import type { Mesh } from "../mesh/mesh.js";

/** One row of /mesh/members (docs/operating-a-node.md). */
export interface MemberView {
  nodeId: string;
  self: boolean;
  address: string;
  appEndpoint: string;
  state: MemberState;
  incarnation: number;
  stateChangedAt: string;
  /** Apps this node's directory places on that node. */
  apps: number;
  /** Whether this node's tieline stream to it is up; null for this node itself. */
  tieline: boolean | null;
}

/** /mesh/routes: the app directory, node by node. */
export interface RoutesView {
  nodeId: string;
  nodes: { nodeId: string; version: number; apps: { appId: string; connectedAt: string }[] }[];
}

export function memberView(mesh: Mesh): MemberView[] {
  const counts = mesh.directory.counts();
  return mesh.membership.members().map((m) => ({
    nodeId: m.id,
    self: m.id === mesh.nodeId,
    address: m.address,
    appEndpoint: m.meta.app ?? "",
    state: m.state,
    incarnation: m.incarnation,
    stateChangedAt: new Date(m.stateChangedAt).toISOString(),
    apps: counts.get(m.id) ?? 0,
    tieline: m.id === mesh.nodeId ? null : mesh.isTielineUp(m.id),
  }));
}

export function routesView(mesh: Mesh): RoutesView {
  return {
    nodeId: mesh.nodeId,
    nodes: mesh.directory.snapshots().map((s) => ({
      nodeId: s.nodeId,
      version: s.version,
      apps: s.apps.map((a) => ({ appId: a.appId, connectedAt: new Date(a.connectedAtMs).toISOString() })),
    })),
  };
}

/** The mesh's admin routes. */
export function meshRoutes(mesh: Mesh): Record<string, () => unknown> {
  return { "/mesh/members": () => memberView(mesh), "/mesh/routes": () => routesView(mesh) };
}
