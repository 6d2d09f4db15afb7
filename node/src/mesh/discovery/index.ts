export { canonicalAddress, formatHostPort } from "./address.js";
export { type DiscoveredPeer, Discovery, type DiscoveryOptions, type PeersListener } from "./discovery.js";
export { DnsPeerSource, type DnsPeerSourceOptions, type DnsResolver } from "./dns-peers.js";
export { type DnsSpec, parseDnsSpec } from "./dns-spec.js";
export { type ConfiguredDiscovery, discoveryFromConfig, localEndpoints } from "./from-config.js";
export {
  PEERS_FILE,
  type PersistedPeer,
  PersistedPeers,
  type PersistedPeersOptions,
  parsePeersFile,
} from "./persisted-peers.js";
export { StaticPeerSource } from "./static-peers.js";
export {
  DiscoveryError,
  type PeerSource,
  type SourceResult,
} from "./types.js";
