import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach } from "vitest";
import { type SpawnedNode, type SpawnOptions, spawnNode } from "../../node/dist/cli/spawn-node.js";
import { Victim } from "./victim.js";

/**
 * The hostile-client suite's harness: a real node process on loopback with small limits, an
 * attacker process (attacker.mjs) connecting from another loopback address, and the node's
 * /metrics read as Prometheus would.
 */

const CLI = fileURLToPath(new URL("../../node/dist/cli/main.js", import.meta.url));
const ATTACKER = fileURLToPath(new URL("./attacker.mjs", import.meta.url));

/**
 * Attackers connect from here, the victim apps from 127.0.0.1: the node sees two remote
 * addresses, as it would two hosts (Linux routes all of 127.0.0.0/8 to the loopback device).
 */
export const ATTACKER_ADDRESS = "127.0.0.2";
/** Beyond its own --duration-ms, an attacker gets this long to report before it is killed. */
const REPORT_GRACE_MS = 15_000;

export async function hostileNode(flags: string[], options: SpawnOptions = {}): Promise<SpawnedNode> {
  if (!existsSync(CLI))
    throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it) before the hostile suite`);
  return spawnNode({ ...options, flags });
}

/**
 * For every test of the file that calls it: a node started with `flags` and a victim chat on it,
 * both stopped after the test.
 */
export function attackedNode(): (flags: string[]) => Promise<{ node: SpawnedNode; victim: Victim }> {
  let node: SpawnedNode | undefined;
  let victim: Victim | undefined;
  afterEach(async () => {
    await victim?.close();
    await node?.stop();
    victim = node = undefined;
  });
  return async (flags) => {
    node = await hostileNode(flags);
    victim = await Victim.start(node.appEndpoint);
    return { node, victim };
  };
}

/** What an attacker says it did: its mode's counters (attacker.mjs). */
export type AttackReport = Record<string, unknown> & { mode: string; elapsedMs: number; error?: string };

export interface Attack {
  child: ChildProcess;
  /** Resolves with the report once the attacker is done (or was stopped). */
  report: Promise<AttackReport>;
  /** Ends the attack early (SIGTERM); the report follows. */
  stop(): Promise<AttackReport>;
}

/** Starts attacker.mjs in `mode` against `target` (default: the node's app port) from ATTACKER_ADDRESS. */
export function attack(
  node: SpawnedNode,
  mode: string,
  options: Record<string, string | number | boolean>,
  target = node.appEndpoint,
) {
  const args = [ATTACKER, mode, "--target", target, "--from", ATTACKER_ADDRESS];
  for (const [key, value] of Object.entries(options)) {
    if (value === true) args.push(`--${key}`);
    else if (value !== false) args.push(`--${key}`, String(value));
  }
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const boundMs = Number(options["duration-ms"] ?? 0) + REPORT_GRACE_MS;
  const report = new Promise<AttackReport>((resolve, reject) => {
    let line: string | undefined;
    createInterface({ input: child.stdout! }).once("line", (l) => {
      line = l;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`attacker ${mode} did not report within ${boundMs} ms: ${stderr.trim()}`));
    }, boundMs);
    // 'close' comes after the child's output is read to the end, so its report is never missed.
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (line === undefined)
        return reject(new Error(`attacker ${mode} exited (${signal ?? code}): ${stderr.trim()}`));
      const parsed = JSON.parse(line) as AttackReport;
      if (parsed.error) return reject(new Error(`attacker ${mode} failed: ${parsed.error}`));
      resolve(parsed);
    });
  });
  report.catch(() => {}); // awaited by the test; an early failure must not be unhandled meanwhile
  return {
    child,
    report,
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return report;
    },
  } satisfies Attack;
}

/** One scrape of a node's /metrics: the sum of the samples of `name` whose labels include `labels`. */
export async function scrape(
  node: SpawnedNode,
): Promise<(name: string, labels?: Record<string, string>) => number> {
  const response = await fetch(`${node.adminUrl}/metrics`);
  if (!response.ok) throw new Error(`${node.adminUrl}/metrics answered ${response.status}`);
  const text = await response.text();
  return (name, labels = {}) => {
    let sum = 0;
    let seen = false;
    for (const line of text.split("\n")) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
      if (!m || m[1] !== name) continue;
      const have = Object.fromEntries(
        [...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
      );
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
        sum += Number(m[3]);
        seen = true;
      }
    }
    if (!seen) throw new Error(`no sample of ${name}${JSON.stringify(labels)} in ${node.adminUrl}/metrics`);
    return sum;
  };
}

/** hermes_limit_refusals_total{limit}. */
export async function refusals(node: SpawnedNode, limit: string): Promise<number> {
  return (await scrape(node))("hermes_limit_refusals_total", { limit });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value (returned); throws after timeoutMs naming `what`. */
export async function until<T>(
  check: () => T | Promise<T>,
  timeoutMs: number,
  what: string,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** The node logged the rate-limited warning of `limit` at least once. */
export function loggedLimit(node: SpawnedNode, limit: string): boolean {
  return node.logs.some((l) => l.msg === "limit reached" && l.limit === limit);
}
