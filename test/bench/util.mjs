// Small helpers shared by the benchmark scenarios.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const log = (line) => process.stderr.write(`${line}\n`);
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Limits lifted so that the benchmarks measure relaying, not the per-app and per-peer budgets. */
export const generous = [
  "--limits.messagesPerSecond=1000000",
  "--limits.messageBurst=1000000",
  "--limits.chatStartsPerMinute=1000000",
  "--limits.maxChatsPerApp=100000",
  "--limits.framesPerSecond=1000000",
  "--limits.maxInFlightPerChat=1000000",
  "--limits.maxUnauthenticatedSessions=1000000",
  "--limits.connectsPerSecondPerAddress=1000000",
  "--mesh.peerFramesPerSecond=10000000",
];

/** Runs one of this folder's scripts as a child process; stdout is piped for firstLine(). */
export function spawnScript(name, args = []) {
  return spawn(process.execPath, [fileURLToPath(new URL(`./${name}`, import.meta.url)), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
}

/** The first stdout line of a child, parsed as JSON (its "I am ready" announcement). */
export function firstLine(child) {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (l) => resolve(JSON.parse(l)));
    child.once("exit", (code) => reject(new Error(`${child.spawnargs.join(" ")} exited with ${code}`)));
  });
}

/** Polls `check` every `everyMs` until it returns a truthy value, which it returns; throws after timeoutMs. */
export async function until(check, timeoutMs, what, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Scrapes a node's /metrics: sum of the samples of `name` whose labels include `labels`. */
export async function scrape(node) {
  const text = await (await fetch(`${node.adminUrl}/metrics`)).text();
  return (name, labels = {}) => {
    let sum = 0;
    for (const line of text.split("\n")) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
      if (!m || m[1] !== name) continue;
      const have = Object.fromEntries(
        [...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
      );
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
    }
    return sum;
  };
}

export function running(node) {
  return node.process.exitCode === null && node.process.signalCode === null;
}
