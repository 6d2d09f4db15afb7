import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { waitFor } from "../../node/dist/cli/local-cluster.js";
import { type SpawnedNode, spawnNode } from "../../node/dist/cli/spawn-node.js";
import type { HermesClient } from "../../node/dist/index.js";
import { createCa, issueCert } from "../../node/dist/transport/certs.js";
import { requireBuild } from "./cli.js";
import {
  allAlive,
  appsByNode,
  connectApp,
  exchange,
  membersOf,
  openChat,
  readyzStatus,
  sleep,
  stateOf,
} from "./mesh-helpers.js";
import { createLab, type Lab, type LabHost } from "./netns.js";

// Three nodes, each in its own network namespace with its own address on a bridge, mutual TLS
// with certificates for those addresses. The default membership timers (what production runs),
// except discovery, which is re-run every 2 s rather than 10 s so that a healed partition is
// found sooner.

const MESH_PORT = 7401;
const FLAGS = [
  "--mesh.discoveryIntervalMs=2000",
  "--limits.messagesPerSecond=100000",
  "--limits.framesPerSecond=200000",
  "--limits.messageBurst=100000",
];

let lab: Lab | undefined;
let certDir: string | undefined;
const nodes: SpawnedNode[] = [];
const apps: HermesClient[] = [];
let setupError: unknown;

beforeAll(async () => {
  try {
    requireBuild();
    lab = await createLab(3);
    certDir = await mkdtemp(join(tmpdir(), "hermes-netns-certs-"));
    const ca = await createCa({ commonName: "hermes netns test CA", validityDays: 1 });
    await writeFile(join(certDir, "ca.pem"), ca.certPem);
    const started = lab.hosts.map(async (host, i) => {
      const cert = await issueCert({
        ca,
        commonName: `node-${i}`,
        dnsNames: [`node-${i}`],
        ipAddresses: [host.ip],
        validityDays: 1,
        usage: "server+client",
      });
      await writeFile(join(certDir!, `node-${i}.pem`), cert.certPem);
      await writeFile(join(certDir!, `node-${i}-key.pem`), cert.keyPem, { mode: 0o600 });
      const peers = lab!.hosts.filter((h) => h !== host).map((h) => `${h.ip}:${MESH_PORT}`);
      return spawnNode({
        wrapper: host.wrapper,
        host: host.ip,
        ports: { app: 7400, mesh: MESH_PORT, admin: 7402 },
        flags: [
          `--nodeName=node-${i}`,
          `--mesh.tls.cert=${join(certDir!, `node-${i}.pem`)}`,
          `--mesh.tls.key=${join(certDir!, `node-${i}-key.pem`)}`,
          `--mesh.tls.ca=${join(certDir!, "ca.pem")}`,
          `--mesh.peers=${peers.join(",")}`,
          ...FLAGS,
        ],
      });
    });
    // Keep every node that started, so afterAll stops it even when another failed.
    for (const result of await Promise.allSettled(started)) {
      if (result.status === "fulfilled") nodes.push(result.value);
      else setupError ??= result.reason;
    }
  } catch (error) {
    setupError = error;
  }
});

// A missing tool or a broken setup fails every test with the reason (never a skip).
beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await Promise.all(nodes.map((n) => n.stop(3000)));
  await lab?.destroy();
  if (certDir) await rm(certDir, { recursive: true, force: true });
});

const ids = () => nodes.map((n) => n.nodeId);
const hostOf = (node: SpawnedNode): LabHost => lab!.hosts[nodes.indexOf(node)]!;
/** `from` holds each of `ids` in `state`. */
const holds = async (from: SpawnedNode[], about: SpawnedNode[], state: string) =>
  (await Promise.all(from.flatMap((n) => about.map((a) => stateOf(n, a.nodeId))))).every((s) => s === state);
/** Membership changes to `state` that `node` logged since log index `since`. */
const logged = (node: SpawnedNode, state: string, since: number) =>
  node.logs.slice(since).filter((l) => l.msg === "membership change" && l.state === state);

async function app(node: SpawnedNode): Promise<HermesClient> {
  const client = await connectApp(node.appEndpoint);
  apps.push(client);
  return client;
}

describe("a mesh across network namespaces, one address per node", () => {
  it("forms over the nodes' own addresses with mutual TLS", async () => {
    await waitFor(() => allAlive(nodes, ids()), 30_000, "three nodes alive everywhere");
    for (const node of nodes) {
      expect(node.meshEndpoint).toBe(`${hostOf(node).ip}:${MESH_PORT}`);
      const serving = node.logs.find((l) => l.msg === "mesh serving");
      expect(serving).toMatchObject({ secure: true, advertise: node.meshEndpoint });
      expect(await readyzStatus(node)).toBe(200);
      // Each node knows the others by their namespace addresses.
      const view = await membersOf(node);
      for (const other of nodes)
        expect(view.find((m) => m.nodeId === other.nodeId)?.address).toBe(other.meshEndpoint);
    }
    await waitFor(
      async () =>
        (await Promise.all(nodes.map((n) => membersOf(n)))).every((v) => v.every((m) => m.self || m.tieline)),
      10_000,
      "every tieline up",
    );
    const [a, b] = [await app(nodes[0]!), await app(nodes[1]!)];
    await waitFor(async () => (await a.findApp(b.appId)).online, 10_000, "node 0 to learn where b is");
    const { ab, ba } = await exchange(...(await openChat(a, b)), 50);
    expect([ab, ba]).toEqual(Array(2).fill({ sent: 50, delivered: 50, acked: 50, inOrder: true }));
  });

  it("partition: both sides declare the other dead, the cut-off node's app moves to the other side and its chat goes on; healed, all alive again", async () => {
    const [n0, n1, n2] = nodes as [SpawnedNode, SpawnedNode, SpawnedNode];
    const [a, c] = [await app(n0), await app(n2)];
    await waitFor(async () => (await a.findApp(c.appId)).online, 10_000, "node 0 to learn where c is");
    const across = await openChat(a, c);
    const since = nodes.map((n) => n.logs.length);

    const cut = performance.now();
    await lab!.partition([hostOf(n2)], [hostOf(n0), hostOf(n1)]);
    await waitFor(
      async () => (await holds([n0, n1], [n2], "dead")) && (await holds([n2], [n0, n1], "dead")),
      30_000,
      "each side of the partition to hold the other dead",
    );
    const detectedMs = performance.now() - cut;
    expect(await holds([n0, n1], [n0, n1], "alive")).toBe(true);
    expect((await appsByNode(n0)).has(n2.nodeId)).toBe(false);
    // Node 2, cut off alone, sent c away (ISOLATED); c resumed its chat on the other side.
    expect(n2.logs.slice(since[2]).some((l) => l.msg === "cut off from every other node of the mesh")).toBe(
      true,
    );
    await waitFor(() => c.isConnected && c.nodeId !== n2.nodeId, 15_000, "c to resume on node 0 or 1");
    expect(across.map((chat) => chat.ended)).toEqual([false, false]);
    const during = await exchange(...across, 20);
    expect([during.ab, during.ba]).toEqual(
      Array(2).fill({ sent: 20, delivered: 20, acked: 20, inOrder: true }),
    );

    const healed = performance.now();
    await lab!.heal();
    await waitFor(() => allAlive(nodes, ids()), 40_000, "all three alive everywhere after the heal");
    const healMs = performance.now() - healed;
    // Node 2 came back by refuting its death (a higher incarnation), not as a new node.
    const refuted = (await membersOf(n0)).find((m) => m.nodeId === n2.nodeId)!;
    expect(logged(n0, "dead", since[0]!).map((l) => l.peer)).toContain(n2.nodeId);
    expect(logged(n0, "alive", since[0]!).map((l) => l.peer)).toContain(n2.nodeId);
    expect(refuted.incarnation).toBeGreaterThan(Number(logged(n0, "dead", since[0]!)[0]!.incarnation));

    // The same chat carries on after the heal, nothing lost or repeated.
    const { ab, ba } = await exchange(...across, 50);
    expect([ab, ba]).toEqual(Array(2).fill({ sent: 50, delivered: 50, acked: 50, inOrder: true }));
    console.info(`partition detected in ${Math.round(detectedMs)} ms, healed in ${Math.round(healMs)} ms`);
  });

  it("10% loss and 20 ms delay on one node: nobody declared dead, a chat through it loses nothing", async () => {
    const [n0, , n2] = nodes as [SpawnedNode, SpawnedNode, SpawnedNode];
    await waitFor(() => allAlive(nodes, ids()), 30_000, "all alive before the impairment");
    const [a, c] = [await app(n0), await app(n2)];
    await waitFor(async () => (await a.findApp(c.appId)).online, 10_000, "node 0 to learn where c is");
    const [aSide, cSide] = await openChat(a, c);
    const since = nodes.map((n) => n.logs.length);

    const impairment = await lab!.impair(hostOf(n2), { lossPercent: 10, delayMs: 20 });
    try {
      // 20 s of traffic: 20 messages each way every second, while membership is watched.
      const window = 20_000;
      const started = Date.now();
      let rounds = 0;
      const seen = new Set<string>();
      const watch = (async () => {
        while (Date.now() - started < window) {
          for (const view of await Promise.all(nodes.map((n) => membersOf(n).catch(() => []))))
            for (const m of view) seen.add(m.state);
          await sleep(500);
        }
      })();
      const chats: Promise<{ ab: unknown; ba: unknown }>[] = [];
      while (Date.now() - started < window) {
        chats.push(exchange(aSide, cSide, 20, 30_000));
        rounds++;
        await sleep(1000);
      }
      await watch;
      for (const { ab, ba } of await Promise.all(chats))
        expect([ab, ba]).toEqual(Array(2).fill({ sent: 20, delivered: 20, acked: 20, inOrder: true }));
      expect(rounds).toBeGreaterThanOrEqual(15);
      expect(seen.has("dead")).toBe(false);
      for (const [i, node] of nodes.entries()) expect(logged(node, "dead", since[i]!)).toEqual([]);
      expect(await allAlive(nodes, ids())).toBe(true);
      const suspicions = nodes.reduce((n, node, i) => n + logged(node, "suspect", since[i]!).length, 0);
      let report = `impairment by ${impairment.via}: ${rounds * 40} messages, ${suspicions} suspicions, no deaths`;
      if (impairment.via === "nfqueue") {
        const { delayed, dropped } = await impairment.stats();
        expect(dropped).toBeGreaterThan(0);
        expect(delayed).toBeGreaterThan(dropped);
        report += `; ${delayed} packets delayed, ${dropped} dropped`;
      }
      console.info(report);
    } finally {
      await impairment.remove();
    }
  });
});
