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
