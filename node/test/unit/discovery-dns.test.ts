import type { SrvRecord } from "node:dns";
import { describe, expect, it } from "vitest";
import { DnsPeerSource, type DnsResolver, parseDnsSpec } from "../../src/mesh/discovery/index.js";

type Answer = string[] | SrvRecord[] | { error: string } | "hang";

/** Answers from a table keyed "TYPE name"; anything absent is NXDOMAIN. "hang" waits for cancel(). */
class FakeResolver implements DnsResolver {
  readonly asked: string[] = [];
  private readonly pending: ((err: Error) => void)[] = [];

  constructor(private readonly zone: Record<string, Answer>) {}

  resolve4(name: string) {
    return this.answer<string>("A", name);
  }
  resolve6(name: string) {
    return this.answer<string>("AAAA", name);
  }
  resolveSrv(name: string) {
    return this.answer<SrvRecord>("SRV", name);
  }
  getServers() {
    return ["10.96.0.10"];
  }
  cancel() {
    for (const reject of this.pending.splice(0)) reject(dnsError("ECANCELLED", "query", "cancelled"));
  }

  private answer<T>(type: string, name: string): Promise<T[]> {
    this.asked.push(`${type} ${name}`);
    const answer = this.zone[`${type} ${name}`];
    if (answer === "hang") return new Promise((_, reject) => this.pending.push(reject));
    if (answer === undefined) return Promise.reject(dnsError("ENOTFOUND", type, name));
    if ("error" in answer) return Promise.reject(dnsError(answer.error, type, name));
    return Promise.resolve(answer as T[]);
  }
}

const dnsError = (code: string, type: string, name: string) =>
  Object.assign(new Error(`query${type} ${code} ${name}`), { code });

const source = (
  spec: string,
  zone: Record<string, Answer>,
  extra: { server?: string; timeoutMs?: number } = {},
) => {
  const resolver = new FakeResolver(zone);
  return { resolver, dns: new DnsPeerSource({ spec, ...extra, createResolver: () => resolver }) };
};

const SVC = "hermes-mesh.hermes.svc.cluster.local";
const SRV = `_mesh._tcp.${SVC}`;

describe("parseDnsSpec", () => {
  it("reads name:port as an A/AAAA lookup and _service._proto.name as SRV", () => {
    expect(parseDnsSpec(`${SVC}:7401`)).toEqual({ kind: "address", name: SVC, port: 7401 });
    expect(parseDnsSpec(` ${SRV} `)).toEqual({ kind: "srv", name: SRV });
    expect(parseDnsSpec(`${SRV}.`)).toEqual({ kind: "srv", name: `${SRV}.` });
    expect(parseDnsSpec("10.0.0.5:7401")).toEqual({ kind: "address", name: "10.0.0.5", port: 7401 });
    expect(parseDnsSpec("[fd00::5]:7401")).toEqual({ kind: "address", name: "fd00::5", port: 7401 });
  });

  it.each([
    ["", /empty/],
    [SVC, /expected host:port/],
    [`${SVC}:0`, /needs both a name and a port/],
    [":7401", /needs both a name and a port/],
    [`${SVC}:99999`, /port must be 0-65535/],
    ["fd00::5:7401", /brackets/],
    [`${SRV}:7401`, /not an SRV name.*no port/],
    ["_mesh._tcp", /not an SRV name/],
    ["_mesh.hermes-mesh", /not an SRV name/],
  ])("rejects %j", (spec, message) => {
    expect(() => parseDnsSpec(spec)).toThrow(message);
  });
});

describe("DnsPeerSource (fake resolver)", () => {
  it("A/AAAA: every address with the port, IPv6 in brackets, both types asked", async () => {
    const { dns, resolver } = source(`${SVC}:7401`, {
      [`A ${SVC}`]: ["10.0.0.1", "10.0.0.2"],
      [`AAAA ${SVC}`]: ["fd00::1"],
    });
    expect(await dns.resolve()).toEqual({ peers: ["10.0.0.1:7401", "10.0.0.2:7401", "[fd00::1]:7401"] });
    expect(resolver.asked.sort()).toEqual([`A ${SVC}`, `AAAA ${SVC}`]);
  });

  it("a missing record type (ENODATA) or name (ENOTFOUND) is just empty", async () => {
    const v4only = source(`${SVC}:7401`, {
      [`A ${SVC}`]: ["10.0.0.1"],
      [`AAAA ${SVC}`]: { error: "ENODATA" },
    });
    expect(await v4only.dns.resolve()).toEqual({ peers: ["10.0.0.1:7401"] });
    expect(await source(`nobody.${SVC}:7401`, {}).dns.resolve()).toEqual({ peers: [] });
    expect(await source(SRV, {}).dns.resolve()).toEqual({ peers: [] });
  });

  it("an IP literal needs no lookup", async () => {
    const { dns, resolver } = source("[fd00::9]:7401", {});
    expect(await dns.resolve()).toEqual({ peers: ["[fd00::9]:7401"] });
    expect(resolver.asked).toEqual([]);
  });

  it("SRV: targets resolved, in priority then weight order, with the SRV ports", async () => {
    const { dns } = source(SRV, {
      [`SRV ${SRV}`]: [
        { name: "c.example", port: 7403, priority: 20, weight: 0 },
        { name: "b.example", port: 7402, priority: 10, weight: 1 },
        { name: "a.example", port: 7401, priority: 10, weight: 50 },
        { name: ".", port: 0, priority: 0, weight: 0 },
      ],
      "A a.example": ["10.0.0.1"],
      "AAAA a.example": ["fd00::1"],
      "A b.example": ["10.0.0.2"],
      "AAAA b.example": { error: "ENODATA" },
      // c.example has no address records: dialled by name
    });
    expect(await dns.resolve()).toEqual({
      peers: ["10.0.0.1:7401", "[fd00::1]:7401", "10.0.0.2:7402", "c.example:7403"],
    });
  });

  it("other failures come back as an error naming the query and the server, with what was found", async () => {
    const { dns } = source(
      `${SVC}:7401`,
      { [`A ${SVC}`]: ["10.0.0.1"], [`AAAA ${SVC}`]: { error: "ESERVFAIL" } },
      { server: "127.0.0.1:5353" },
    );
    const result = await dns.resolve();
    expect(result.peers).toEqual(["10.0.0.1:7401"]);
    expect(result.error?.message).toBe(
      `DNS discovery of "${SVC}:7401" via 127.0.0.1:5353 failed: AAAA ${SVC}: ESERVFAIL (server failure)`,
    );
  });

  it("without a configured server the message names the system resolver's servers", async () => {
    const { dns } = source(SRV, { [`SRV ${SRV}`]: { error: "EREFUSED" } });
    const { error } = await dns.resolve();
    expect(error?.message).toMatch(/via the system resolver \(10\.96\.0\.10\) failed: SRV .*EREFUSED/);
  });

  it("a target whose lookup fails is still offered by name, and the failure reported", async () => {
    const { dns } = source(SRV, {
      [`SRV ${SRV}`]: [{ name: "a.example", port: 7401, priority: 0, weight: 0 }],
      "A a.example": { error: "ETIMEOUT" },
      "AAAA a.example": { error: "ETIMEOUT" },
    });
    const result = await dns.resolve();
    expect(result.peers).toEqual(["a.example:7401"]);
    expect(result.error?.message).toMatch(/A a\.example: ETIMEOUT \(no answer\); AAAA a\.example: ETIMEOUT/);
  });

  it("the whole resolution is bounded: the deadline cancels queries still waiting", async () => {
    const { dns } = source(
      `${SVC}:7401`,
      { [`A ${SVC}`]: "hang", [`AAAA ${SVC}`]: ["fd00::1"] },
      { timeoutMs: 50 },
    );
    const started = Date.now();
    const result = await dns.resolve();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(result.peers).toEqual(["[fd00::1]:7401"]);
    expect(result.error?.message).toMatch(new RegExp(`A ${SVC}: no answer within 50 ms`));
  });

  it("a server that is not an IP address fails at construction", () => {
    expect(() => new DnsPeerSource({ spec: `${SVC}:7401`, server: "kube-dns.example:53" })).toThrow(
      /DNS server "kube-dns\.example:53" must be an IP address and port/,
    );
    expect(() => new DnsPeerSource({ spec: `${SVC}:7401`, server: "[::1]:5353" })).not.toThrow();
  });
});
