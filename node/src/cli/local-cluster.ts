import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCa, issueCert } from "../transport/certs.js";
import { type SpawnedNode, spawnNode } from "./spawn-node.js";

export interface MemberView {
  nodeId: string;
  state: string;
}

export interface LocalCluster {
  nodes: SpawnedNode[];
  certDir: string;
  /** The extra flags every node was started with (restartNode() uses them again). */
  flags?: string[];
  /** Stops what still runs (SIGTERM) and removes the certificates. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  size: number;
  /** Extra `hermes node` flags for every node. */
  flags?: string[];
  timeoutMs?: number;
  /** How long each node may take to start serving (spawnNode's timeoutMs). */
  spawnTimeoutMs?: number;
}

/**
 * N `hermes node` processes on loopback forming a mutual-TLS mesh: a fresh CA and one
 * certificate per node (as `hermes certs` makes them), node 0 as the seed of the others.
 */
export async function startLocalCluster(o: ClusterOptions): Promise<LocalCluster> {
  const certDir = await mkdtemp(join(tmpdir(), "hermes-certs-"));
  const ca = await createCa({ commonName: "hermes local mesh CA", validityDays: 1 });
  await writeFile(join(certDir, "ca.pem"), ca.certPem);
  const nodes: SpawnedNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop(5000).catch(() => n.kill())));
    await rm(certDir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < o.size; i++) {
      const name = `node-${i}`;
      const cert = await issueCert({
        ca,
        commonName: name,
        dnsNames: [name, "localhost"],
        ipAddresses: ["127.0.0.1"],
        validityDays: 1,
        usage: "server+client",
      });
      await writeFile(join(certDir, `${name}.pem`), cert.certPem);
      await writeFile(join(certDir, `${name}-key.pem`), cert.keyPem, { mode: 0o600 });
      nodes.push(
        await spawnNode({
          flags: nodeFlags(certDir, i, nodes[0]?.meshEndpoint, o.flags),
          ...(o.spawnTimeoutMs === undefined ? {} : { timeoutMs: o.spawnTimeoutMs }),
        }),
      );
    }
    await waitFor(
      async () => (await Promise.all(nodes.map((n) => aliveCount(n)))).every((count) => count === o.size),
      o.timeoutMs ?? 30_000,
      `${o.size} nodes to see each other alive`,
    );
    return { nodes, certDir, stop, flags: [...(o.flags ?? [])] };
  } catch (error) {
    await stop();
    throw error;
  }
}

function nodeFlags(certDir: string, index: number, seed: string | undefined, extra: string[] = []): string[] {
  const name = `node-${index}`;
  return [
    `--nodeName=${name}`,
    `--mesh.tls.cert=${join(certDir, `${name}.pem`)}`,
    `--mesh.tls.key=${join(certDir, `${name}-key.pem`)}`,
    `--mesh.tls.ca=${join(certDir, "ca.pem")}`,
    ...(seed ? [`--mesh.peers=${seed}`] : []),
    ...extra,
  ];
}

/**
 * Starts node `index` of a cluster from startLocalCluster() again after kill(): same name,
 * certificate and data directory (so the same identity, as a restarted pod), joining through the
 * first member still running. (stop() removes a directory spawnNode made, so a node restarted
 * after stop() comes back with a new identity.) It takes the old node's place in
 * cluster.nodes and removes the data directory when stopped. Does not wait for convergence.
 */
export async function restartNode(
  cluster: LocalCluster,
  index: number,
  options: { timeoutMs?: number } = {},
): Promise<SpawnedNode> {
  const old = cluster.nodes[index];
  if (!old || cluster.certDir === "") throw new Error(`restartNode: no node ${index} in a local cluster`);
  if (old.process.exitCode === null && old.process.signalCode === null) {
    if (!old.process.killed) throw new Error(`restartNode: node ${index} is still running`);
    await once(old.process, "exit"); // signalled, not yet reaped
  }
  const seed = cluster.nodes.find(
    (n) => n !== old && n.process.exitCode === null && n.process.signalCode === null,
  )?.meshEndpoint;
  const node = await spawnNode({
    dataDir: old.dataDir,
    removeDataDir: true,
    flags: nodeFlags(cluster.certDir, index, seed, cluster.flags),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
  cluster.nodes[index] = node;
  return node;
}

export async function members(node: SpawnedNode): Promise<MemberView[]> {
  const response = await fetch(`${node.adminUrl}/mesh/members`);
  return (await response.json()) as MemberView[];
}

async function aliveCount(node: SpawnedNode): Promise<number> {
  return (await members(node)).filter((m) => m.state === "alive").length;
}

/** Polls `check` every 50 ms until it holds; throws naming `what` after timeoutMs. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (
    !(await Promise.resolve()
      .then(check)
      .catch(() => false))
  ) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Kills a node with SIGKILL and measures how long until every other node holds it dead. */
export async function killAndDetect(
  cluster: LocalCluster,
  victim: SpawnedNode,
  timeoutMs = 60_000,
): Promise<number> {
  const started = performance.now();
  victim.kill();
  const others = cluster.nodes.filter(
    (n) => n !== victim && n.process.exitCode === null && n.process.signalCode === null,
  );
  await waitFor(
    async () => {
      const views = await Promise.all(others.map((n) => members(n)));
      return views.every((view) =>
        view.some((m) => m.nodeId === victim.nodeId && (m.state === "dead" || m.state === "left")),
      );
    },
    timeoutMs,
    `every node to declare ${victim.nodeId} dead`,
  );
  return Math.round(performance.now() - started);
}
