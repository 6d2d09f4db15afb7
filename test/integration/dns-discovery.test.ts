import { createSocket, type Socket } from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type DiscoveredPeer,
  Discovery,
  DnsPeerSource,
  type DnsPeerSourceOptions,
} from "../../node/src/mesh/discovery/index.js";
import { type Dnsmasq, freePort, startDnsmasq } from "./dnsmasq.js";

// Headless-Service-style records, as CoreDNS serves them for a StatefulSet "hermes" behind the
// headless Service "hermes-mesh" in namespace "hermes".
const SVC = "hermes-mesh.hermes.svc.cluster.local";
const POD = (i: number) => `hermes-${i}.${SVC}`;
const SRV = `_mesh._tcp.${SVC}`;
const HOSTS = [`127.0.0.11 ${POD(0)} ${SVC}`, `127.0.0.12 ${POD(1)} ${SVC}`, `fd00::11 ${SVC}`].join("\n");

let dir: string;
let hostsFile: string;
let dnsmasq: Dnsmasq | undefined;
let server: string;
let setupError: unknown;

// A missing or broken dnsmasq fails every test with the reason (never a skip).
beforeAll(async () => {
  try {
    await startDns();
  } catch (err) {
    setupError = err;
  }
});
beforeEach(() => {
  if (setupError) throw setupError;
});

async function startDns(): Promise<void> {
  dir = await mkdtemp(join(tmpdir(), "hermes-dns-"));
  hostsFile = join(dir, "hosts");
  await writeFile(hostsFile, HOSTS + "\n");
  dnsmasq = await startDnsmasq(hostsFile, [
    // Out of order on purpose: discovery sorts by priority.
    `--srv-host=${SRV},${POD(9)},7409,30,0`, // a target without address records
    `--srv-host=${SRV},${POD(0)},7401,10,0`,
    `--srv-host=${SRV},${POD(1)},7401,0,0`,
  ]);
  server = dnsmasq.server;
  await waitUntilAnswering();
}

afterAll(async () => {
  await dnsmasq?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const dns = (spec: string, extra: Partial<DnsPeerSourceOptions> = {}) =>
  new DnsPeerSource({ spec, server, timeoutMs: 3000, ...extra });

describe("DNS discovery against a real dnsmasq", () => {
  it("name:port returns every A and AAAA address with the port", async () => {
    const result = await dns(`${SVC}:7401`).resolve();
    expect(result.error).toBeUndefined();
    expect(result.peers.sort()).toEqual(["127.0.0.11:7401", "127.0.0.12:7401", "[fd00::11]:7401"]);
    // a name with only an A record: the empty AAAA answer is not an error
    expect(await dns(`${POD(0)}:7401`).resolve()).toEqual({ peers: ["127.0.0.11:7401"] });
  });

  it("an SRV name returns the targets' addresses with the SRV ports, in priority order", async () => {
    expect(await dns(SRV).resolve()).toEqual({
      peers: ["127.0.0.12:7401", "127.0.0.11:7401", `${POD(9)}:7409`],
    });
  });

  it("an unknown name is an empty list, not an error", async () => {
    expect(await dns(`nobody.hermes.svc.cluster.local:7401`).resolve()).toEqual({ peers: [] });
    expect(await dns(`_nobody._tcp.${SVC}`).resolve()).toEqual({ peers: [] });
  });

  it("re-resolution picks up changed records: a new peer appears, a removed one disappears", async () => {
    const rounds: DiscoveredPeer[][] = [];
    const errors: Error[] = [];
    const discovery = new Discovery({
      sources: [dns(`${SVC}:7401`)],
      intervalMs: 100,
      self: "127.0.0.12:7401",
      onError: (e) => errors.push(e),
    });
    const latest = () => (rounds.at(-1) ?? []).map((p) => p.address).sort();
    discovery.start((peers) => {
      rounds.push(peers);
    });
    try {
      await vi.waitFor(() => expect(latest()).toEqual(["127.0.0.11:7401", "[fd00::11]:7401"]), 5000);
      // hermes-0 goes away, hermes-2 arrives
      await writeFile(
        hostsFile,
        [`127.0.0.12 ${POD(1)} ${SVC}`, `127.0.0.13 ${POD(2)} ${SVC}`, ""].join("\n"),
      );
      dnsmasq!.reload();
      await vi.waitFor(() => expect(latest()).toEqual(["127.0.0.13:7401"]), 5000);
      expect(errors).toEqual([]);
    } finally {
      discovery.stop();
      await writeFile(hostsFile, HOSTS + "\n");
      dnsmasq!.reload();
    }
    await vi.waitFor(async () => expect((await dns(SRV).resolve()).peers).toContain("127.0.0.11:7401"), 5000);
  });

  it("a dead server is a clear error naming it, within the timeout", async () => {
    const dead = `127.0.0.1:${await freePort(["127.0.0.1"], "both")}`;
    const started = Date.now();
    const result = await dns(`${SVC}:7401`, { server: dead, timeoutMs: 2000 }).resolve();
    expect(Date.now() - started).toBeLessThan(2500);
    expect(result.peers).toEqual([]);
    const message = result.error?.message ?? "";
    expect(message.startsWith(`DNS discovery of "${SVC}:7401" via ${dead} failed: A ${SVC}: `)).toBe(true);
    // Refused at once on loopback (ICMP port unreachable); where that is filtered, a timeout.
    expect(message).toMatch(/: (ECONNREFUSED|no answer)/);
  });

  it("a server that never answers is given up on at the deadline", async () => {
    const silent = await blackHole();
    try {
      const spec = SRV;
      const started = Date.now();
      const result = await dns(spec, { server: silent.address, timeoutMs: 800 }).resolve();
      expect(Date.now() - started).toBeLessThan(1500);
      expect(result.peers).toEqual([]);
      expect(result.error?.message).toContain(`via ${silent.address} failed: SRV ${spec}: `);
      expect(result.error?.message).toMatch(/: (no answer|ETIMEOUT)/);
    } finally {
      silent.socket.close();
    }
  });
});

/** A UDP "server" that swallows every query. */
async function blackHole(): Promise<{ socket: Socket; address: string }> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return { socket, address: `127.0.0.1:${socket.address().port}` };
}

async function waitUntilAnswering(): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (!dnsmasq || dnsmasq.exited()) throw new Error(`dnsmasq did not start:\n${dnsmasq?.output() ?? ""}`);
    const { peers } = await dns(`${POD(0)}:7401`, { timeoutMs: 300 }).resolve();
    if (peers.length > 0) return;
    if (Date.now() > deadline)
      throw new Error(`dnsmasq on ${server} did not answer within 10 s:\n${dnsmasq.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
