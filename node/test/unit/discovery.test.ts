import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { defaultConfig } from "../../src/config/index.js";
import {
  canonicalAddress,
  type DiscoveredPeer,
  Discovery,
  DnsPeerSource,
  discoveryFromConfig,
  type PeerSource,
  type SourceResult,
  StaticPeerSource,
} from "../../src/mesh/discovery/index.js";
import { FakeClock } from "../../src/utils/fake-clock.js";

/** A source whose answer the test changes between rounds. */
class ScriptedSource implements PeerSource {
  calls = 0;
  constructor(
    readonly name: string,
    public result: SourceResult | (() => Promise<SourceResult>),
  ) {}
  async resolve(): Promise<SourceResult> {
    this.calls++;
    return typeof this.result === "function" ? this.result() : this.result;
  }
}

const collect = () => {
  const errors: { message: string; source: string }[] = [];
  return { errors, onError: (e: Error, source: string) => errors.push({ message: e.message, source }) };
};

describe("StaticPeerSource and canonicalAddress", () => {
  it("returns the configured peers in one spelling", async () => {
    const peers = new StaticPeerSource(["Hermes-0.Example.:7401", "[0:0:0:0:0:0:0:1]:7401", "10.0.0.1:7401"]);
    expect(await peers.resolve()).toEqual({
      peers: ["hermes-0.example:7401", "[::1]:7401", "10.0.0.1:7401"],
    });
  });

  it("rejects a peer nobody could dial at construction", () => {
    expect(() => new StaticPeerSource(["10.0.0.1"])).toThrow(/static peer: expected host:port/);
    expect(() => new StaticPeerSource([":7401"])).toThrow(/not a dialable host:port/);
    expect(() => new StaticPeerSource(["a.example:0"])).toThrow(/not a dialable host:port/);
  });

  it("canonicalAddress trims and keeps IPv6 zone IDs as written", () => {
    expect(canonicalAddress(" a.example:1 ")).toBe("a.example:1");
    expect(canonicalAddress("[FE80::1%eth0]:7401")).toBe("[fe80::1%eth0]:7401");
  });
});

describe("Discovery.resolveOnce", () => {
  it("deduplicates across sources (the earlier source wins) and excludes the node itself", async () => {
    const { errors, onError } = collect();
    const discovery = new Discovery({
      sources: [
        new ScriptedSource("static", { peers: ["a.example:7401", "10.0.0.1:7401"] }),
        new ScriptedSource("dns", {
          peers: ["10.0.0.1:7401", "10.0.0.2:7401", "[fd00::0:5]:7401", "A.EXAMPLE.:7401"],
        }),
        new ScriptedSource("persisted", { peers: ["10.0.0.2:7401", "10.0.0.3:7401", "10.0.0.3:7402"] }),
      ],
      intervalMs: 1000,
      self: ["hermes-0.example:7401", "[fd00::5]:7401"],
      onError,
    });
    expect(await discovery.resolveOnce()).toEqual<DiscoveredPeer[]>([
      { address: "a.example:7401", source: "static" },
      { address: "10.0.0.1:7401", source: "static" },
      { address: "10.0.0.2:7401", source: "dns" },
      { address: "10.0.0.3:7401", source: "persisted" },
      { address: "10.0.0.3:7402", source: "persisted" },
    ]);
    expect(errors).toEqual([]);
  });

  it("self may be a single string in any spelling", async () => {
    const discovery = new Discovery({
      sources: [new StaticPeerSource(["hermes-0.example:7401", "hermes-1.example:7401"])],
      intervalMs: 1000,
      self: "HERMES-0.example.:7401",
      onError: () => undefined,
    });
    expect((await discovery.resolveOnce()).map((p) => p.address)).toEqual(["hermes-1.example:7401"]);
  });

  it("reports failing sources, keeps their partial answers and the other sources' peers", async () => {
    const { errors, onError } = collect();
    const discovery = new Discovery({
      sources: [
        new ScriptedSource("dns", { peers: ["10.0.0.1:7401"], error: new Error("AAAA timed out") }),
        new ScriptedSource("broken", () => Promise.reject(new Error("boom"))),
        new ScriptedSource("odd", { peers: ["no-port", "10.0.0.2:7401"] }),
      ],
      intervalMs: 1000,
      onError,
    });
    expect((await discovery.resolveOnce()).map((p) => p.address)).toEqual(["10.0.0.1:7401", "10.0.0.2:7401"]);
    expect(errors).toEqual([
      { message: "AAAA timed out", source: "dns" },
      { message: "broken discovery failed: boom", source: "broken" },
      { message: 'odd returned "no-port", which is not a host:port', source: "odd" },
    ]);
  });

  it("rejects a non-positive interval", () => {
    expect(() => new Discovery({ sources: [], intervalMs: 0, onError: () => undefined })).toThrow(/interval/);
  });
});

describe("Discovery.start", () => {
  const setup = (random: () => number) => {
    const clock = new FakeClock();
    const source = new ScriptedSource("dns", { peers: ["10.0.0.1:7401"] });
    const rounds: string[][] = [];
    const { errors, onError } = collect();
    const discovery = new Discovery({ sources: [source], intervalMs: 10_000, clock, random, onError });
    discovery.start((peers) => {
      rounds.push(peers.map((p) => p.address));
    });
    return { clock, source, rounds, errors, discovery };
  };

  it("resolves at once, then every interval (jittered ±10%), picking up changes, until stopped", async () => {
    const { clock, source, rounds, discovery } = setup(() => 0); // shortest jitter: 9000 ms
    await vi.waitFor(() => expect(rounds).toHaveLength(1));
    await vi.waitFor(() => expect(clock.pending()).toBe(1)); // the next round is scheduled
    expect(discovery.started).toBe(true);
    source.result = { peers: ["10.0.0.1:7401", "10.0.0.2:7401"] };
    clock.advance(8999);
    await Promise.resolve();
    expect(source.calls).toBe(1);
    clock.advance(1);
    await vi.waitFor(() => expect(rounds).toHaveLength(2));
    expect(rounds[1]).toEqual(["10.0.0.1:7401", "10.0.0.2:7401"]);

    discovery.stop();
    expect(discovery.started).toBe(false);
    expect(clock.pending()).toBe(0);
    clock.advance(60_000);
    expect(source.calls).toBe(2);
  });

  it("the longest jitter is +10%", async () => {
    const { clock, source, rounds, discovery } = setup(() => 0.999_999);
    await vi.waitFor(() => expect(rounds).toHaveLength(1));
    await vi.waitFor(() => expect(clock.pending()).toBe(1)); // the next round is scheduled
    clock.advance(10_999);
    expect(source.calls).toBe(1);
    clock.advance(1);
    await vi.waitFor(() => expect(rounds).toHaveLength(2));
    discovery.stop();
  });

  it("rounds never overlap: the next interval starts when a slow round ends", async () => {
    const clock = new FakeClock();
    let finish = () => {};
    const slow = new ScriptedSource(
      "dns",
      () => new Promise((resolve) => (finish = () => resolve({ peers: [] }))),
    );
    const discovery = new Discovery({
      sources: [slow],
      intervalMs: 1000,
      clock,
      random: () => 0.5,
      onError: () => {},
    });
    const listener = vi.fn();
    discovery.start(listener);
    clock.advance(5000);
    expect(slow.calls).toBe(1);
    expect(clock.pending()).toBe(0);
    finish();
    await vi.waitFor(() => expect(listener).toHaveBeenCalledTimes(1));
    expect(clock.pending()).toBe(1);
    discovery.stop();
  });

  it("a round in flight at stop() does not reach the listener; start twice is an error", async () => {
    const clock = new FakeClock();
    let finish = () => {};
    const slow = new ScriptedSource(
      "dns",
      () => new Promise((resolve) => (finish = () => resolve({ peers: [] }))),
    );
    const discovery = new Discovery({ sources: [slow], intervalMs: 1000, clock, onError: () => {} });
    const listener = vi.fn();
    discovery.start(listener);
    expect(() => discovery.start(listener)).toThrow(/already started/);
    discovery.stop();
    finish();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(listener).not.toHaveBeenCalled();
    expect(clock.pending()).toBe(0);
  });

  it("a listener that throws is reported and discovery carries on", async () => {
    const clock = new FakeClock();
    const { errors, onError } = collect();
    const source = new ScriptedSource("static", { peers: ["10.0.0.1:7401"] });
    const discovery = new Discovery({ sources: [source], intervalMs: 1000, clock, onError });
    discovery.start(async () => {
      throw new Error("join failed");
    });
    await vi.waitFor(() => expect(errors).toEqual([{ message: "join failed", source: "discovery" }]));
    await vi.waitFor(() => expect(clock.pending()).toBe(1));
    clock.advance(1100);
    await vi.waitFor(() => expect(errors).toHaveLength(2));
    discovery.stop();
  });
});

describe("discoveryFromConfig", () => {
  it("static, DNS and persisted sources from mesh config; this host's own endpoints excluded", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "hermes-discovery-"));
    try {
      const config = defaultConfig();
      config.dataDir = dataDir;
      config.mesh.listen = "0.0.0.0:7401";
      config.mesh.advertise = "hermes-0.example:7401";
      config.mesh.peers = ["127.0.0.1:7401", "hermes-0.example:7401", "10.9.9.9:7401"];
      const { errors, onError } = collect();
      const { discovery, persisted } = discoveryFromConfig(config, onError);
      persisted.remember([{ id: "n1", address: "10.9.9.8:7401" }]);
      expect(await discovery.resolveOnce()).toEqual([
        { address: "10.9.9.9:7401", source: "static" },
        { address: "10.9.9.8:7401", source: "persisted" },
      ]);
      await persisted.close();
      expect(errors).toEqual([]);

      // listen port 0: the bound port comes from the advertised address
      config.mesh.listen = "0.0.0.0:0";
      config.mesh.advertise = "hermes-0.example:7555";
      config.mesh.peers = ["127.0.0.1:7555", "127.0.0.1:7401"];
      const bound = discoveryFromConfig(config, onError);
      expect((await bound.discovery.resolveOnce()).map((p) => p.address)).toEqual([
        "127.0.0.1:7401",
        "10.9.9.8:7401",
      ]);

      config.mesh.dns = "_mesh._tcp.hermes-mesh.hermes.svc.cluster.local";
      config.mesh.dnsServer = "127.0.0.1:5353";
      expect(() => discoveryFromConfig(config, onError)).not.toThrow();
      config.mesh.dns = "hermes-mesh";
      expect(() => discoveryFromConfig(config, onError)).toThrow(/expected host:port/);
      expect(new DnsPeerSource({ spec: "hermes-mesh:7401" }).spec.kind).toBe("address");
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
