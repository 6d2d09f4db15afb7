import type { nodemesh } from "@hermes/proto";

/**
 * The app directory: which node hosts which app. Each node owns the entries for its own apps and
 * versions them with a counter; others apply its deltas in order and ask for a snapshot when
 * they notice a gap (every gossip envelope carries its sender's version). An app seen on two
 * nodes (it moved) is located where it connected last.
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

export class AppDirectory {
  private readonly nodes = new Map<string, NodeApps>();
  private pendingAdded = new Map<string, number>();
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

  localConnected(appId: string, atMs: number): void {
    this.self.apps.set(appId, atMs);
    this.self.version++;
    this.pendingRemoved.delete(appId);
    this.pendingAdded.set(appId, atMs);
  }

  localDisconnected(appId: string): void {
    if (!this.self.apps.delete(appId)) return;
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
      added: [...this.pendingAdded].map(([appId, connectedAtMs]) => ({ appId, connectedAtMs })),
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

  applyDelta(delta: nodemesh.DirectoryDelta): DeltaResult {
    if (delta.nodeId === this.selfId) return "stale";
    const known = this.nodes.get(delta.nodeId);
    if (known && delta.toVersion <= known.version) return "stale";
    if (!known || delta.fromVersion !== known.version) return "gap";
    for (const entry of delta.added) known.apps.set(entry.appId, entry.connectedAtMs);
    for (const appId of delta.removed) known.apps.delete(appId);
    known.version = delta.toVersion;
    return "applied";
  }

  applySnapshot(snapshot: nodemesh.DirectorySnapshot): boolean {
    if (snapshot.nodeId === this.selfId) return false;
    const known = this.nodes.get(snapshot.nodeId);
    if (known && snapshot.version <= known.version) return false;
    this.nodes.set(snapshot.nodeId, {
      version: snapshot.version,
      apps: new Map(snapshot.apps.map((a) => [a.appId, a.connectedAtMs])),
    });
    return true;
  }

  /** Forgets a node (dead or left); returns the apps it hosted. */
  dropNode(nodeId: string): string[] {
    if (nodeId === this.selfId) return [];
    const known = this.nodes.get(nodeId);
    this.nodes.delete(nodeId);
    return known ? [...known.apps.keys()] : [];
  }

  snapshotOf(nodeId: string): nodemesh.DirectorySnapshot | undefined {
    const known = this.nodes.get(nodeId);
    if (!known) return undefined;
    return {
      nodeId,
      version: known.version,
      apps: [...known.apps].map(([appId, connectedAtMs]) => ({ appId, connectedAtMs })),
    };
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
