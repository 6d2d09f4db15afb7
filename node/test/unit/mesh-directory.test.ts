import type { nodemesh } from "@hermes/proto";
import { describe, expect, it } from "vitest";
import { AppDirectory } from "../../src/mesh/directory.js";
import { bareEntry } from "../support/frames.js";

const SELF = "self".padEnd(32, "s");
const N1 = "n1".padEnd(32, "1");
const N2 = "n2".padEnd(32, "2");
const app = (n: number) => `app${n}`.padEnd(32, "x");

function delta(over: Partial<nodemesh.DirectoryDelta> & { fromVersion: number; toVersion: number }) {
  return { nodeId: N1, added: [], removed: [], ...over };
}

function appsOf(snapshot: nodemesh.DirectorySnapshot | undefined): string[] {
  return (snapshot?.apps ?? []).map((a) => a.appId).sort();
}

describe("AppDirectory: this node's apps", () => {
  it("starts at the given version, and each local connect and disconnect bumps it", () => {
    const d = new AppDirectory(SELF, 1000);
    expect(d.version).toBe(1000);
    d.localConnected(bareEntry(app(1), 5));
    expect(d.version).toBe(1001);
    d.localConnected(bareEntry(app(2), 6));
    expect(d.version).toBe(1002);
    d.localDisconnected(app(1));
    expect(d.version).toBe(1003);
    expect(d.snapshot()).toEqual({
      nodeId: SELF,
      version: 1003,
      apps: [bareEntry(app(2), 6)],
    });
  });

  it("does not bump the version for disconnecting an app it does not host", () => {
    const d = new AppDirectory(SELF, 10);
    d.localDisconnected(app(9));
    expect(d.version).toBe(10);
    expect(d.takeDelta()).toBeUndefined();
  });

  it("takeDelta batches every change since the last call, then returns undefined until the next change", () => {
    const d = new AppDirectory(SELF, 100);
    expect(d.takeDelta()).toBeUndefined();
    d.localConnected(bareEntry(app(1), 1));
    d.localConnected(bareEntry(app(2), 2));
    d.localConnected(bareEntry(app(3), 3));
    d.localDisconnected(app(2));
    const first = d.takeDelta()!;
    expect(first).toMatchObject({ nodeId: SELF, fromVersion: 100, toVersion: 104 });
    expect(first.added.map((a) => a.appId).sort()).toEqual([app(1), app(3)]);
    expect(first.removed).toEqual([app(2)]);
    expect(d.takeDelta()).toBeUndefined();
    d.localDisconnected(app(1));
    d.localConnected(bareEntry(app(2), 9));
    const second = d.takeDelta()!;
    expect(second).toEqual({
      nodeId: SELF,
      fromVersion: 104,
      toVersion: 106,
      added: [bareEntry(app(2), 9)],
      removed: [app(1)],
    });
  });

  it("an app that reconnects within one batch is announced as added with its latest time", () => {
    const d = new AppDirectory(SELF, 0);
    d.localConnected(bareEntry(app(1), 1));
    d.takeDelta();
    d.localDisconnected(app(1));
    d.localConnected(bareEntry(app(1), 50));
    const out = d.takeDelta()!;
    expect(out.added).toEqual([bareEntry(app(1), 50)]);
    expect(out.removed).toEqual([]);
  });

  it("deltas applied in order on another node rebuild the same table", () => {
    const here = new AppDirectory(N1, 500);
    const there = new AppDirectory(SELF, 1);
    expect(there.applySnapshot(here.snapshot())).toBe(true);
    here.localConnected(bareEntry(app(1), 1));
    here.localConnected(bareEntry(app(2), 2));
    expect(there.applyDelta(here.takeDelta()!)).toBe("applied");
    here.localDisconnected(app(1));
    expect(there.applyDelta(here.takeDelta()!)).toBe("applied");
    expect(there.snapshotOf(N1)).toEqual(here.snapshot());
    expect(there.knownVersion(N1)).toBe(here.version);
  });
});

describe("AppDirectory: other nodes' apps", () => {
  it("applies deltas in order, and refuses to apply across a gap", () => {
    const d = new AppDirectory(SELF, 1);
    expect(d.knownVersion(N1)).toBe(0);
    // Nothing known about N1 yet: only a snapshot can start it... or a delta from version 0.
    expect(d.applyDelta(delta({ fromVersion: 0, toVersion: 2, added: [bareEntry(app(1), 1)] }))).toBe("gap");
    d.applySnapshot({ nodeId: N1, version: 2, apps: [] });
    expect(d.applyDelta(delta({ fromVersion: 2, toVersion: 3, added: [bareEntry(app(1), 1)] }))).toBe(
      "applied",
    );
    expect(d.locate(app(1))).toEqual({ nodeId: N1, connectedAtMs: 1 });
    // Version 4 was missed: 4 → 5 cannot be applied.
    const skipped = delta({ fromVersion: 4, toVersion: 5, removed: [app(1)] });
    expect(d.applyDelta(skipped)).toBe("gap");
    expect(d.knownVersion(N1)).toBe(3);
    expect(d.locate(app(1))?.nodeId).toBe(N1);
    expect(d.applyDelta(delta({ fromVersion: 3, toVersion: 4, added: [bareEntry(app(2), 2)] }))).toBe(
      "applied",
    );
    expect(d.applyDelta(skipped)).toBe("applied");
    expect(appsOf(d.snapshotOf(N1))).toEqual([app(2)]);
  });

  it("calls an old or repeated delta stale and leaves the table alone", () => {
    const d = new AppDirectory(SELF, 1);
    d.applySnapshot({ nodeId: N1, version: 10, apps: [bareEntry(app(1), 1)] });
    expect(d.applyDelta(delta({ fromVersion: 8, toVersion: 9, removed: [app(1)] }))).toBe("stale");
    expect(d.applyDelta(delta({ fromVersion: 9, toVersion: 10, removed: [app(1)] }))).toBe("stale");
    expect(d.locate(app(1))?.nodeId).toBe(N1);
    expect(d.knownVersion(N1)).toBe(10);
  });

  it("never takes a delta or snapshot about itself from others", () => {
    const d = new AppDirectory(SELF, 5);
    d.localConnected(bareEntry(app(1), 1));
    expect(d.applyDelta({ nodeId: SELF, fromVersion: 6, toVersion: 7, added: [], removed: [app(1)] })).toBe(
      "stale",
    );
    expect(d.applySnapshot({ nodeId: SELF, version: 99, apps: [] })).toBe(false);
    expect(d.version).toBe(6);
    expect(d.locate(app(1))?.nodeId).toBe(SELF);
  });

  it("a newer snapshot replaces the node's apps; an older or equal one is ignored", () => {
    const d = new AppDirectory(SELF, 1);
    expect(d.applySnapshot({ nodeId: N1, version: 5, apps: [bareEntry(app(1), 1)] })).toBe(true);
    expect(d.applySnapshot({ nodeId: N1, version: 7, apps: [bareEntry(app(2), 2)] })).toBe(true);
    expect(appsOf(d.snapshotOf(N1))).toEqual([app(2)]);
    expect(d.locate(app(1))).toBeUndefined();
    expect(d.applySnapshot({ nodeId: N1, version: 6, apps: [bareEntry(app(3), 3)] })).toBe(false);
    expect(d.applySnapshot({ nodeId: N1, version: 7, apps: [] })).toBe(false);
    expect(appsOf(d.snapshotOf(N1))).toEqual([app(2)]);
    expect(d.knownVersion(N1)).toBe(7);
  });

  it("a snapshot closes a gap: deltas from its version on apply again", () => {
    const d = new AppDirectory(SELF, 1);
    d.applySnapshot({ nodeId: N1, version: 1, apps: [] });
    expect(d.applyDelta(delta({ fromVersion: 3, toVersion: 4 }))).toBe("gap");
    d.applySnapshot({ nodeId: N1, version: 3, apps: [bareEntry(app(1), 1)] });
    expect(d.applyDelta(delta({ fromVersion: 3, toVersion: 4, removed: [app(1)] }))).toBe("applied");
    expect(d.locate(app(1))).toBeUndefined();
  });

  it("dropNode returns the apps the node hosted and forgets them", () => {
    const d = new AppDirectory(SELF, 1);
    d.localConnected(bareEntry(app(0), 1));
    d.applySnapshot({
      nodeId: N1,
      version: 2,
      apps: [bareEntry(app(1), 1), bareEntry(app(2), 2)],
    });
    expect(d.dropNode(N1).sort()).toEqual([app(1), app(2)]);
    expect(d.locate(app(1))).toBeUndefined();
    expect(d.knownVersion(N1)).toBe(0);
    expect(d.snapshotOf(N1)).toBeUndefined();
    expect(d.dropNode(N1)).toEqual([]);
    // Its own entries are never dropped.
    expect(d.dropNode(SELF)).toEqual([]);
    expect(d.locate(app(0))?.nodeId).toBe(SELF);
  });

  it("locates an app claimed by two nodes where it connected last", () => {
    const d = new AppDirectory(SELF, 1);
    d.applySnapshot({ nodeId: N1, version: 1, apps: [bareEntry(app(1), 100)] });
    d.applySnapshot({ nodeId: N2, version: 1, apps: [bareEntry(app(1), 200)] });
    expect(d.locate(app(1))).toEqual({ nodeId: N2, connectedAtMs: 200 });
    // It comes back to this node later still.
    d.localConnected(bareEntry(app(1), 300));
    expect(d.locate(app(1))).toEqual({ nodeId: SELF, connectedAtMs: 300 });
    // And once N2 is gone, where else it was.
    d.localDisconnected(app(1));
    d.dropNode(N2);
    expect(d.locate(app(1))).toEqual({ nodeId: N1, connectedAtMs: 100 });
    expect(d.locate(app(7))).toBeUndefined();
  });

  it("counts entries per node and in total, itself included", () => {
    const d = new AppDirectory(SELF, 1);
    expect(d.size).toBe(0);
    d.localConnected(bareEntry(app(1), 1));
    d.applySnapshot({
      nodeId: N1,
      version: 3,
      apps: [bareEntry(app(2), 1), bareEntry(app(3), 1)],
    });
    d.applySnapshot({ nodeId: N2, version: 1, apps: [] });
    expect(d.counts()).toEqual(
      new Map([
        [SELF, 1],
        [N1, 2],
        [N2, 0],
      ]),
    );
    expect(d.size).toBe(3);
    expect(
      d
        .snapshots()
        .map((s) => s.nodeId)
        .sort(),
    ).toEqual([N1, N2, SELF].sort());
    d.dropNode(N1);
    expect(d.size).toBe(1);
  });
});

describe("AppDirectory: admitting other nodes' entries", () => {
  it("asks only about entries that change what it holds for that node", () => {
    const d = new AppDirectory(SELF, 1);
    d.applySnapshot({ nodeId: N1, version: 1, apps: [bareEntry(app(1), 10), bareEntry(app(2), 20)] });
    const asked: string[] = [];
    const admit = (e: nodemesh.AppEntry) => {
      asked.push(`${e.appId.slice(0, 4)}@${e.connectedAtMs}`);
      return true;
    };
    // app1 unchanged, app2 reconnected there, app3 new.
    d.applySnapshot(
      { nodeId: N1, version: 2, apps: [bareEntry(app(1), 10), bareEntry(app(2), 25), bareEntry(app(3), 30)] },
      admit,
    );
    expect(asked).toEqual(["app2@25", "app3@30"]);
    asked.length = 0;
    d.applyDelta(
      delta({ fromVersion: 2, toVersion: 3, added: [bareEntry(app(1), 10), bareEntry(app(4), 40)] }),
      admit,
    );
    expect(asked).toEqual(["app4@40"]);
  });

  it("a refused entry changes nothing: a new app stays out, a held one keeps its time", () => {
    const d = new AppDirectory(SELF, 1);
    d.applySnapshot({ nodeId: N1, version: 1, apps: [bareEntry(app(1), 10)] });
    const refuse = () => false;
    expect(
      d.applySnapshot(
        { nodeId: N1, version: 2, apps: [bareEntry(app(1), 99), bareEntry(app(2), 99)] },
        refuse,
      ),
    ).toBe(true);
    expect(d.snapshotOf(N1)).toEqual({ nodeId: N1, version: 2, apps: [bareEntry(app(1), 10)] });
    expect(
      d.applyDelta(
        delta({ fromVersion: 2, toVersion: 3, added: [bareEntry(app(3), 99)], removed: [] }),
        refuse,
      ),
    ).toBe("applied");
    expect(d.locate(app(3))).toBeUndefined();
    expect(d.knownVersion(N1)).toBe(3);
  });

  it("is not asked about a delta it does not apply (stale or across a gap)", () => {
    const d = new AppDirectory(SELF, 1);
    d.applySnapshot({ nodeId: N1, version: 5, apps: [] });
    let asked = 0;
    const admit = () => {
      asked++;
      return true;
    };
    d.applyDelta(delta({ fromVersion: 3, toVersion: 4, added: [bareEntry(app(1), 1)] }), admit);
    d.applyDelta(delta({ fromVersion: 7, toVersion: 8, added: [bareEntry(app(1), 1)] }), admit);
    d.applySnapshot({ nodeId: N1, version: 5, apps: [bareEntry(app(1), 1)] }, admit);
    expect(asked).toBe(0);
  });

  it("publishes its own apps with their proofs, and relays others' without", () => {
    const n1 = new AppDirectory(N1, 1);
    const proven = {
      ...bareEntry(app(1), 10),
      publicKey: new Uint8Array(32).fill(1),
      signature: new Uint8Array(64).fill(2),
      nonce: new Uint8Array(32).fill(3),
    };
    n1.localConnected(proven);
    expect(n1.snapshot().apps).toEqual([proven]);
    expect(n1.takeDelta()?.added).toEqual([proven]);
    const self = new AppDirectory(SELF, 1);
    self.applySnapshot(n1.snapshot());
    expect(self.snapshotOf(N1)?.apps).toEqual([bareEntry(app(1), 10)]);
  });
});
