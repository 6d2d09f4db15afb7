// Mesh benchmarks on real `hermes node` processes (mutual TLS, loopback): join convergence,
// failure detection after kill -9, gossip bytes per node against N, and false positives while
// one node is starved of CPU. Timings come from each node's own membership-change log lines.
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { restartNode, startLocalCluster } from "../../node/dist/cli/local-cluster.js";
import { memberlistBinary, memberlistRun } from "./memberlist.mjs";
import { deaths, firstHeld, logTime, view } from "./mesh-logs.mjs";
import { ratio, round, summarize } from "./stats.mjs";
import { log, running, scrape, sleep, spawnScript, until } from "./util.mjs";

const GONE = ["dead", "left"];
/** Generous: other work on a shared machine can slow a node's start a lot. */
const SPAWN_MS = 60_000;
/** The 1-minute load average: how busy the machine was (other work included). */
const load = () => round(loadavg()[0], 2);

/**
 * For each N: start N nodes (one after the other, each joining through node 0), time the last
 * node's join, then `joins` fresh joins (the last node leaves and a new one joins in its
 * place), measure gossip bytes per node over a steady window, then kill -9 one node per trial,
 * time until every other member holds it dead, and restart it (same identity) timing its
 * rejoin. With `memberlist`, hashicorp/memberlist does the same right after, at the same N.
 */
export async function meshScaling({
  sizes,
  trials,
  joins = 0,
  gossipWindowMs,
  settleMs,
  flags = [],
  label = "",
  memberlist = false,
}) {
  // Built (or found in the cache) first: a missing Go fails the scenario before any node starts.
  const binary = memberlist ? await memberlistBinary() : undefined;
  const out = {};
  for (const size of sizes) {
    out[size] = await scaling(size, { trials, joins, gossipWindowMs, settleMs, flags, label }).catch(
      (error) => {
        log(`mesh${label} N=${size} FAILED: ${error.stack ?? error}`);
        return { nodes: size, error: String(error.message ?? error) };
      },
    );
    if (binary) out[size].memberlist = await baseline(binary, out[size], { size, trials, joins, settleMs });
  }
  return out;
}

/** memberlist at the same N, summarized like Hermes, and Hermes / memberlist for each measure. */
async function baseline(binary, hermes, { size, trials, joins, settleMs }) {
  log(`memberlist N=${size}: ${size} members in one process ...`);
  const r = await memberlistRun(binary, { size, trials, joins, settleMs }).catch((error) => ({
    error: String(error.message ?? error),
  }));
  if (r.error) {
    log(`memberlist N=${size} FAILED: ${r.error}`);
    return r;
  }
  const join = summarize(r.joinMs);
  const allAgree = summarize(r.runs.map((x) => x.allAgreeMs));
  const rejoin = summarize(r.runs.map((x) => x.rejoinMs));
  return {
    library: r.library,
    config: r.config,
    join: { ...join, samplesMs: r.joinMs },
    detection: {
      trials: r.runs.length,
      allAgree,
      perObserver: summarize(r.runs.flatMap((x) => x.observerMs)),
      firstSuspect: summarize(r.runs.map((x) => x.firstSuspectMs)),
      firstDead: summarize(r.runs.map((x) => x.firstDeadMs)),
      runs: r.runs,
    },
    rejoin,
    // Hermes / memberlist: below 1, Hermes is faster.
    ratios: {
      join: ratio(hermes.join?.all.medianMs ?? null, join.medianMs),
      detection: ratio(hermes.detection?.allAgree.medianMs ?? null, allAgree.medianMs),
      rejoin: ratio(hermes.rejoin?.medianMs ?? null, rejoin.medianMs),
    },
  };
}

async function scaling(size, { trials, joins, gossipWindowMs, settleMs, flags, label }) {
  const tag = `mesh${label} N=${size}`;
  log(`${tag}: starting ${size} nodes ...`);
  const loadAtStart = load();
  const cluster = await startLocalCluster({
    size,
    flags,
    timeoutMs: 60_000 + 2000 * size,
    spawnTimeoutMs: SPAWN_MS,
  });
  try {
    const { nodes } = cluster;
    const servingAt = nodes.map((n) => logTime(n, "mesh serving"));
    const converged = await allAliveAt(nodes, servingAt.at(-1));
    const lastNodeMs = converged - servingAt.at(-1);
    log(`${tag}: last node's join converged in ${lastNodeMs} ms`);
    const samplesMs = [lastNodeMs];
    for (let j = 0; j < joins; j++) {
      await sleep(settleMs);
      samplesMs.push(await freshJoin(cluster));
      log(`${tag}: fresh join ${j + 1}/${joins} converged in ${samplesMs.at(-1)} ms`);
    }
    const join = {
      lastNodeMs,
      formationMs: converged - servingAt[0],
      all: summarize(samplesMs),
      samplesMs,
    };
    // Let the join news finish its retransmissions before measuring steady-state gossip.
    await sleep(gossipWindowMs > 0 ? 5000 : settleMs);
    const gossip = gossipWindowMs > 0 ? await gossipRate(nodes, gossipWindowMs) : undefined;
    if (gossip) log(`${tag}: ${gossip.sentBytesPerSecondPerNode} gossip bytes/s sent per node`);

    const runs = [];
    const failures = [];
    for (let t = 0; t < trials; t++) {
      const index = 1 + (t % (size - 1));
      const r = await killTrial(cluster, index).catch((error) => ({ error }));
      if (r.error) {
        // A shared machine can starve a start or a wait past its timeout: keep what was measured.
        failures.push({ victim: `node-${index}`, error: String(r.error.message ?? r.error) });
        log(`${tag}: trial ${t + 1}/${trials} failed: ${failures.at(-1).error}; no more trials at this N`);
        break;
      }
      runs.push(r);
      log(
        `${tag}: trial ${t + 1}/${trials}: node-${index} held dead by all after ${r.allAgreeMs} ms ` +
          `(first suspicion ${r.firstSuspectMs}, first dead ${r.firstDeadMs}); rejoined in ${r.rejoinMs} ms`,
      );
      await sleep(settleMs);
    }
    return {
      nodes: size,
      join,
      gossip,
      detection: {
        trials: runs.length,
        perObserver: summarize(runs.flatMap((r) => r.observerMs)),
        allAgree: summarize(runs.map((r) => r.allAgreeMs)),
        firstSuspect: summarize(runs.map((r) => r.firstSuspectMs)),
        firstDead: summarize(runs.map((r) => r.firstDeadMs)),
        falsePositives: runs.reduce((sum, r) => sum + r.falsePositives, 0),
        runs,
        ...(failures.length > 0 ? { failures } : {}),
      },
      rejoin: summarize(runs.map((r) => r.rejoinMs)),
      loadAverage: { start: loadAtStart, end: load() },
    };
  } finally {
    await cluster.stop();
  }
}

/** The time (epoch ms) by which every node held every other node alive, waiting for the logs. */
async function allAliveAt(nodes, since, timeoutMs = 60_000) {
  const ids = nodes.map((n) => n.nodeId);
  return until(
    () => {
      const times = nodes.map((n) =>
        firstHeld(
          n,
          ids.filter((id) => id !== n.nodeId),
          ["alive"],
          since,
        ),
      );
      return times.every((t) => t !== null) && Math.max(...times);
    },
    timeoutMs,
    `${nodes.length} nodes to see each other alive`,
  );
}

/**
 * The last node leaves (SIGTERM: a graceful leave) and, once every other holds it gone, a new
 * node (a new identity, the same certificate) joins through node 0. Returns the time from its
 * "mesh serving" until every node holds all N alive.
 */
async function freshJoin(cluster) {
  const last = cluster.nodes.length - 1;
  const leaving = cluster.nodes[last];
  const others = cluster.nodes.filter((n) => n !== leaving);
  const leftAt = Date.now();
  await leaving.stop();
  await until(
    () => others.every((o) => firstHeld(o, [leaving.nodeId], GONE, leftAt) !== null),
    60_000,
    `every node to hold node-${last} gone`,
  );
  // stop() removed its data directory: it comes back as a new node.
  const joiner = await restartNode(cluster, last, { timeoutMs: SPAWN_MS });
  const servingAt = logTime(joiner, "mesh serving");
  return (await allAliveAt(cluster.nodes, servingAt)) - servingAt;
}

/** Waits until every node's current view holds all the others alive. */
async function settled(nodes, timeoutMs = 60_000) {
  const ids = nodes.map((n) => n.nodeId);
  await until(
    () =>
      nodes.every((n) => {
        const v = view(n);
        return ids.every((id) => id === n.nodeId || v.get(id) === "alive");
      }),
    timeoutMs,
    "the mesh to settle",
  );
}

async function killTrial(cluster, index) {
  const { nodes } = cluster;
  await settled(nodes);
  const victim = nodes[index];
  const observers = nodes.filter((n) => n !== victim);
  const killAt = Date.now();
  victim.kill();
  const held = await until(
    () => {
      const times = observers.map((o) => firstHeld(o, [victim.nodeId], GONE, killAt));
      return times.every((t) => t !== null) && times;
    },
    60_000,
    `every node to hold node-${index} dead`,
  );
  const suspected = observers
    .map((o) => firstHeld(o, [victim.nodeId], ["suspect", ...GONE], killAt))
    .filter((t) => t !== null);
  const observerMs = held.map((t) => t - killAt);
  const falsePositives = observers.reduce(
    (sum, o) => sum + deaths(o, killAt, Date.now(), [victim.nodeId]).length,
    0,
  );
  const restarted = await restartNode(cluster, index, { timeoutMs: SPAWN_MS });
  const servingAt = logTime(restarted, "mesh serving");
  const rejoined = await allAliveAt(cluster.nodes, servingAt);
  return {
    victim: `node-${index}`,
    loadAverage: load(),
    observerMs,
    allAgreeMs: Math.max(...observerMs),
    firstSuspectMs: Math.min(...suspected) - killAt,
    firstDeadMs: Math.min(...observerMs),
    falsePositives,
    rejoinMs: rejoined - servingAt,
  };
}

/** Gossip envelope bytes and messages sent per node per second over a quiet window. */
async function gossipRate(nodes, windowMs) {
  const sample = async () =>
    Promise.all(
      nodes.map(async (n) => {
        const m = await scrape(n);
        return {
          bytes: m("hermes_mesh_gossip_bytes_total", { direction: "sent" }),
          messages: m("hermes_mesh_gossip_messages_total", { direction: "sent" }),
        };
      }),
    );
  const before = await sample();
  const t0 = performance.now();
  await sleep(windowMs);
  const after = await sample();
  const seconds = (performance.now() - t0) / 1000;
  const perNode = after.map((a, i) => (a.bytes - before[i].bytes) / seconds);
  const messages = after.map((a, i) => (a.messages - before[i].messages) / seconds);
  const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
  return {
    windowSeconds: round(seconds, 1),
    sentBytesPerSecondPerNode: Math.round(mean(perNode)),
    minNodeBytesPerSecond: Math.round(Math.min(...perNode)),
    maxNodeBytesPerSecond: Math.round(Math.max(...perNode)),
    sentMessagesPerSecondPerNode: round(mean(messages), 2),
    bytesPerMessage: Math.round(mean(perNode) / mean(messages)),
  };
}

/**
 * False positives while one node is starved, in several modes one after the other on one
 * cluster, each on its own node and each followed by `graceMs` (at least the longest
 * suspicion timeout), so that what the starvation set off is counted:
 * - { cpu: { hogs, nice } }: the node's threads pinned (taskset) to the last CPU together with
 *   `hogs` busy-loop processes, the node at `nice` (0: the same priority as the hogs);
 * - { stop: { stopMs, periodMs } }: the node stopped for stopMs of every periodMs
 *   (SIGSTOP/SIGCONT), a stand-in for a paused or throttled process (GC, CFS quota, VM steal).
 * A mode may set its own durationMs, and target: false when it only probes the limits.
 * Counts the dead declarations every node logged (about the starved node and about healthy
 * ones) and the failures/suspicions/refutations counters; the starved node's /healthz response
 * time shows how starved it was.
 */
export async function saturation({ size, durationMs, graceMs, modes, flags = [], label = "" }) {
  const tag = `saturation${label} N=${size}`;
  log(`${tag}: starting ${size} nodes ...`);
  const cluster = await startLocalCluster({
    size,
    flags,
    timeoutMs: 60_000 + 2000 * size,
    spawnTimeoutMs: SPAWN_MS,
  });
  const results = {};
  try {
    for (const [i, mode] of modes.entries()) {
      const index = 1 + (i % (size - 1));
      await settled(cluster.nodes);
      await sleep(3000);
      const ms = mode.durationMs ?? durationMs;
      log(`${tag}: ${mode.name} on node-${index} for ${ms / 1000} s ...`);
      const r = await starve(cluster.nodes, index, mode, { durationMs: ms, graceMs });
      results[mode.name] = { target: mode.target !== false, seconds: ms / 1000, ...r };
      log(
        `${tag}: ${mode.name}: ${r.falsePositives} dead declarations (${r.deadAboutStarved} about the starved ` +
          `node), ${r.suspicions} suspicions, ${r.refutations} refutations; ` +
          `its /healthz p50/max ${r.starvedAdminMs.medianMs}/${r.starvedAdminMs.maxMs} ms`,
      );
    }
  } finally {
    await cluster.stop();
  }
  return { nodes: size, graceSeconds: graceMs / 1000, modes: results };
}

async function starve(nodes, index, mode, { durationMs, graceMs }) {
  const victim = nodes[index];
  const names = new Map(nodes.map((n, i) => [n.nodeId, `node-${i}`]));
  const counters = async () =>
    Promise.all(
      nodes.map(async (n) => {
        const m = await scrape(n);
        return {
          failures: m("hermes_mesh_failures_total"),
          suspicions: m("hermes_mesh_suspicions_total"),
          refutations: m("hermes_mesh_refutations_total"),
        };
      }),
    );
  const before = await counters();
  const from = Date.now();
  const admin = [];
  let adminErrors = 0;
  const probeAdmin = async () => {
    while (Date.now() - from < durationMs) {
      const t = performance.now();
      const ok = await fetch(`${victim.adminUrl}/healthz`, { signal: AbortSignal.timeout(10_000) })
        .then((r) => r.arrayBuffer())
        .then(
          () => true,
          () => false, // a starved server may drop a kept-alive connection; count it and go on
        );
      if (ok) admin.push(Math.round(performance.now() - t));
      else adminErrors++;
      await sleep(250);
    }
  };
  let how;
  if (mode.cpu) {
    const { hogs, nice = 0 } = mode.cpu;
    const cpu = cpus().length - 1;
    await run("taskset", ["-a", "-p", "-c", String(cpu), String(victim.process.pid)]);
    if (nice > 0) {
      // Every thread: renice -p on a PID only changes its main thread.
      const tids = await readdir(`/proc/${victim.process.pid}/task`);
      await run("renice", ["-n", String(nice), "-p", ...tids]);
    }
    const loops = Array.from({ length: hogs }, () => spawnScript("busy-loop.mjs"));
    for (const l of loops) await run("taskset", ["-p", "-c", String(cpu), String(l.pid)]);
    how = `pinned to CPU ${cpu} with ${hogs} busy loops, ${nice > 0 ? `at nice ${nice}` : "same priority"}`;
    try {
      await probeAdmin();
    } finally {
      for (const l of loops) l.kill("SIGKILL");
    }
  } else {
    const { stopMs, periodMs } = mode.stop;
    how = `SIGSTOP for ${stopMs} ms of every ${periodMs} ms`;
    const pid = victim.process.pid;
    const bursts = (async () => {
      while (Date.now() - from < durationMs) {
        process.kill(pid, "SIGSTOP");
        await sleep(stopMs);
        process.kill(pid, "SIGCONT");
        await sleep(periodMs - stopMs);
      }
    })();
    try {
      await Promise.all([bursts, probeAdmin()]);
    } finally {
      process.kill(pid, "SIGCONT");
    }
  }
  await sleep(graceMs);
  const to = Date.now();
  const after = await counters();
  const delta = (key, which = () => true) =>
    after.reduce((sum, a, i) => sum + (which(i) ? a[key] - before[i][key] : 0), 0);
  const starved = (i) => i === index;
  const healthy = (i) => i !== index;
  const dead = nodes.flatMap((n) =>
    deaths(n, from, to).map((d) => ({
      observer: names.get(n.nodeId),
      peer: names.get(d.peer),
      afterMs: d.at - from,
    })),
  );
  const starvedName = `node-${index}`;
  return {
    node: starvedName,
    how,
    loadAverage: load(),
    falsePositives: Math.max(dead.length, delta("failures")),
    deadAboutStarved: dead.filter((d) => d.peer === starvedName).length,
    deadAboutHealthy: dead.filter((d) => d.peer !== starvedName).length,
    deadDeclarations: dead,
    failuresCounted: delta("failures"),
    suspicions: delta("suspicions"),
    suspicionsByStarvedNode: delta("suspicions", starved),
    suspicionsByOthers: delta("suspicions", healthy),
    refutations: delta("refutations"),
    refutationsByStarvedNode: delta("refutations", starved),
    allAliveAfter:
      nodes.every(running) &&
      nodes.every(
        (n) => view(n).size === nodes.length - 1 && [...view(n).values()].every((st) => st === "alive"),
      ),
    starvedAdminMs: summarize(admin),
    starvedAdminErrors: adminErrors,
  };
}

function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: "ignore" });
    child.once("error", (error) =>
      reject(new Error(`${command} failed (${error.message}); install util-linux for taskset`)),
    );
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(" ")} exited with ${code}`)),
    );
  });
}
