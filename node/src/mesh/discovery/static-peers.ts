import { canonicalAddress } from "./address.js";
import type { PeerSource, SourceResult } from "./types.js";

/** The configured `mesh.peers`. Checked at construction so a bad entry fails at start. */
export class StaticPeerSource implements PeerSource {
  readonly name = "static";
  private readonly peers: readonly string[];

  constructor(peers: readonly string[]) {
    this.peers = peers.map((peer) => {
      try {
        return canonicalAddress(peer);
      } catch (err) {
        throw new Error(`static peer: ${(err as Error).message}`);
      }
    });
  }

  async resolve(): Promise<SourceResult> {
    return { peers: [...this.peers] };
  }
}
