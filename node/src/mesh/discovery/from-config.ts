import { networkInterfaces } from "node:os";
import type { Clock } from "../../utils/clock.js";
import { parseHostPort } from "../../utils/host-port.js";
import type { MeshConfig } from "../config.js";
import { formatHostPort } from "./address.js";
import { Discovery } from "./discovery.js";
import { DnsPeerSource } from "./dns-peers.js";
import { PersistedPeers } from "./persisted-peers.js";
import { StaticPeerSource } from "./static-peers.js";
import type { PeerSource } from "./types.js";

export interface ConfiguredDiscovery {
  discovery: Discovery;
  /** The mesh feeds it member changes (`remember`) and closes it on shutdown. */
  persisted: PersistedPeers;
}

/**
 * Discovery as `mesh.peers`, `mesh.dns`, `mesh.dnsServer` and `mesh.discoveryIntervalMs` say,
 * plus the peers persisted under `dataDir`. Throws on a malformed DNS spec or server.
 */
export function discoveryFromConfig(
  config: { dataDir: string; mesh: MeshConfig },
  onError: (error: Error, source: string) => void,
  clock?: Clock,
): ConfiguredDiscovery {
  const { mesh } = config;
  const persisted = new PersistedPeers({
    dataDir: config.dataDir,
    onError: (error) => onError(error, "persisted"),
    ...(clock ? { clock } : {}),
  });
  const sources: PeerSource[] = [new StaticPeerSource(mesh.peers)];
  if (mesh.dns !== "") sources.push(new DnsPeerSource({ spec: mesh.dns, server: mesh.dnsServer }));
  sources.push(persisted);
  const self = mesh.advertise || mesh.listen;
  // With listen port 0 the caller knows the bound port only through the advertised address.
  const port = parseHostPort(mesh.listen).port || parseHostPort(self).port;
  const discovery = new Discovery({
    sources,
    intervalMs: mesh.discoveryIntervalMs,
    self: [self, ...localEndpoints(port)],
    onError,
    ...(clock ? { clock } : {}),
  });
  return { discovery, persisted };
}

/**
 * This host's interface addresses at the mesh port: a headless Service's records include the
 * pod's own IP, which would otherwise come back as a "peer".
 */
export function localEndpoints(port: number): string[] {
  return Object.values(networkInterfaces())
    .flatMap((addresses) => addresses ?? [])
    .map((a) => formatHostPort(a.address, port));
}
