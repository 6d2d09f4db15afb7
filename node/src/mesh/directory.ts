import type { nodemesh } from "@hermes/proto";

/**
 * The app directory: which node hosts which app. Each node owns the entries for its own apps and
 * versions them with a counter; others apply its deltas in order and ask for a snapshot when
 * they notice a gap (every gossip envelope carries its sender's version). An app seen on two
 * nodes (it moved) is located where it connected last, by the app's own signed connect times.
 * Its own entries carry the apps' signed Connects (the proof others may ask for, app-claims.ts);
 * other nodes' entries are kept as app and time only.
 */
export interface AppLocationEntry {
  nodeId: string;
  connectedAtMs: number;
}

interface NodeApps {
  version: number;
  apps: Map<string, number>;
}

export type DeltaResult = "applied" | "stale" | "gap";

/**
 * Whether an entry another node publishes may be taken. Asked only for entries that change
 * what is held for that node; a refused one changes nothing.
 */
export type Admit = (entry: nodemesh.AppEntry) => boolean;

const admitAll: Admit = () => true;

export class AppDirectory {
  private readonly nodes = new Map<string, NodeApps>();
  /** This node's apps, with their signed Connects. */
  private readonly ownEntries = new Map<string, nodemesh.AppEntry>();
  private pendingAdded = new Map<string, nodemesh.AppEntry>();
  private pendingRemoved = new Set<string>();
  private deltaBase: number;

  constructor(
    private readonly selfId: string,
    /** Start above any version a previous run of this node announced (e.g. the start time). */
    initialVersion: number,
  ) {
    this.nodes.set(selfId, { version: initialVersion, apps: new Map() });
    this.deltaBase = initialVersion;
  }

  // ---- this node's own apps

  get version(): number {
    return this.self.version;
  }

  /** An app connected here; `entry` carries its signed Connect, `connectedAtMs` its timestamp. */
  localConnected(entry: nodemesh.AppEntry): void {
    const { appId } = entry;
    this.self.apps.set(appId, entry.connectedAtMs);
    this.ownEntries.set(appId, entry);
    this.self.version++;
    this.pendingRemoved.delete(appId);
    this.pendingAdded.set(appId, entry);
  }

  localDisconnected(appId: string): void {
    if (!this.self.apps.delete(appId)) return;
    this.ownEntries.delete(appId);
    this.self.version++;
    this.pendingAdded.delete(appId);
    this.pendingRemoved.add(appId);
  }

  /** When an app connected here, if it is connected here. */
  localSince(appId: string): number | undefined {
    return this.self.apps.get(appId);
  }

  /** The changes since the last call, to broadcast; undefined when there are none. */
  takeDelta(): nodemesh.DirectoryDelta | undefined {
    if (this.self.version === this.deltaBase) return undefined;
    const delta: nodemesh.DirectoryDelta = {
      nodeId: this.selfId,
      fromVersion: this.deltaBase,
      toVersion: this.self.version,
      added: [...this.pendingAdded.values()],
      removed: [...this.pendingRemoved],
    };
    this.deltaBase = this.self.version;
    this.pendingAdded = new Map();
    this.pendingRemoved = new Set();
    return delta;
  }

  snapshot(): nodemesh.DirectorySnapshot {
    return this.snapshotOf(this.selfId)!;
  }

  // ---- other nodes' apps

  knownVersion(nodeId: string): number {
    return this.nodes.get(nodeId)?.version ?? 0;
  }

  /** Applies a delta in order; `admit` judges each entry it would add or change. */
  applyDelta(delta: nodemesh.DirectoryDelta, admit: Admit = admitAll): DeltaResult {
    if (delta.nodeId === this.selfId) return "stale";
    const known = this.nodes.get(delta.nodeId);
    if (known && delta.toVersion <= known.version) return "stale";
    if (!known || delta.fromVersion !== known.version) return "gap";
    for (const entry of delta.added) {
      if (known.apps.get(entry.appId) !== entry.connectedAtMs && admit(entry))
        known.apps.set(entry.appId, entry.connectedAtMs);
    }
    for (const appId of delta.removed) known.apps.delete(appId);
    known.version = delta.toVersion;
    return "applied";
  }

  /** Replaces a node's list with a newer one; `admit` judges each entry it would add or change. */
  applySnapshot(snapshot: nodemesh.DirectorySnapshot, admit: Admit = admitAll): boolean {
    if (snapshot.nodeId === this.selfId) return false;
    const known = this.nodes.get(snapshot.nodeId);
    if (known && snapshot.version <= known.version) return false;
    const apps = new Map<string, number>();
    for (const entry of snapshot.apps) {
      const held = known?.apps.get(entry.appId);
      if (held === entry.connectedAtMs || admit(entry)) apps.set(entry.appId, entry.connectedAtMs);
      else if (held !== undefined) apps.set(entry.appId, held);
    }
    this.nodes.set(snapshot.nodeId, { version: snapshot.version, apps });
    return true;
  }

  /** Forgets a node (dead or left); returns the apps it hosted. */
  dropNode(nodeId: string): string[] {
    if (nodeId === this.selfId) return [];
    const known = this.nodes.get(nodeId);
    this.nodes.delete(nodeId);
    return known ? [...known.apps.keys()] : [];
  }

  /** A node's list as held here: this node's own with their proofs, others' without. */
  snapshotOf(nodeId: string): nodemesh.DirectorySnapshot | undefined {
    const known = this.nodes.get(nodeId);
    if (!known) return undefined;
    const apps =
      nodeId === this.selfId
        ? [...this.ownEntries.values()]
        : [...known.apps].map(([appId, connectedAtMs]) => unproven(appId, connectedAtMs));
    return { nodeId, version: known.version, apps };
  }

  snapshots(): nodemesh.DirectorySnapshot[] {
    return [...this.nodes.keys()].map((id) => this.snapshotOf(id)!);
  }

  /** Where an app is; the latest connection wins when two nodes claim it. */
  locate(appId: string): AppLocationEntry | undefined {
    let best: AppLocationEntry | undefined;
    for (const [nodeId, known] of this.nodes) {
      const at = known.apps.get(appId);
      if (at !== undefined && (!best || at > best.connectedAtMs)) best = { nodeId, connectedAtMs: at };
    }
    return best;
  }

  /** Entries per node, for metrics and /mesh/routes. */
  counts(): Map<string, number> {
    return new Map([...this.nodes].map(([id, known]) => [id, known.apps.size]));
  }

  get size(): number {
    let n = 0;
    for (const known of this.nodes.values()) n += known.apps.size;
    return n;
  }

  private get self(): NodeApps {
    return this.nodes.get(this.selfId)!;
  }
}

/** An entry as relayed for another node: the app and its time, no proof. */
function unproven(appId: string, connectedAtMs: number): nodemesh.AppEntry {
  return {
    appId,
    connectedAtMs,
    publicKey: new Uint8Array(),
    nonce: new Uint8Array(),
    signature: new Uint8Array(),
  };
}
