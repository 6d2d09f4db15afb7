import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { waitFor } from "../../node/dist/cli/local-cluster.js";
import { type SpawnedNode, spawnNode } from "../../node/dist/cli/spawn-node.js";
import { DnsPeerSource } from "../../node/dist/mesh/discovery/index.js";
import { createCa, issueCert, type PemPair } from "../../node/dist/transport/certs.js";
import { requireBuild } from "./cli.js";
import { type Dnsmasq, freePort, startDnsmasq } from "./dnsmasq.js";
import { allAlive, connectApp, exchange, membersOf, openChat, readyzStatus } from "./mesh-helpers.js";

// DNS bootstrap against a real dnsmasq serving what CoreDNS serves for a headless Service
// "hermes-mesh" in namespace "hermes" in front of a StatefulSet "hermes": one A record per pod
// for the Service name and for each pod's own name, and SRV records naming the pods. Every node
// has its own loopback address (127.0.0.21, .22, ...) and the same mesh port, as pods do, and
// knows nothing but the DNS name: no static peers.

const SVC = "hermes-mesh.hermes.svc.cluster.local";
const SRV = `_mesh._tcp.${SVC}`;
const POD = (i: number) => `hermes-${i}.${SVC}`;
const IP = (i: number) => `127.0.0.${21 + i}`;

let dir: string;
let hostsFile: string;
let dnsmasq: Dnsmasq | undefined;
let dnsServer: string;
let meshPort: number;
let ca: PemPair;
const nodes: SpawnedNode[] = [];
const cleanups: (() => Promise<void>)[] = [];

/** The hosts file for pods 0..count-1: each pod's name and the Service name point at its address. */
const hosts = (count: number) =>
  Array.from({ length: count }, (_, i) => `${IP(i)} ${POD(i)} ${SVC}`).join("\n") + "\n";

let setupError: unknown;

beforeAll(async () => {
  try {
    requireBuild();
    dir = await mkdtemp(join(tmpdir(), "hermes-mesh-dns-"));
    hostsFile = join(dir, "hosts");
    await writeFile(hostsFile, hosts(3));
    meshPort = await freePort([IP(0), IP(1), IP(2), IP(3)], "tcp");
    ca = await createCa({ commonName: "hermes mesh-dns test CA", validityDays: 1 });
    await writeFile(join(dir, "ca.pem"), ca.certPem);
    dnsmasq = await startDnsmasq(
      hostsFile,
      [0, 1, 2].map((i) => `--srv-host=${SRV},${POD(i)},${meshPort},0,10`),
    );
    dnsServer = dnsmasq.server;
    await waitFor(
      async () => (await resolveA()).length === 3,
      10_000,
      `dnsmasq to answer on ${dnsServer}`,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; dnsmasq said:\n${dnsmasq?.output()}`);
    });
  } catch (error) {
    setupError = error;
  }
});

// A missing dnsmasq or a broken setup fails every test with the reason (never a skip).
beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await Promise.all(nodes.map((n) => n.stop(3000)));
  await dnsmasq?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function resolveA(): Promise<string[]> {
  const { peers } = await new DnsPeerSource({
    spec: `${SVC}:${meshPort}`,
    server: dnsServer,
    timeoutMs: 500,
  }).resolve();
  return peers.sort();
}

/** Pod i: a node on its own loopback address, finding the mesh through `dns` only. */
async function startPod(i: number, dns: string): Promise<SpawnedNode> {
  const cert = await issueCert({
    ca,
    commonName: `hermes-${i}`,
    dnsNames: [POD(i)],
    ipAddresses: [IP(i)],
    validityDays: 1,
    usage: "server+client",
  });
  await writeFile(join(dir, `hermes-${i}.pem`), cert.certPem);
  await writeFile(join(dir, `hermes-${i}-key.pem`), cert.keyPem, { mode: 0o600 });
  const node = await spawnNode({
    host: IP(i),
    ports: { mesh: meshPort },
    flags: [
      `--nodeName=hermes-${i}`,
      `--mesh.tls.cert=${join(dir, `hermes-${i}.pem`)}`,
      `--mesh.tls.key=${join(dir, `hermes-${i}-key.pem`)}`,
      `--mesh.tls.ca=${join(dir, "ca.pem")}`,
      `--mesh.dns=${dns}`,
      `--mesh.dnsServer=${dnsServer}`,
      "--mesh.discoveryIntervalMs=500",
    ],
  });
  nodes[i] = node;
  return node;
}

describe("DNS bootstrap against a real dnsmasq", () => {
  it("three nodes that know only the headless Service's name form one mesh", async () => {
    expect(await resolveA()).toEqual([0, 1, 2].map((i) => `${IP(i)}:${meshPort}`));
    // Two look up the A records of the Service name, one its SRV records; all start at once.
    await Promise.all([
      startPod(0, `${SVC}:${meshPort}`),
      startPod(1, `${SVC}:${meshPort}`),
      startPod(2, SRV),
    ]);
    const ids = nodes.map((n) => n.nodeId);
    await waitFor(() => allAlive(nodes, ids), 30_000, "the three nodes to see each other alive");
    for (const [i, node] of nodes.entries()) {
      expect(node.meshEndpoint).toBe(`${IP(i)}:${meshPort}`);
      const view = await membersOf(node);
      expect(view.map((m) => m.address).sort()).toEqual(nodes.map((n) => n.meshEndpoint).sort());
      expect(await readyzStatus(node)).toBe(200);
      // Nothing but DNS to find the others through.
      expect(node.logs.find((l) => l.msg === "mesh serving")).toMatchObject({
        peers: [],
        dns: i === 2 ? SRV : `${SVC}:${meshPort}`,
      });
    }
    const [a, b] = [await connectApp(nodes[0]!.appEndpoint), await connectApp(nodes[2]!.appEndpoint)];
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    await waitFor(async () => (await a.findApp(b.appId)).online, 10_000, "node 0 to learn where b is");
    const { ab, ba } = await exchange(...(await openChat(a, b)), 20);
    expect([ab, ba]).toEqual(Array(2).fill({ sent: 20, delivered: 20, acked: 20, inOrder: true }));
  });

  it("a fourth node added to the records (hosts file rewritten, dnsmasq SIGHUP) joins through DNS alone", async () => {
    await writeFile(hostsFile, hosts(4));
    dnsmasq!.reload();
    await waitFor(async () => (await resolveA()).length === 4, 10_000, "dnsmasq to serve the fourth record");
    const fourth = await startPod(3, `${SVC}:${meshPort}`);
    await waitFor(
      () =>
        allAlive(
          nodes,
          nodes.map((n) => n.nodeId),
        ),
      20_000,
      "four nodes alive everywhere",
    );
    expect(await readyzStatus(fourth)).toBe(200);
    const joined = fourth.logs.filter((l) => l.msg === "joined the mesh").map((l) => l.seed);
    expect(joined.length).toBeGreaterThan(0);
    for (const seed of joined) expect([0, 1, 2].map((i) => `${IP(i)}:${meshPort}`)).toContain(seed);
  });
});

/** A port free on every one of `hosts` (TCP, or TCP and UDP). */
