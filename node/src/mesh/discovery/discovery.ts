import { type Clock, systemClock } from "../../utils/clock.js";
import { canonicalAddress } from "./address.js";
import { DiscoveryError, type PeerSource, type SourceResult } from "./types.js";

/** A seed endpoint for the mesh to join, and which source named it first. */
export interface DiscoveredPeer {
  address: string;
  source: string;
}

export interface DiscoveryOptions {
  /** Asked in parallel; on duplicates the earlier source in this list wins. */
  sources: readonly PeerSource[];
  /** Pause between rounds, jittered ±10% so a restarted fleet does not query in lockstep. */
  intervalMs: number;
  /** This node's own endpoint(s) (advertised address, local interface addresses), never returned. */
  self?: string | readonly string[];
  clock?: Pick<Clock, "setTimeout">;
  /** In [0, 1); the jitter's randomness, for tests. */
  random?: () => number;
  /** A source failed (or `onPeers` threw). Reported, never fatal; the next round tries again. */
  onError: (error: Error, source: string) => void;
}

export type PeersListener = (peers: DiscoveredPeer[]) => void | Promise<void>;

/**
 * Combines the peer sources. The mesh joins the first round's peers and keeps receiving later
 * rounds, so nodes that were unreachable (or not yet created) are found once they appear and
 * partitions heal.
 */
export class Discovery {
  private readonly sources: readonly PeerSource[];
  private readonly intervalMs: number;
  private readonly self: ReadonlySet<string>;
  private readonly clock: Pick<Clock, "setTimeout">;
  private readonly random: () => number;
  private readonly onError: (error: Error, source: string) => void;
  private cancelTimer: (() => void) | undefined;
  private running = false;
  /** Bumped by start and stop, so a round from an earlier run cannot carry on after a restart. */
  private generation = 0;

  constructor(options: DiscoveryOptions) {
    if (!(options.intervalMs > 0))
      throw new Error(`discovery interval must be > 0 ms, got ${options.intervalMs}`);
    this.sources = options.sources;
    this.intervalMs = options.intervalMs;
    const self = typeof options.self === "string" ? [options.self] : (options.self ?? []);
    this.self = new Set(self.flatMap((address) => tryCanonical(address) ?? []));
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.onError = options.onError;
  }

  get started(): boolean {
    return this.running;
  }

  /** One round over every source: deduplicated peers, self excluded, failures reported. */
  async resolveOnce(): Promise<DiscoveredPeer[]> {
    const results = await Promise.all(this.sources.map((source) => this.ask(source)));
    const seen = new Set<string>(this.self);
    const peers: DiscoveredPeer[] = [];
    results.forEach((result, i) => {
      const source = this.sources[i]!.name;
      if (result.error) this.onError(result.error, source);
      for (const raw of result.peers) {
        const address = tryCanonical(raw);
        if (address === undefined) {
          this.onError(
            new DiscoveryError(`${source} returned "${raw}", which is not a host:port`, source),
            source,
          );
        } else if (!seen.has(address)) {
          seen.add(address);
          peers.push({ address, source });
        }
      }
    });
    return peers;
  }

  /** Resolves now, then again after each jittered interval, until `stop()`. Rounds never overlap. */
  start(onPeers: PeersListener): void {
    if (this.running) throw new Error("discovery already started");
    this.running = true;
    const generation = ++this.generation;
    const current = () => this.generation === generation;
    const round = async (): Promise<void> => {
      this.cancelTimer = undefined;
      const peers = await this.resolveOnce();
      if (!current()) return;
      try {
        await onPeers(peers);
      } catch (err) {
        this.onError(err as Error, "discovery");
      }
      if (!current()) return;
      const delay = this.intervalMs * (0.9 + 0.2 * this.random());
      this.cancelTimer = this.clock.setTimeout(() => void round(), delay);
    };
    void round();
  }

  /** No more rounds; a round in flight finishes without calling the listener. */
  stop(): void {
    this.running = false;
    this.generation++;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private async ask(source: PeerSource): Promise<SourceResult> {
    try {
      return await source.resolve();
    } catch (err) {
      const message = `${source.name} discovery failed: ${(err as Error).message}`;
      return { peers: [], error: new DiscoveryError(message, source.name, { cause: err }) };
    }
  }
}

function tryCanonical(address: string): string | undefined {
  try {
    return canonicalAddress(address);
  } catch {
    return undefined;
  }
}
