// Victim chat under attack: one chat's throughput and latency on a node while one attacking
// process (test/hostile/attacker.mjs, from another loopback address) goes at it as fast as it
// can, against the same chat on the same node with no attack, measured in the same run.

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { spawnNode } from "../../node/dist/cli/spawn-node.js";
import { HermesClient, Identity } from "../../node/dist/index.js";
import { percentile, ratio, round } from "./stats.mjs";
import { firstLine, log, scrape, sleep, spawnScript, until } from "./util.mjs";

const ATTACKER = fileURLToPath(new URL("../hostile/attacker.mjs", import.meta.url));
const ATTACKER_ADDRESS = "127.0.0.2";
/** The victim's offered load (messages per second, app A → app B): a busy chat, inside its budgets. */
const VICTIM_RATE = 1000;
const VICTIM_PAYLOAD = 1024;
/**
 * The node runs its default bounds; only the per-app message budget is raised so that the
 * victim's load fits it (framesPerSecond, 2000 by default, must stay at least as high).
 */
const NODE_FLAGS = ["--limits.messagesPerSecond=2000", "--limits.messageBurst=4000"];
/** How long an attack runs before the victim is measured: its effect is on by then. */
const WARMUP_MS = 1500;
/** Attackers run until stopped; this only bounds one that is never stopped. */
const ATTACK_BOUND_MS = 600_000;
/** An attacker gets this long to report after SIGTERM before it is killed (its report is then missing). */
const STOP_BOUND_MS = 15_000;
/** Every victim send must be acknowledged within this long of the measurement's end. */
const SETTLE_MS = 30_000;

/**
 * Each attack: the attacker's mode and options, the limits (and connection refusal reasons)
 * whose counters show the bound biting, and what its rate counts.
 */
const ATTACKS = {
  "slow-reader": {
    args: { readers: 4 },
    limits: ["queued_bytes"],
    rate: (r) => [r.bytesSent / 1e6, "MB sent to readers"],
  },
  unauthenticated: {
    args: { streams: 1500, connections: 8, "every-ms": 500, reopen: true },
    limits: ["unauthenticated_sessions", "authenticate_within"],
    rate: (r) => [r.opened, "streams opened"],
  },
  "connect-flood": {
    args: { concurrency: 32 },
    limits: ["connect_rate"],
    connectionRefusals: ["failed_connects"],
    rate: (r) => [r.attempts, "connects tried"],
  },
  "frame-flood": { args: {}, limits: ["frame_rate", "bad_frames"], rate: (r) => [r.framesSent, "frames"] },
  "idle-connections": {
    args: { connections: 3000 },
    limits: [],
    connectionRefusals: ["per_address", "fd_reserve"],
    rate: (r) => [r.opened, "connections opened"],
  },
  "offer-flood": {
    args: { concurrency: 8, hold: 200 },
    limits: ["pending_offers"],
    rate: (r) => [r.offers, "offers"],
  },
};

/**
 * For each attack, on a node of its own: the victim alone, then under attack, `rounds` times in
 * turn; the median of each, and their ratios. The victim sends at a fixed rate (open loop), so
 * its throughput stays at VICTIM_RATE unless the node falls behind, and its latency shows how
 * far behind.
 */
export async function victimUnderAttack({ measureMs, rounds, only = Object.keys(ATTACKS) }) {
  const attacks = {};
  for (const name of only) {
    log(`attack: ${name}, victim at ${VICTIM_RATE} msg/s, ${rounds} rounds of ${measureMs} ms ...`);
    // One attack failing (its attacker or its node) leaves the others to be measured.
    attacks[name] = await oneAttack(name, ATTACKS[name], { measureMs, rounds }).catch((error) => {
      log(`attack ${name} FAILED: ${error.stack ?? error}`);
      return { error: String(error.message ?? error) };
    });
  }
  return {
    victimRate: VICTIM_RATE,
    payloadBytes: VICTIM_PAYLOAD,
    measureMs,
    rounds,
    nodeFlags: NODE_FLAGS,
    attacks,
    // Other work on the machine takes cores from the node too: the p99s move with it.
    loadAverage: Math.round(loadavg()[0] * 100) / 100,
  };
}

async function oneAttack(name, spec, { measureMs, rounds }) {
  const node = await spawnNode({ flags: NODE_FLAGS });
  const idA = Identity.generate();
  const receiver = spawnScript("receiver-app.mjs", [node.appEndpoint, idA.id]);
  const a = new HermesClient({ endpoint: node.appEndpoint, identity: idA });
  try {
    const { appId: victimB } = await firstLine(receiver);
    await a.connect();
    const chat = await a.startChat(victimB);
    await measure(chat, 1000); // warm-up
    const runs = { baseline: [], attacked: [], attacker: [], refusals: [] };
    for (let r = 0; r < rounds; r++) {
      runs.baseline.push(await measure(chat, measureMs));
      const before = await scrape(node);
      const attacker = startAttacker(node, name, {
        ...spec.args,
        ...(name === "offer-flood" ? { to: victimB } : {}),
      });
      await sleep(WARMUP_MS);
      await scrape(node); // the node's event-loop delay histogram restarts at each scrape
      const cpuBefore = cpuSeconds({ node: node.process.pid, attacker: attacker.pid });
      const startedAt = performance.now();
      const attacked = await measure(chat, measureMs);
      const wallSeconds = (performance.now() - startedAt) / 1000;
      const cpuAfter = cpuSeconds({ node: node.process.pid, attacker: attacker.pid });
      // Share of one core each process used while the victim was measured.
      attacked.cpuPercent = Object.fromEntries(
        Object.keys(cpuAfter).map((k) => [k, Math.round(((cpuAfter[k] - cpuBefore[k]) / wallSeconds) * 100)]),
      );
      const after = await scrape(node);
      attacked.nodeLoopDelayP99Ms = round(after("hermes_nodejs_eventloop_lag_p99_seconds") * 1000, 1);
      runs.attacked.push(attacked);
      const report = await attacker.stop();
      const [count, what] = spec.rate(report);
      runs.attacker.push({ perSecond: round((count / report.elapsedMs) * 1000, 1), what, report });
      const grew = (name, labels) => after(name, labels) - before(name, labels);
      runs.refusals.push(
        Object.fromEntries([
          ...spec.limits.map((l) => [l, grew("hermes_limit_refusals_total", { limit: l })]),
          ...(spec.connectionRefusals ?? []).map((reason) => [
            reason,
            grew("hermes_connections_refused_total", { port: "app", reason }),
          ]),
        ]),
      );
      // What the attack left queued drains before the next baseline.
      await until(
        async () => (await scrape(node))("hermes_app_queued_bytes") < 64 * 1024,
        10_000,
        "queued bytes to drain",
      );
    }
    const baseline = medianBy(runs.baseline);
    const attacked = medianBy(runs.attacked);
    return {
      baseline,
      attacked,
      throughputRatio: ratio(attacked.messagesPerSecond, baseline.messagesPerSecond),
      p99Ratio: ratio(attacked.p99Ms, baseline.p99Ms),
      attackerPerSecond: median(runs.attacker.map((x) => x.perSecond)),
      attackerWhat: runs.attacker[0].what,
      refusals: runs.refusals,
      rounds: runs,
    };
  } finally {
    await a.close();
    receiver.kill("SIGTERM");
    await node.stop();
  }
}

/**
 * Sends VICTIM_RATE messages a second for `durationMs` (open loop: a slow node does not slow
 * the sender down), each timed from send() to its end-to-end ack. Throughput is what was acked
 * per second from the first send to the last ack.
 */
async function measure(chat, durationMs) {
  const payload = new Uint8Array(VICTIM_PAYLOAD).fill(7);
  const latencies = [];
  const sends = [];
  let lastAck = 0;
  const t0 = performance.now();
  await new Promise((resolve) => {
    const tick = setInterval(() => {
      const now = performance.now();
      const due = Math.min(Math.floor(((now - t0) / 1000) * VICTIM_RATE), (durationMs / 1000) * VICTIM_RATE);
      while (sends.length < due) {
        const at = performance.now();
        sends.push(
          chat.send(payload).then(() => {
            lastAck = performance.now();
            latencies.push(lastAck - at);
          }),
        );
      }
      if (now - t0 >= durationMs) {
        clearInterval(tick);
        resolve();
      }
    }, 5);
  });
  const settled = await Promise.race([
    Promise.all(sends).then(() => true),
    sleep(SETTLE_MS).then(() => false),
  ]);
  if (!settled)
    throw new Error(`victim: ${sends.length - latencies.length} messages unacked ${SETTLE_MS} ms on`);
  const sorted = latencies.sort((x, y) => x - y);
  return {
    messages: sends.length,
    messagesPerSecond: Math.round((sends.length / (lastAck - t0)) * 1000),
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
  };
}

function startAttacker(node, mode, options) {
  const args = [ATTACKER, mode, "--target", node.appEndpoint, "--from", ATTACKER_ADDRESS];
  args.push("--duration-ms", String(ATTACK_BOUND_MS));
  for (const [key, value] of Object.entries(options)) {
    if (value === true) args.push(`--${key}`);
    else args.push(`--${key}`, String(value));
  }
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  let line;
  createInterface({ input: child.stdout }).once("line", (l) => {
    line = l;
  });
  let killed = false;
  // 'close' comes after the child's output is read to the end, so its report is never missed.
  const report = new Promise((resolve, reject) => {
    child.once("close", (code, signal) => {
      if (line === undefined) {
        const why = killed
          ? `did not stop within ${STOP_BOUND_MS} ms of SIGTERM`
          : `exited (${signal ?? code})`;
        return reject(new Error(`attacker ${mode} ${why} without a report`));
      }
      const parsed = JSON.parse(line);
      if (parsed.error) reject(new Error(`attacker ${mode}: ${parsed.error}`));
      else resolve(parsed);
    });
  });
  report.catch(() => {});
  return {
    pid: child.pid,
    stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => {
        killed = true;
        child.kill("SIGKILL");
      }, STOP_BOUND_MS);
      return report.finally(() => clearTimeout(timer));
    },
  };
}

/** CPU seconds (user + system) each named process has used, from /proc (Linux; NaN elsewhere). */
function cpuSeconds(pids) {
  return Object.fromEntries(
    Object.entries(pids).map(([name, pid]) => {
      try {
        const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
        return [name, (Number(fields[11]) + Number(fields[12])) / TICKS];
      } catch {
        return [name, Number.NaN];
      }
    }),
  );
}
const TICKS = 100; // USER_HZ, 100 on every mainstream Linux

function medianBy(runs) {
  const sorted = [...runs].sort((x, y) => x.p99Ms - y.p99Ms);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

function median(values) {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}
