import { afterEach, describe, expect, it } from "vitest";
import { type LocalCluster, startLocalCluster } from "../../node/dist/cli/local-cluster.js";
import type { SpawnedNode } from "../../node/dist/cli/spawn-node.js";
import { HermesClient, Identity } from "../../node/dist/index.js";
import { attack, hostileNode, scrape, sleep } from "./harness.js";
import { lostNothing, NOTHING_LOST, Victim } from "./victim.js";

/** Correctness slack over a timer of the node's (event-loop lag on a busy machine), not a speed bound. */
const SLACK_MS = 3000;

let node: SpawnedNode | undefined;
let cluster: LocalCluster | undefined;
let victim: Victim | undefined;
const apps: HermesClient[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  await victim?.close();
  await node?.stop();
  await cluster?.stop();
  victim = node = cluster = undefined;
});

interface IdleReport {
  opened: number;
  admitted: number;
  refused: number;
  admittedOpenMsMax: number;
  stillOpen: number;
}

const logged = (n: SpawnedNode, msg: string, reason?: string) =>
  n.logs.some((l) => l.msg === msg && (reason === undefined || l.reason === reason));

describe("connections that finish the HTTP/2 preface and open no stream", () => {
  it("are capped per address and closed after connectionIdleMs; another address still connects and the victim chat loses nothing", async () => {
    const perAddress = 50;
    const idleMs = 3000;
    node = await hostileNode([
      `--limits.maxConnectionsPerAddress=${perAddress}`,
      `--timeouts.connectionIdleMs=${idleMs}`,
    ]);
    victim = await Victim.start(node.appEndpoint);

    const attacker = attack(node, "idle-connections", {
      connections: 200,
      "duration-ms": idleMs + 2 * SLACK_MS,
    });
    await sleep(500);
    const newcomer = new HermesClient({ endpoint: node.appEndpoint, identity: Identity.generate() });
    apps.push(newcomer);
    await newcomer.connect();
    const report = (await attacker.report) as unknown as IdleReport;
    expect(report).toMatchObject({
      opened: 200,
      admitted: perAddress,
      refused: 200 - perAddress,
      stillOpen: 0,
    });
    expect(report.admittedOpenMsMax).toBeLessThanOrEqual(idleMs + SLACK_MS);

    const m = await scrape(node);
    expect(m("hermes_connections_refused_total", { port: "app", reason: "per_address" })).toBe(
      200 - perAddress,
    );
    expect(m("hermes_connections_idle_closed_total", { port: "app" })).toBe(perAddress);
    // What is left open: the three apps' connections.
    expect(m("hermes_connections", { port: "app" })).toBe(3);
    expect(logged(node, "connection refused", "per_address")).toBe(true);
    expect(logged(node, "idle connection closed")).toBe(true);

    expect(lostNothing(await victim.stop())).toEqual(NOTHING_LOST);
  });

  it("are capped at maxConnections on the app port, and the victim's connections are kept", async () => {
    const max = 20;
    node = await hostileNode([`--limits.maxConnections=${max}`, `--limits.maxConnectionsPerAddress=${max}`]);
    victim = await Victim.start(node.appEndpoint);

    const attacker = attack(node, "idle-connections", { connections: 60, "duration-ms": 2000 });
    const report = (await attacker.report) as unknown as IdleReport;
    // The victim's two apps hold one connection each.
    expect(report).toMatchObject({ opened: 60, admitted: max - 2, refused: 60 - (max - 2) });
    const m = await scrape(node);
    expect(m("hermes_connections_refused_total", { port: "app", reason: "max_connections" })).toBe(
      60 - (max - 2),
    );
    expect(logged(node, "connection refused", "max_connections")).toBe(true);

    expect(lostNothing(await victim.stop())).toEqual(NOTHING_LOST);
  });

  it("leave the descriptor reserve alone at the process's descriptor limit: /readyz, /metrics and keystore flushes go on, and the victim chat loses nothing", async () => {
    // The node at `ulimit -n 160`: connections may use 160 less the reserve (64) less what the process holds.
    node = await hostileNode([], { wrapper: ["sh", "-c", 'ulimit -n 160 && exec "$0" "$@"'] });
    victim = await Victim.start(node.appEndpoint);
    const flushesBefore = (await scrape(node))("hermes_keystore_flushes_total", { result: "ok" });

    const attacker = attack(node, "idle-connections", { connections: 300, "duration-ms": 4000 });
    await sleep(2500);
    // The attacker holds every connection it could get: the node still answers and still writes.
    const ready = await fetch(`${node.adminUrl}/readyz`);
    expect(ready.status).toBe(200);
    const during = await scrape(node);
    expect(during("hermes_connections_refused_total", { port: "app", reason: "fd_reserve" })).toBeGreaterThan(
      0,
    );
    const report = (await attacker.report) as unknown as IdleReport;
    expect(report.admitted).toBeLessThan(160 - 64);
    expect(report.refused).toBe(300 - report.admitted);

    expect(lostNothing(await victim.stop())).toEqual(NOTHING_LOST);
    const m = await scrape(node);
    expect(m("hermes_keystore_flushes_total", { result: "error" })).toBe(0);
    expect(m("hermes_keystore_flushes_total", { result: "ok" })).toBeGreaterThan(flushesBefore);
    expect(logged(node, "connection refused", "fd_reserve")).toBe(true);
  });
});

describe("connections to the mesh port that are not a mesh member's", () => {
  it("are refused and counted by reason (plain text, no certificate, no handshake in time), and the victim chat loses nothing", async () => {
    const handshakeMs = 2000;
    cluster = await startLocalCluster({ size: 1, flags: [`--mesh.tlsHandshakeTimeoutMs=${handshakeMs}`] });
    const meshNode = cluster.nodes[0]!;
    victim = await Victim.start(meshNode.appEndpoint);

    const count = 5;
    const report = (await attack(
      meshNode,
      "mesh-probes",
      { connections: count, "duration-ms": handshakeMs + 2 * SLACK_MS },
      meshNode.meshEndpoint,
    ).report) as unknown as Record<string, { closed: number; openMsMax: number; stillOpen: number }>;
    for (const kind of ["plain-text", "tls-without-certificate", "silent"])
      expect(report[kind], kind).toMatchObject({ closed: count, stillOpen: 0 });
    expect(report.silent!.openMsMax).toBeLessThanOrEqual(handshakeMs + SLACK_MS);

    const m = await scrape(meshNode);
    for (const reason of ["plain_text", "untrusted_peer", "tls_handshake"]) {
      expect(m("hermes_connections_refused_total", { port: "mesh", reason }), reason).toBe(count);
      expect(logged(meshNode, "connection refused", reason), reason).toBe(true);
    }

    expect(lostNothing(await victim.stop())).toEqual(NOTHING_LOST);
  });
});
