import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
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
}

/** Runs `hermes node` as a child process on loopback ports and waits until it serves. */
export async function spawnNode(options: SpawnOptions = {}): Promise<SpawnedNode> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "hermes-node-")));
  const ownsDir = !options.dataDir;
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      CLI,
      "node",
      `--dataDir=${dataDir}`,
      "--listen.app=127.0.0.1:0",
      "--listen.admin=127.0.0.1:0",
      "--mesh.listen=127.0.0.1:0",
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
  });
  const ready = await serving;
  let stopped: Promise<number | null> | undefined;
  return {
    process: child,
    nodeId: String(ready.nodeId),
    appEndpoint: `127.0.0.1:${String(ready.appPort)}`,
    meshEndpoint: ready.meshPort === undefined ? "" : `127.0.0.1:${String(ready.meshPort)}`,
    adminUrl: `http://127.0.0.1:${String(ready.adminPort)}`,
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
