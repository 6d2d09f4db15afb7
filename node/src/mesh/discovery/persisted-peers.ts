import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../../utils/atomic-write.js";
import { type Clock, systemClock } from "../../utils/clock.js";
import { canonicalAddress } from "./address.js";
import { DiscoveryError, type PeerSource, type SourceResult } from "./types.js";

/** One remembered member, as stored in `<dataDir>/peers.json`. */
export interface PersistedPeer {
  nodeId: string;
  address: string;
  /** Wall-clock epoch ms when this node last saw it as a member. */
  lastSeenMs: number;
}

export interface PersistedPeersOptions {
  dataDir: string;
  /** Entries not seen for longer are dropped (default 24 h). */
  maxAgeMs?: number;
  /**
   * An entry whose address failed every join attempt for this long is dropped, however recently
   * it was seen (default UNANSWERED_FORGET_MS).
   */
  unansweredMs?: number;
  /** Changes are written at most this long after they happen, coalesced (default 1000). */
  debounceMs?: number;
  clock?: Clock;
  /** Unreadable or corrupt file, failed write. Never fatal: the node runs on without. */
  onError: (error: DiscoveryError) => void;
}

export const PEERS_FILE = "peers.json";
const DAY_MS = 24 * 60 * 60 * 1000;
/** Keeps the file bounded whatever the churn; the most recently seen win. */
const MAX_ENTRIES = 4096;
/**
 * A remembered address that answers no join attempt for this long is forgotten: long enough to
 * ride out a rolling restart or a rescheduled pod (about 60 attempts at the default discovery
 * interval), short enough that an address a Join named once (any member can announce any
 * address) is not dialled by every node for a day.
 */
export const UNANSWERED_FORGET_MS = 10 * 60 * 1000;

/**
 * The members this node saw, remembered across restarts so a whole-mesh restart (or a DNS
 * outage) can still find its way back. The mesh calls `remember()` when its member list
 * changes and `close()` on shutdown; discovery reads it as a source.
 */
export class PersistedPeers implements PeerSource {
  readonly name = "persisted";
  readonly path: string;
  private readonly maxAgeMs: number;
  private readonly debounceMs: number;
  private readonly clock: Clock;
  private readonly onError: (error: DiscoveryError) => void;
  private readonly unansweredMs: number;
  /** By node ID: a node that moved keeps one entry, with its newest address. */
  private readonly entries = new Map<string, PersistedPeer>();
  /** Remembered addresses whose join attempts fail, and since when (not saved: each run tries anew). */
  private readonly failingSince = new Map<string, number>();
  private loading: Promise<void> | undefined;
  private dirty = false;
  private cancelTimer: (() => void) | undefined;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(options: PersistedPeersOptions) {
    this.path = join(options.dataDir, PEERS_FILE);
    this.maxAgeMs = options.maxAgeMs ?? DAY_MS;
    this.debounceMs = options.debounceMs ?? 1000;
    this.clock = options.clock ?? systemClock;
    this.onError = options.onError;
    this.unansweredMs = options.unansweredMs ?? UNANSWERED_FORGET_MS;
  }

  /** Reads the file once (later calls reuse it) and returns the entries young enough to keep. */
  async load(): Promise<PersistedPeer[]> {
    this.loading ??= this.read();
    await this.loading;
    return this.current();
  }

  async resolve(): Promise<SourceResult> {
    return { peers: (await this.load()).map((peer) => peer.address) };
  }

  /** Marks these members as seen now; the file is rewritten after `debounceMs`. */
  remember(members: Iterable<{ id: string; address: string }>): void {
    if (this.closed) return;
    const now = this.clock.now();
    for (const member of members) {
      let address: string;
      try {
        address = canonicalAddress(member.address);
      } catch {
        continue; // an address nobody could dial is not worth remembering
      }
      this.entries.set(member.id, { nodeId: member.id, address, lastSeenMs: now });
      this.failingSince.delete(address);
    }
    this.changed();
  }

  /**
   * A join attempt to `address` answered or not. A remembered address that has answered none for
   * `unansweredMs` (since its first failure in this run) is forgotten; returns what was.
   */
  attempted(address: string, answered: boolean): PersistedPeer[] {
    let canonical: string;
    try {
      canonical = canonicalAddress(address);
    } catch {
      return [];
    }
    const held = [...this.entries.values()].filter((peer) => peer.address === canonical);
    // Not ours to forget (a static or DNS peer, or one aged out), or it answered.
    if (answered || this.closed || held.length === 0) {
      this.failingSince.delete(canonical);
      return [];
    }
    const now = this.clock.now();
    const since = this.failingSince.get(canonical);
    if (since === undefined) this.failingSince.set(canonical, now);
    if (since === undefined || now - since < this.unansweredMs) return [];
    this.failingSince.delete(canonical);
    for (const peer of held) this.entries.delete(peer.nodeId);
    this.changed();
    return held;
  }

  /** Something to save: written after `debounceMs`, coalesced. */
  private changed(): void {
    this.dirty = true;
    this.cancelTimer ??= this.clock.setTimeout(() => {
      this.cancelTimer = undefined;
      void this.flush();
    }, this.debounceMs);
  }

  /** Writes pending changes now. Resolves once written (or the failure reported). */
  flush(): Promise<void> {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    // One write at a time, in order; each saves the state as of when it starts.
    this.writing = this.writing.then(() => this.write());
    return this.writing;
  }

  /** Saves what is pending; later `remember()` calls are ignored. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private async write(): Promise<void> {
    if (!this.dirty) return;
    await this.load(); // merge with the file first: never overwrite it unread
    this.dirty = false;
    const body = JSON.stringify({ version: 1, peers: this.current() }, null, 2) + "\n";
    try {
      await mkdir(dirname(this.path), { recursive: true });
      await writeFileAtomic(this.path, body);
    } catch (err) {
      this.dirty = true; // tried again with the next change or flush
      this.report(`could not save peers to ${this.path}: ${(err as Error).message}`, err);
    }
  }

  private async read(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        this.report(
          `could not read ${this.path}, starting without remembered peers: ${(err as Error).message}`,
          err,
        );
      }
      return;
    }
    const { peers, problem } = parsePeersFile(text, this.clock.now());
    if (problem) this.report(`ignoring ${problem} in ${this.path}`);
    // Members remembered while the file was being read are newer than what it says.
    for (const peer of peers) if (!this.entries.has(peer.nodeId)) this.entries.set(peer.nodeId, peer);
  }

  private current(): PersistedPeer[] {
    const cutoff = this.clock.now() - this.maxAgeMs;
    for (const [id, peer] of this.entries) if (peer.lastSeenMs < cutoff) this.entries.delete(id);
    return [...this.entries.values()].sort((a, b) => b.lastSeenMs - a.lastSeenMs).slice(0, MAX_ENTRIES);
  }

  private report(message: string, cause?: unknown): void {
    this.onError(new DiscoveryError(message, this.name, { cause }));
  }
}

/**
 * Parses the file's text. What cannot be trusted is left out and described in `problem`;
 * timestamps from the future (a clock stepped back) count as now, so they still age out.
 */
export function parsePeersFile(text: string, nowMs: number): { peers: PersistedPeer[]; problem?: string } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { peers: [], problem: `corrupt file (not JSON: ${(err as Error).message})` };
  }
  const file = data as { version?: unknown; peers?: unknown } | null;
  if (typeof file !== "object" || file === null || file.version !== 1 || !Array.isArray(file.peers)) {
    return { peers: [], problem: 'corrupt file (expected {"version":1,"peers":[...]})' };
  }
  const peers: PersistedPeer[] = [];
  let bad = 0;
  for (const entry of file.peers as unknown[]) {
    const peer = toPeer(entry, nowMs);
    if (peer) peers.push(peer);
    else bad++;
  }
  return bad === 0 ? { peers } : { peers, problem: `${bad} malformed ${bad === 1 ? "entry" : "entries"}` };
}

function toPeer(entry: unknown, nowMs: number): PersistedPeer | undefined {
  const { nodeId, address, lastSeenMs } = (entry ?? {}) as Record<string, unknown>;
  if (typeof nodeId !== "string" || nodeId === "" || typeof address !== "string") return undefined;
  if (typeof lastSeenMs !== "number" || !Number.isFinite(lastSeenMs)) return undefined;
  try {
    return { nodeId, address: canonicalAddress(address), lastSeenMs: Math.min(lastSeenMs, nowMs) };
  } catch {
    return undefined;
  }
}
