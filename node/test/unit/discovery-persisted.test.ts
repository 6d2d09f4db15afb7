import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type DiscoveryError, PersistedPeers, parsePeersFile } from "../../src/mesh/discovery/index.js";
import { UNANSWERED_FORGET_MS } from "../../src/mesh/discovery/persisted-peers.js";
import { FakeClock } from "../../src/utils/fake-clock.js";

const HOUR = 3_600_000;
let dir: string;
let clock: FakeClock;
let errors: DiscoveryError[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "hermes-peers-"));
  clock = new FakeClock();
  errors = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const open = (options: { maxAgeMs?: number; debounceMs?: number; unansweredMs?: number } = {}) =>
  new PersistedPeers({ dataDir: dir, clock, onError: (e) => errors.push(e), ...options });
const writePeers = (peers: unknown) =>
  writeFile(join(dir, "peers.json"), JSON.stringify({ version: 1, peers }));
const members = (...ids: string[]) => ids.map((id, i) => ({ id, address: `10.0.0.${i + 1}:7401` }));

describe("PersistedPeers", () => {
  it("round trip: what one run remembers, the next run finds", async () => {
    const first = open();
    first.remember(members("a", "b"));
    await first.close();
    const saved = JSON.parse(await readFile(join(dir, "peers.json"), "utf8"));
    expect(saved).toEqual({
      version: 1,
      peers: [
        { nodeId: "a", address: "10.0.0.1:7401", lastSeenMs: clock.now() },
        { nodeId: "b", address: "10.0.0.2:7401", lastSeenMs: clock.now() },
      ],
    });
    const second = open();
    expect(await second.resolve()).toEqual({ peers: ["10.0.0.1:7401", "10.0.0.2:7401"] });
    expect(errors).toEqual([]);
  });

  it("a missing file is an empty start, not an error", async () => {
    expect(await open().load()).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("drops entries older than maxAgeMs, at load and as time passes", async () => {
    await writePeers([
      { nodeId: "old", address: "10.0.0.1:7401", lastSeenMs: clock.now() - 25 * HOUR },
      { nodeId: "recent", address: "10.0.0.2:7401", lastSeenMs: clock.now() - 23 * HOUR },
    ]);
    const peers = open();
    expect((await peers.load()).map((p) => p.nodeId)).toEqual(["recent"]);
    clock.advance(2 * HOUR);
    expect(await peers.resolve()).toEqual({ peers: [] });

    const short = open({ maxAgeMs: 60_000 });
    short.remember(members("x"));
    clock.advance(60_001);
    expect(await short.resolve()).toEqual({ peers: [] });
    await short.close();
  });

  it("a corrupt file is reported and ignored, and replaced by the next save", async () => {
    await writeFile(join(dir, "peers.json"), '{"version":1,"peers":[{"nodeId":');
    const peers = open();
    expect(await peers.resolve()).toEqual({ peers: [] });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/^ignoring corrupt file \(not JSON: .*\) in .*peers\.json$/);
    expect(errors[0]?.source).toBe("persisted");
    peers.remember(members("a"));
    await peers.flush();
    expect(await open().resolve()).toEqual({ peers: ["10.0.0.1:7401"] });
    expect(errors).toHaveLength(1);
  });

  it.each([
    ["null", "corrupt file"],
    ['{"version":2,"peers":[]}', "corrupt file"],
    ['{"version":1}', "corrupt file"],
  ])("an unexpected shape %s is reported and ignored", async (text, problem) => {
    await writeFile(join(dir, "peers.json"), text);
    expect(await open().load()).toEqual([]);
    expect(errors.map((e) => e.message)).toEqual([expect.stringContaining(problem)]);
  });

  it("keeps the good entries of a partly bad file, reporting the rest", () => {
    const now = 1_000_000;
    const text = JSON.stringify({
      version: 1,
      peers: [
        { nodeId: "a", address: "HERMES-0.example.:7401", lastSeenMs: now - 1 },
        { nodeId: "future", address: "[0:0::1]:7401", lastSeenMs: now + HOUR },
        { nodeId: "b", address: "no-port", lastSeenMs: now },
        { nodeId: "c", address: "10.0.0.3:7401", lastSeenMs: "yesterday" },
        { address: "10.0.0.4:7401", lastSeenMs: now },
        42,
      ],
    });
    expect(parsePeersFile(text, now)).toEqual({
      peers: [
        { nodeId: "a", address: "hermes-0.example:7401", lastSeenMs: now - 1 },
        // a clock stepped back must not make an entry immortal
        { nodeId: "future", address: "[::1]:7401", lastSeenMs: now },
      ],
      problem: "4 malformed entries",
    });
  });

  it("writes are debounced: a burst of changes becomes one write", async () => {
    const peers = open({ debounceMs: 1000 });
    peers.remember(members("a"));
    clock.advance(500);
    peers.remember(members("a", "b"));
    expect(await readdir(dir)).toEqual([]);
    clock.advance(500);
    await peers.flush(); // waits for the write the timer started
    const saved = JSON.parse(await readFile(join(dir, "peers.json"), "utf8"));
    expect(saved.peers.map((p: { nodeId: string }) => p.nodeId).sort()).toEqual(["a", "b"]);
    expect(clock.pending()).toBe(0);
  });

  it("atomic writes leave only peers.json behind, and newer sightings win", async () => {
    const peers = open();
    for (let i = 0; i < 20; i++) {
      clock.advance(1000);
      peers.remember([{ id: "a", address: `10.0.1.${i}:7401` }]);
      void peers.flush();
    }
    await peers.close();
    expect(await readdir(dir)).toEqual(["peers.json"]);
    expect(await open().resolve()).toEqual({ peers: ["10.0.1.19:7401"] });
  });

  it("members remembered before the file is read are merged with it, not overwritten", async () => {
    await writePeers([
      { nodeId: "a", address: "10.0.0.1:7401", lastSeenMs: clock.now() - HOUR },
      { nodeId: "b", address: "10.0.0.2:7401", lastSeenMs: clock.now() - HOUR },
    ]);
    const peers = open();
    peers.remember([{ id: "b", address: "10.0.0.22:7401" }]);
    await peers.close();
    const after = await open().load();
    expect(after.map((p) => [p.nodeId, p.address])).toEqual([
      ["b", "10.0.0.22:7401"],
      ["a", "10.0.0.1:7401"],
    ]);
  });

  it("a failed write is reported, not thrown", async () => {
    const peers = new PersistedPeers({
      dataDir: join(dir, "peers.json", "nested"), // a path under a file cannot be created
      clock,
      onError: (e) => errors.push(e),
    });
    await writeFile(join(dir, "peers.json"), "");
    peers.remember(members("a"));
    await expect(peers.flush()).resolves.toBeUndefined();
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/^could not read .*, starting without remembered peers: ENOTDIR/),
      expect.stringMatching(/^could not save peers to .*: ENOTDIR/),
    ]);
  });
});

describe("PersistedPeers: addresses that never answer", () => {
  const MINUTE = 60_000;
  const ids = async (peers: PersistedPeers) => (await peers.load()).map((p) => p.nodeId);

  it("forgets a remembered address once it has answered no join attempt for UNANSWERED_FORGET_MS, and saves that", async () => {
    const peers = open();
    peers.remember(members("gone", "kept"));
    await peers.load();
    // One attempt every 15 s, none answered.
    let forgotten: string[] = [];
    for (let t = 0; t < UNANSWERED_FORGET_MS; t += 15_000) {
      forgotten = peers.attempted("10.0.0.1:7401", false).map((p) => p.nodeId);
      expect(forgotten).toEqual([]);
      clock.advance(15_000);
    }
    forgotten = peers.attempted("10.0.0.1:7401", false).map((p) => p.nodeId);
    expect(forgotten).toEqual(["gone"]);
    expect(await ids(peers)).toEqual(["kept"]);
    expect(await peers.resolve()).toEqual({ peers: ["10.0.0.2:7401"] });
    await peers.close();
    const saved = JSON.parse(await readFile(join(dir, "peers.json"), "utf8"));
    expect(saved.peers.map((p: { nodeId: string }) => p.nodeId)).toEqual(["kept"]);
  });

  it("counts from the first failure of this run, so a node that was down itself gets the whole window", async () => {
    await writePeers([{ nodeId: "a", address: "10.0.0.1:7401", lastSeenMs: clock.now() - 20 * HOUR }]);
    const peers = open();
    await peers.load();
    clock.advance(HOUR);
    expect(peers.attempted("10.0.0.1:7401", false)).toEqual([]);
    clock.advance(UNANSWERED_FORGET_MS - 1);
    expect(peers.attempted("10.0.0.1:7401", false)).toEqual([]);
    clock.advance(1);
    expect(peers.attempted("10.0.0.1:7401", false).map((p) => p.nodeId)).toEqual(["a"]);
  });

  it("an answer, or a sighting as a member, starts the count again", async () => {
    const peers = open({ unansweredMs: 10 * MINUTE });
    peers.remember(members("a"));
    await peers.load();
    peers.attempted("10.0.0.1:7401", false);
    clock.advance(9 * MINUTE);
    peers.attempted("10.0.0.1:7401", true);
    clock.advance(2 * MINUTE);
    expect(peers.attempted("10.0.0.1:7401", false)).toEqual([]);
    clock.advance(9 * MINUTE);
    peers.remember(members("a"));
    clock.advance(2 * MINUTE);
    expect(peers.attempted("10.0.0.1:7401", false)).toEqual([]);
    expect(await ids(peers)).toEqual(["a"]);
  });

  it("leaves alone addresses it does not remember (static or DNS peers), however often they fail", async () => {
    const peers = open({ unansweredMs: MINUTE });
    peers.remember(members("a"));
    await peers.load();
    for (let i = 0; i < 5; i++) {
      expect(peers.attempted("10.9.9.9:7401", false)).toEqual([]);
      expect(peers.attempted("not an address", false)).toEqual([]);
      clock.advance(MINUTE);
    }
    expect(await ids(peers)).toEqual(["a"]);
  });
});
