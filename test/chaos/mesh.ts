import { once } from "node:events";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SpawnedNode, spawnNode } from "../../node/dist/cli/spawn-node.js";
import { createCa, issueCert } from "../../node/dist/transport/certs.js";
import { allAlive, readyzStatus } from "../integration/mesh-helpers.js";
import { createLab, type Impairment, type Lab, type LabHost } from "../integration/netns.js";
import { until } from "./wait.js";

/** Every node listens on the same ports, each at its own namespace's address. */
const PORTS = { app: 7400, mesh: 7401, admin: 7402 };
/** How long a node may take to serve after it is started (it derives its keystore key first). */
const SPAWN_TIMEOUT_MS = 30_000;
/** SIGTERM to exit: the node's shutdownGraceMs (10 s) plus its mesh leave and last flush. */
const STOP_GRACE_MS = 15_000;

function isDeath(line: Record<string, unknown>, nodeId: string, since: number): boolean {
  return (
    line.msg === "membership change" &&
    line.peer === nodeId &&
    (line.state === "dead" || line.state === "left") &&
    Date.parse(String(line.time)) >= since
  );
}

/**
 * N `hermes node` processes, each in its own network namespace with its own address, in a mesh
 * with mutual TLS (a fresh CA, one certificate per address), every node listing the others as
 * static peers. A node keeps its data directory, and so its identity and keystore, across every
 * kill and restart, as a pod with a persistent volume does. The test process (and its app
 * runners) reach every node from the root namespace.
 */
export class ChaosMesh {
  private readonly paused = new Set<number>();
  /** Every process's log lines, by node: a restarted node's new process starts a new list. */
  private readonly logs: Record<string, unknown>[][][] = [];

  private constructor(
    private readonly lab: Lab,
    private readonly dir: string,
    private readonly flags: string[][],
    /** The current process of each node. */
    readonly nodes: SpawnedNode[],
  ) {}

  /** Node IDs, by index; a node keeps its ID across restarts. */
  readonly ids: string[] = [];

  static async start(o: { size: number; flags: string[] }): Promise<ChaosMesh> {
    const lab = await createLab(o.size);
    const dir = await mkdtemp(join(tmpdir(), "hermes-chaos-"));
    const mesh = new ChaosMesh(lab, dir, [], []);
    try {
      const ca = await createCa({ commonName: "hermes chaos CA", validityDays: 1 });
      await writeFile(join(dir, "ca.pem"), ca.certPem);
      for (const [i, host] of lab.hosts.entries()) {
        const name = `node-${i}`;
        const cert = await issueCert({
          ca,
          commonName: name,
          dnsNames: [name],
          ipAddresses: [host.ip],
          validityDays: 1,
          usage: "server+client",
        });
        await writeFile(join(dir, `${name}.pem`), cert.certPem);
        await writeFile(join(dir, `${name}-key.pem`), cert.keyPem, { mode: 0o600 });
        await mkdir(join(dir, `${name}-data`));
        const peers = lab.hosts.filter((h) => h !== host).map((h) => `${h.ip}:${PORTS.mesh}`);
        mesh.flags.push([
          `--nodeName=${name}`,
          `--mesh.tls.cert=${join(dir, `${name}.pem`)}`,
          `--mesh.tls.key=${join(dir, `${name}-key.pem`)}`,
          `--mesh.tls.ca=${join(dir, "ca.pem")}`,
          `--mesh.peers=${peers.join(",")}`,
          ...o.flags,
        ]);
      }
      const started = await Promise.allSettled(lab.hosts.map((_, i) => mesh.spawn(i)));
      const failed = started.find((s) => s.status === "rejected");
      if (failed) throw failed.reason;
      mesh.ids.push(...mesh.nodes.map((n) => n.nodeId));
      if (!(await mesh.whole(60_000))) throw new Error(`${o.size} nodes did not all see each other alive`);
      return mesh;
    } catch (error) {
      await mesh.destroy();
      throw error;
    }
  }

  get size(): number {
    return this.lab.hosts.length;
  }

  get appEndpoints(): string[] {
    return this.lab.hosts.map((h) => `${h.ip}:${PORTS.app}`);
  }

  name(i: number): string {
    return `node-${i}`;
  }

  isRunning(i: number): boolean {
    const child = this.nodes[i]?.process;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** kill -9, and wait until the process is gone. */
  async kill(i: number): Promise<void> {
    const child = this.nodes[i]!.process;
    if (!this.isRunning(i)) return;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
    this.paused.delete(i);
  }

  /** SIGTERM (a graceful stop: leave the mesh, close sessions, flush), and wait for the exit. */
  async stop(i: number): Promise<void> {
    await this.nodes[i]!.stop(STOP_GRACE_MS);
  }

  /** Starts node i again from its data directory; resolves with the time it began serving. */
  async restart(i: number): Promise<number> {
    if (this.isRunning(i)) throw new Error(`${this.name(i)} is still running`);
    const node = await this.spawn(i);
    const serving = node.logs.find((l) => l.msg === "node serving");
    return Date.parse(String(serving?.time));
  }

  pause(i: number): void {
    this.nodes[i]!.process.kill("SIGSTOP");
    this.paused.add(i);
  }

  resume(i: number): void {
    this.nodes[i]!.process.kill("SIGCONT");
    this.paused.delete(i);
  }

  /** Cuts node i off from the other nodes (its apps, in the root namespace, still reach it). */
  async partition(i: number): Promise<void> {
    const host = this.host(i);
    await this.lab.partition(
      [host],
      this.lab.hosts.filter((h) => h !== host),
    );
  }

  async heal(): Promise<void> {
    await this.lab.heal();
  }

  impair(i: number, o: { lossPercent: number; delayMs: number }): Promise<Impairment> {
    return this.lab.impair(this.host(i), o);
  }

  /**
   * When every other node had logged node `victim` dead (or left) at or after `since`: the
   * mesh's detection time. Undefined while some node has not.
   */
  detectedAt(victim: number, since: number): number | undefined {
    let latest: number | undefined;
    for (const [i, processes] of this.logs.entries()) {
      if (i === victim) continue;
      const entry = processes
        .map((lines) => lines.find((l) => isDeath(l, this.ids[victim]!, since)))
        .find((l) => l !== undefined);
      if (!entry) return undefined;
      latest = Math.max(latest ?? 0, Date.parse(String(entry.time)));
    }
    return latest;
  }

  /** True once every node runs, is ready and holds every node alive (false after timeoutMs). */
  async whole(timeoutMs: number): Promise<boolean> {
    return until(
      async () =>
        this.nodes.every((_, i) => this.isRunning(i) && !this.paused.has(i)) &&
        (await allAlive(this.nodes, this.ids)) &&
        (await Promise.all(this.nodes.map((n) => readyzStatus(n)))).every((status) => status === 200),
      { timeoutMs, everyMs: 250 },
    );
  }

  /**
   * Stops every node, removes the namespaces, certificates and data. With HERMES_CHAOS_LOGS set
   * to a folder, every node process's log lines are kept there first (one JSON line each).
   */
  async destroy(): Promise<void> {
    for (const i of this.paused) this.nodes[i]?.process.kill("SIGCONT");
    await Promise.all(this.nodes.map((n) => n.stop(3000).catch(() => undefined)));
    const keep = process.env.HERMES_CHAOS_LOGS;
    if (keep) {
      await mkdir(keep, { recursive: true });
      for (const [i, processes] of this.logs.entries())
        for (const [k, lines] of processes.entries())
          await writeFile(
            join(keep, `${this.name(i)}-${k}.log`),
            lines.map((l) => JSON.stringify(l)).join("\n"),
          );
    }
    await this.lab.destroy();
    await rm(this.dir, { recursive: true, force: true });
  }

  private host(i: number): LabHost {
    return this.lab.hosts[i]!;
  }

  private async spawn(i: number): Promise<SpawnedNode> {
    const host = this.host(i);
    const node = await spawnNode({
      wrapper: host.wrapper,
      host: host.ip,
      ports: PORTS,
      dataDir: join(this.dir, `${this.name(i)}-data`),
      removeDataDir: false,
      timeoutMs: SPAWN_TIMEOUT_MS,
      flags: this.flags[i]!,
    });
    this.nodes[i] = node;
    this.logs[i] = [...(this.logs[i] ?? []), node.logs];
    return node;
  }
}
