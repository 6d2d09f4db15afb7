import { readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  killAndDetect,
  type LocalCluster,
  startLocalCluster,
  waitFor,
} from "../../node/dist/cli/local-cluster.js";
import { type SpawnedNode, spawnNode } from "../../node/dist/cli/spawn-node.js";
import { type Chat, type HermesClient, Identity } from "../../node/dist/index.js";
import { createCa, issueCert } from "../../node/dist/transport/certs.js";
import { requireBuild } from "./cli.js";
import {
  allAlive,
  appsByNode,
  connectApp,
  exchange,
  FAST_MESH,
  membersOf,
  metric,
  openChat,
  readyzStatus,
  sleep,
  stateChanges,
  stateOf,
} from "./mesh-helpers.js";

// Four real `hermes node` processes on loopback, mutual TLS with a fresh CA, node 0 the only
// seed. The tests run in order on the same cluster: chats are opened, node 2 is killed and
// restarted, node 3 leaves, and outsiders try to get in.

const SIZE = 4;
let cluster: LocalCluster;
/** Started outside the cluster; stopped in afterAll. */
const outsiders: SpawnedNode[] = [];
const apps: HermesClient[] = [];
const alive = () => cluster.nodes.filter((n) => n.process.exitCode === null && n.process.signalCode === null);

/** App name -> the node index it connects to. */
const PLACEMENT = { a: 0, b: 1, c: 1, d: 2, e: 0, f: 3, g: 2, h: 3 } as const;
type AppName = keyof typeof PLACEMENT;
const identities = Object.fromEntries(
  Object.keys(PLACEMENT).map((name) => [name, Identity.generate()]),
) as Record<AppName, Identity>;
const app = {} as Record<AppName, HermesClient>;
/** The four chats, each end named after its app: steady a–b never touches nodes 2 and 3. */
const chats = {} as Record<"ab" | "cd" | "ef" | "gh", [Chat, Chat]>;

let setupError: unknown;

beforeAll(async () => {
  try {
    requireBuild();
    cluster = await startLocalCluster({ size: SIZE, flags: FAST_MESH, timeoutMs: 30_000 });
  } catch (error) {
    setupError = error;
  }
});

// A broken setup fails every test with the reason (never a skip).
beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await Promise.all(outsiders.map((n) => n.stop(3000)));
  await cluster?.stop();
});

async function startApp(name: AppName, node = cluster.nodes[PLACEMENT[name]]!): Promise<HermesClient> {
  const client = await connectApp(node.appEndpoint, identities[name]);
  apps.push(client);
  app[name] = client;
  return client;
}

/** Every running node's routing table places each app on the node it is connected to. */
async function routesAgree(names: AppName[]): Promise<boolean> {
  const tables = await Promise.all(alive().map((n) => appsByNode(n)));
  return tables.every((table) => names.every((name) => table.get(app[name].nodeId)?.has(app[name].appId)));
}

describe("a mutual-TLS mesh of hermes processes on loopback", () => {
  it("four nodes join through one seed: every node sees all alive, is ready and counts them", async () => {
    const ids = cluster.nodes.map((n) => n.nodeId);
    expect(new Set(ids).size).toBe(SIZE);
    // startLocalCluster saw them all alive once; on a busy machine a member may be suspected
    // for a moment and refute it, so the steady state is waited for, not sampled.
    await waitFor(
      async () =>
        (await allAlive(cluster.nodes, ids)) &&
        (
          await Promise.all(cluster.nodes.map((n) => metric(n, "hermes_mesh_members", { state: "alive" })))
        ).every((count) => count === SIZE),
      10_000,
      "all alive everywhere, in /mesh/members and in hermes_mesh_members",
    );
    for (const node of cluster.nodes) {
      const view = await membersOf(node);
      expect(view.map((m) => m.nodeId).sort()).toEqual([...ids].sort());
      expect(view.filter((m) => m.self).map((m) => m.nodeId)).toEqual([node.nodeId]);
      expect(await readyzStatus(node)).toBe(200);
      expect(await metric(node, "hermes_mesh_members", { state: "dead" })).toBe(0);
    }
    // Nodes 1..3 got in through the seed; the seed joined nobody.
    for (const node of cluster.nodes.slice(1))
      expect(await metric(node, "hermes_mesh_join_attempts_total", { result: "ok" })).toBeGreaterThan(0);
    expect(await metric(cluster.nodes[0]!, "hermes_mesh_join_attempts_total", { result: "ok" })).toBe(0);
    // Each node opens a tieline to every other ahead of traffic.
    await waitFor(
      async () =>
        (await Promise.all(cluster.nodes.map((n) => membersOf(n)))).every((view) =>
          view.every((m) => m.self || m.tieline === true),
        ),
      10_000,
      "every tieline to be up",
    );
  });

  it("cross-node chats: apps spread over the nodes chat both ways, in order, all acked", async () => {
    await Promise.all((Object.keys(PLACEMENT) as AppName[]).map((name) => startApp(name)));
    const names = Object.keys(PLACEMENT) as AppName[];
    for (const name of names) expect(app[name].nodeId).toBe(cluster.nodes[PLACEMENT[name]]!.nodeId);
    // /mesh/routes on every node lists every app on its hosting node.
    await waitFor(() => routesAgree(names), 10_000, "every routing table to place every app");

    chats.ab = await openChat(app.a, app.b);
    chats.cd = await openChat(app.c, app.d);
    chats.ef = await openChat(app.e, app.f);
    chats.gh = await openChat(app.g, app.h);
    const results = await Promise.all(Object.values(chats).map(([x, y]) => exchange(x, y, 100)));
    for (const { ab, ba } of results) {
      for (const way of [ab, ba])
        expect(way).toEqual({ sent: 100, delivered: 100, acked: 100, inOrder: true });
    }
    const tielines = await Promise.all(cluster.nodes.map((n) => metric(n, "hermes_mesh_tielines")));
    expect(tielines).toEqual(Array(SIZE).fill(SIZE - 1));
  });

  it("kill -9 of a node: declared dead everywhere, its routes gone; its apps fail over and every chat goes on", async () => {
    const victim = cluster.nodes[2]!;
    // The next test restarts this node from what it remembered: its members are written to
    // <dataDir>/peers.json a moment (debounced) after they change, so let that happen first.
    await waitFor(
      async () => {
        const saved = await readFile(join(victim.dataDir, "peers.json"), "utf8").catch(() => "");
        return saved !== "" && (JSON.parse(saved) as { peers: unknown[] }).peers.length === SIZE - 1;
      },
      5000,
      "the victim to save its peers",
    );
    const detectedMs = await killAndDetect(cluster, victim, 20_000);
    expect(detectedMs).toBeLessThan(15_000);
    console.info(`kill -9 detected everywhere after ${detectedMs} ms`);
    for (const node of alive()) {
      expect(await stateOf(node, victim.nodeId)).toBe("dead");
      expect(await metric(node, "hermes_mesh_members", { state: "dead" })).toBe(1);
      expect(await metric(node, "hermes_mesh_failures_total")).toBeGreaterThanOrEqual(1);
    }
    // Its routing entries are dropped at once, everywhere.
    for (const node of alive()) expect((await appsByNode(node)).has(victim.nodeId)).toBe(false);
    // d and g (on the dead node) failed over to nodes they were told of, and resumed their chats.
    await waitFor(
      () => [app.d, app.g].every((x) => x.isConnected && x.nodeId !== victim.nodeId),
      15_000,
      "d and g to be taken in by other nodes",
    );
    await waitFor(() => routesAgree(["d", "g"]), 10_000, "every routing table to place d and g anew");
    // Every chat goes on, the ones through the dead node too: nothing lost, nothing twice.
    for (const [x, y] of Object.values(chats)) {
      const { ab, ba } = await exchange(x, y, 50);
      expect([ab, ba]).toEqual(Array(2).fill({ sent: 50, delivered: 50, acked: 50, inOrder: true }));
      expect([x.ended, y.ended]).toEqual([false, false]);
    }
    await Promise.all([app.d.close(), app.g.close()]); // the next test brings new apps to node 2
  });

  it("restart with the same data directory: same node ID, back through its persisted peers, apps reachable", async () => {
    const old = cluster.nodes[2]!;
    const remembered = JSON.parse(await readFile(join(old.dataDir, "peers.json"), "utf8")) as {
      peers: { nodeId: string }[];
    };
    const others = cluster.nodes.filter((n) => n !== old).map((n) => n.nodeId);
    expect(remembered.peers.map((p) => p.nodeId).sort()).toEqual([...others].sort());

    // No static peers and no DNS: the node finds the mesh only through <dataDir>/peers.json.
    const certs = (file: string) => join(cluster.certDir, file);
    const restarted = await spawnNode({
      dataDir: old.dataDir,
      removeDataDir: true,
      flags: [
        "--nodeName=node-2",
        `--mesh.tls.cert=${certs("node-2.pem")}`,
        `--mesh.tls.key=${certs("node-2-key.pem")}`,
        `--mesh.tls.ca=${certs("ca.pem")}`,
        ...FAST_MESH,
      ],
    });
    cluster.nodes[2] = restarted;
    expect(restarted.nodeId).toBe(old.nodeId);
    await waitFor(
      () =>
        allAlive(
          cluster.nodes,
          cluster.nodes.map((n) => n.nodeId),
        ),
      15_000,
      "node 2 alive again",
    );
    expect(await readyzStatus(restarted)).toBe(200);
    // Everybody has its new address (a new port, as a restarted pod may get a new IP).
    for (const node of cluster.nodes) {
      const record = (await membersOf(node)).find((m) => m.nodeId === old.nodeId);
      expect(record?.address).toBe(restarted.meshEndpoint);
    }

    // Its apps come back and are reachable from elsewhere.
    await startApp("d", restarted);
    await startApp("g", restarted);
    await waitFor(() => routesAgree(["c", "d", "g", "h"]), 10_000, "routes to node 2's apps again");
    chats.cd = await openChat(app.c, app.d);
    chats.gh = await openChat(app.h, app.g);
    for (const [x, y] of [chats.cd, chats.gh]) {
      const { ab, ba } = await exchange(x, y, 50);
      expect([ab, ba]).toEqual(Array(2).fill({ sent: 50, delivered: 50, acked: 50, inOrder: true }));
    }
  });

  it("graceful leave on SIGTERM: others record it left (never suspect), quickly; its apps and chats carry on", async () => {
    const leaver = cluster.nodes[3]!;
    const stayers = cluster.nodes.filter((n) => n !== leaver);
    const before = stayers.map((n) => stateChanges(n, leaver.nodeId).length);
    const started = performance.now();
    const exit = leaver.stop(5000);
    await waitFor(
      async () =>
        (await Promise.all(stayers.map((n) => stateOf(n, leaver.nodeId)))).every((s) => s === "left"),
      5000,
      "every node to record the leave",
    );
    const leftMs = performance.now() - started;
    expect(await exit).toBe(0);
    // Declaring a failure takes a probe timeout plus the suspicion timeout: ≥ 150 + 2 × 300 ms
    // with these timers (and up to 4× the latter without confirmations). A leave is news at once.
    expect(leftMs).toBeLessThan(600);
    console.info(`left recorded everywhere ${Math.round(leftMs)} ms after SIGTERM`);
    // From the SIGTERM on, each node's only change about it: left (not suspect, not dead).
    for (const [i, node] of stayers.entries())
      expect(stateChanges(node, leaver.nodeId).slice(before[i])).toEqual(["left"]);
    // Its routes are gone, and stay gone: the leaver's last directory news (its apps leaving)
    // arrives after its leave and must not bring its entry back.
    for (const node of stayers) expect((await appsByNode(node)).has(leaver.nodeId)).toBe(false);
    await sleep(1000);
    for (const node of stayers) expect((await appsByNode(node)).has(leaver.nodeId)).toBe(false);
    // f and h (on the leaver) moved to the nodes that stay, with their chats.
    await waitFor(
      () => [app.f, app.h].every((x) => x.isConnected && x.nodeId !== leaver.nodeId),
      10_000,
      "f and h to be taken in by other nodes",
    );
    for (const [x, y] of [chats.ab, chats.ef, chats.gh]) {
      const { ab, ba } = await exchange(x, y, 20);
      expect([ab, ba]).toEqual(Array(2).fill({ sent: 20, delivered: 20, acked: 20, inOrder: true }));
    }
    await Promise.all([app.f.close(), app.h.close()]);
  });
});

describe("tielines", () => {
  it("a tieline that could not open at first comes up once the peer is reachable", async () => {
    // Node x tries to join y before y listens, so x's channel to y starts out failed; then y
    // joins through x. x's first tieline to y fails on that channel, and must be retried.
    const certs = (file: string) => join(cluster.certDir, file);
    const flags = (name: string) => [
      `--mesh.tls.cert=${certs(`${name}.pem`)}`,
      `--mesh.tls.key=${certs(`${name}-key.pem`)}`,
      `--mesh.tls.ca=${certs("ca.pem")}`,
      "--mesh.discoveryIntervalMs=60000",
    ];
    const yPort = await freeTcpPort();
    const x = await spawnNode({ flags: [...flags("node-0"), `--mesh.peers=127.0.0.1:${yPort}`] });
    outsiders.push(x);
    await waitFor(
      async () => (await metric(x, "hermes_mesh_join_attempts_total", { result: "failed" })) > 0,
      10_000,
      "x's join attempt to fail",
    );
    const y = await spawnNode({
      ports: { mesh: yPort },
      flags: [...flags("node-1"), `--mesh.peers=${x.meshEndpoint}`],
    });
    outsiders.push(y);
    await waitFor(() => allAlive([x, y], [x.nodeId, y.nodeId]), 10_000, "x and y alive");
    await waitFor(
      async () => (await membersOf(x)).find((m) => m.nodeId === y.nodeId)?.tieline === true,
      8000,
      "x's tieline to y to come up",
    );
    await Promise.all([x.stop(3000), y.stop(3000)]);
  });
});

describe("who cannot join", () => {
  const joinFailures = async (node: SpawnedNode) =>
    (await metric(node, "hermes_mesh_join_attempts_total", { result: "failed" })) +
    (await metric(node, "hermes_mesh_join_attempts_total", { result: "refused" }));

  /** The outsider keeps trying and failing, is not ready, and no member of the mesh ever lists it. */
  async function neverJoins(outsider: SpawnedNode): Promise<void> {
    await waitFor(async () => (await joinFailures(outsider)) >= 2, 15_000, "two failed join attempts");
    const first = await joinFailures(outsider);
    await waitFor(async () => (await joinFailures(outsider)) > first, 10_000, "the failures to keep growing");
    expect(await metric(outsider, "hermes_mesh_join_attempts_total", { result: "ok" })).toBe(0);
    expect(await readyzStatus(outsider)).toBe(503);
    expect((await membersOf(outsider)).map((m) => m.nodeId)).toEqual([outsider.nodeId]);
    for (const node of alive()) {
      expect((await membersOf(node)).map((m) => m.nodeId)).not.toContain(outsider.nodeId);
    }
  }

  /** The seed counted the outsiders' connections as refused for `reason` and logged one with its detail. */
  async function refusedAtSeed(reason: string, detail: RegExp): Promise<void> {
    const seed = cluster.nodes[0]!;
    expect(await metric(seed, "hermes_connections_refused_total", { port: "mesh", reason })).toBeGreaterThan(
      0,
    );
    const line = seed.logs.find((l) => l.msg === "connection refused" && l.reason === reason);
    expect(line).toMatchObject({ component: "mesh", port: "mesh", remote: "127.0.0.1", level: "warn" });
    expect(String(line?.detail)).toMatch(detail);
  }

  async function outsider(name: string, flags: string[]): Promise<SpawnedNode> {
    const seed = cluster.nodes[0]!.meshEndpoint;
    const node = await spawnNode({
      flags: [`--nodeName=${name}`, `--mesh.peers=${seed}`, ...FAST_MESH, ...flags],
    });
    outsiders.push(node);
    return node;
  }

  it("nodes with certificates from another CA are refused, even one that trusts the mesh's CA", async () => {
    const otherCa = await createCa({ commonName: "some other CA", validityDays: 1 });
    const cert = await issueCert({
      ca: otherCa,
      commonName: "intruder",
      dnsNames: ["intruder", "localhost"],
      ipAddresses: ["127.0.0.1"],
      validityDays: 1,
      usage: "server+client",
    });
    const dir = cluster.certDir;
    const meshCa = await readFile(join(dir, "ca.pem"), "utf8");
    await writeFile(join(dir, "intruder.pem"), cert.certPem);
    await writeFile(join(dir, "intruder-key.pem"), cert.keyPem, { mode: 0o600 });
    await writeFile(join(dir, "other-ca.pem"), otherCa.certPem);
    // Trusting the mesh CA too means only the nodes' check of the client certificate stops it.
    await writeFile(join(dir, "other-and-mesh-ca.pem"), otherCa.certPem + meshCa);
    const tls = (ca: string) => [
      `--mesh.tls.cert=${join(dir, "intruder.pem")}`,
      `--mesh.tls.key=${join(dir, "intruder-key.pem")}`,
      `--mesh.tls.ca=${join(dir, ca)}`,
    ];
    const [stranger, impostor] = await Promise.all([
      outsider("stranger", tls("other-ca.pem")),
      outsider("impostor", tls("other-and-mesh-ca.pem")),
    ]);
    await Promise.all([neverJoins(stranger), neverJoins(impostor)]);
    // The impostor's certificate is refused by the seed; the stranger refuses the seed's.
    await refusedAtSeed("untrusted_peer", /^client certificate not trusted: /);
    await refusedAtSeed("tls_handshake", /^the peer closed the connection during the handshake/);
  });

  it("a plain-text node cannot join a TLS mesh", async () => {
    const plain = await outsider("plain", ["--mesh.insecure=true"]);
    await neverJoins(plain);
    await refusedAtSeed("plain_text", /^not TLS: starts with "PRI \* HT"$/);
  });
});

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
