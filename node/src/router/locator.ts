import type { nodemesh } from "@hermes/proto";
import type { ConnectProof } from "../protocol/index.js";

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
  /** An app connected here, with its signed Connect: the proof other nodes need to believe it. */
  appConnected(appId: string, proof: ConnectProof): void;
  appDisconnected(appId: string): void;
  /**
   * The apps besides its own whose moves the router acts on (they take part in its chats): the
   * mesh tells it of a move of one only with the app's proof.
   */
  followApps(follows: (appId: string) => boolean): void;
}
