import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("./main.js", import.meta.url));

export interface SpawnedNode {
  process: ChildProcess;
  nodeId: string;
  appEndpoint: string;
  /** Where other nodes reach it; empty when its mesh is off. */
  meshEndpoint: string;
  adminUrl: string;
  dataDir: string;
  /** JSON log lines seen so far. */
  logs: Record<string, unknown>[];
  /** SIGTERM, then the exit code (SIGKILL after graceMs). */
  stop(graceMs?: number): Promise<number | null>;
  kill(): void;
}

export interface SpawnOptions {
  /** Extra `--key value` flags for `hermes node`. */
  flags?: string[];
  dataDir?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Options for the node runtime itself, e.g. --expose-gc. */
  nodeArgs?: string[];
  /**
   * Remove dataDir when stopped. Defaults to true only for a directory made here; set it when a
   * restarted node takes over the directory (and identity) of one that was killed.
   */
  removeDataDir?: boolean;
  /** Address the app, admin and mesh servers listen on and are reached at (default 127.0.0.1). */
  host?: string;
  /** Fixed ports (default 0: any free port). */
  ports?: { app?: number; admin?: number; mesh?: number };
  /**
   * A command to run the node under, e.g. ["ip", "netns", "exec", "ns1"]. It must exec the node
   * in place (as `ip netns exec` does), so that the child's PID is the node's.
   */
  wrapper?: string[];
}

/** Runs `hermes node` as a child process on loopback ports and waits until it serves. */
export async function spawnNode(options: SpawnOptions = {}): Promise<SpawnedNode> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "hermes-node-")));
  const ownsDir = options.removeDataDir ?? !options.dataDir;
  const host = options.host ?? "127.0.0.1";
  const at = (port = 0) => (isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`);
  const [command, ...wrapperArgs] = [...(options.wrapper ?? []), process.execPath];
  const child = spawn(
    command!,
    [
      ...wrapperArgs,
      ...(options.nodeArgs ?? []),
      CLI,
      "node",
      `--dataDir=${dataDir}`,
      `--listen.app=${at(options.ports?.app)}`,
      `--listen.admin=${at(options.ports?.admin)}`,
      `--mesh.listen=${at(options.ports?.mesh)}`,
      "--keystore.kdf.memoryKiB=8192",
      "--keystore.kdf.iterations=1",
      ...(options.flags ?? []),
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } },
  );
  const logs: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const serving = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`node did not start within ${options.timeoutMs ?? 20_000} ms`)),
      options.timeoutMs ?? 20_000,
    );
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === "node serving") {
          clearTimeout(timer);
          resolve(entry);
        }
      } catch {
        // not a log line
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code} before serving: ${stderr.trim()}`));
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${command}: ${error.message}`));
    });
  });
  let ready: Record<string, unknown>;
  try {
    ready = await serving;
  } catch (error) {
    // Nothing is left behind by a node that did not come up: no process, no directory made here.
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      child.kill("SIGKILL");
      await exited;
    }
    if (ownsDir) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  let stopped: Promise<number | null> | undefined;
  return {
    process: child,
    nodeId: String(ready.nodeId),
    appEndpoint: at(Number(ready.appPort)),
    meshEndpoint: ready.meshPort === undefined ? "" : at(Number(ready.meshPort)),
    adminUrl: `http://${at(Number(ready.adminPort))}`,
    dataDir,
    logs,
    stop(graceMs = 10_000) {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
          const code = await exited;
          clearTimeout(timer);
          if (ownsDir) await rm(dataDir, { recursive: true, force: true });
          return code;
        }
        return child.exitCode;
      })();
      return stopped;
    },
    kill() {
      child.kill("SIGKILL");
    },
  };
}
