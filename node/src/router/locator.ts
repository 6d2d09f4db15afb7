import type { nodemesh } from "@hermes/proto";

/**
 * Where apps that are not connected to this node live. The single-node router has no other
 * nodes; the mesh provides a locator backed by its routing table.
 */
export interface AppLocation {
  nodeId: string;
  /** Where that node serves apps (host:port). */
  appEndpoint: string;
}

export interface AppLocator {
  locate(appId: string): AppLocation | undefined;
  /** Other nodes' app endpoints, handed to apps for failover. */
  endpoints(): AppLocation[];
}

export const localOnly: AppLocator = {
  locate: () => undefined,
  endpoints: () => [],
};

/** What the router needs of the mesh for chats with apps on other nodes. */
export interface MeshLink extends AppLocator {
  /** Sends a tieline frame to a node; false when it cannot be sent now (no route, backed up). */
  sendRoute(nodeId: string, frame: nodemesh.RouteFrame): boolean;
  observeRelayLatency(seconds: number): void;
  appConnected(appId: string, atMs: number): void;
  appDisconnected(appId: string): void;
}
