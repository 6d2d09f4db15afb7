// `npm run bench`: Hermes against baselines measured in the same run, on the same machine.
// Results: docs/benchmarks/results.json and docs/benchmarks/README.md.
//
//   node test/bench/run.mjs                       every scenario (about 10 minutes on 2 cores)
//   node test/bench/run.mjs --quick               smaller N, fewer trials and messages
//   node test/bench/run.mjs --only mesh,saturation
//   node test/bench/run.mjs --only saturation --stress   adds a starvation mode that stalls a node for seconds
//
// Scenarios: crypto (node:crypto against @noble, per operation), relay (one node), ratchet (e2e
// v2 against v1 through one node), memory,
// attack (a victim chat while one process attacks its node, against the same chat unattacked),
// cross-node (two nodes), mesh (join, detection and gossip against N, beside hashicorp/memberlist
// at the same N: needs Go to build test/bench/memberlist), saturation (false
// positives with one node starved), tuning (mesh and saturation again with --tune flags, to
// compare membership settings). A partial run (--quick or --only)
// writes to a temporary folder unless --out is given, so the committed results stay whole.
import { spawnSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { victimUnderAttack } from "./attack.mjs";
import { cryptoBackends } from "./crypto.mjs";
import { memory } from "./memory.mjs";
import { meshScaling, saturation } from "./mesh.mjs";
import { ratchetCost } from "./ratchet.mjs";
import { crossNodeRelay, PAYLOAD, singleNodeRelay } from "./relay.mjs";
import { report, targets } from "./report.mjs";
import { log } from "./util.mjs";

const SCENARIOS = [
  "crypto",
  "relay",
  "ratchet",
  "memory",
  "attack",
  "cross-node",
  "mesh",
  "saturation",
  "tuning",
];
const { values: opts } = parseArgs({
  options: {
    only: { type: "string" },
    quick: { type: "boolean", default: false },
    messages: { type: "string" },
    window: { type: "string", default: "64" },
    rounds: { type: "string" },
    sessions: { type: "string" },
    chats: { type: "string" },
    sizes: { type: "string" },
    trials: { type: "string" },
    joins: { type: "string" },
    "gossip-window": { type: "string" },
    "saturation-seconds": { type: "string" },
    tune: { type: "string", default: "suspicionMult=1" },
    stress: { type: "boolean", default: false },
    out: { type: "string" },
  },
});
const quick = opts.quick;
const only = opts.only ? opts.only.split(",").map((s) => s.trim()) : SCENARIOS;
for (const s of only) {
  if (!SCENARIOS.includes(s))
    throw new Error(`--only ${s}: unknown scenario (known: ${SCENARIOS.join(", ")})`);
}
const num = (value, full, small) => Number(value ?? (quick ? small : full));
const list = (value, full, small) => (value ?? (quick ? small : full)).split(",").map(Number);
const partial = quick || opts.only !== undefined;
const out =
  opts.out ??
  (partial
    ? join(tmpdir(), "hermes-bench")
    : fileURLToPath(new URL("../../docs/benchmarks/", import.meta.url)));

const messages = num(opts.messages, 20000, 5000);
const windows = [Number(opts.window), 1];
const sizes = list(opts.sizes, "5,10,25,50", "3,5");
const trials = num(opts.trials, 5, 2);
const joins = num(opts.joins, 3, 1);
const settleMs = 1000;
// 30 s is one push-pull period: every node starts exactly one full state exchange in the window.
const gossipWindowMs = num(opts["gossip-window"], 30, 10) * 1000;
const saturationMs = num(opts["saturation-seconds"], 30, 10) * 1000;
const tuneFlags = opts.tune
  .split(",")
  .filter(Boolean)
  .map((kv) => `--mesh.membership.${kv.trim()}`);

const started = performance.now();
const errors = [];
/** Runs one scenario; a failure is recorded and the others still run. */
async function attempt(name, body) {
  try {
    return await body();
  } catch (error) {
    log(`${name} FAILED: ${error.stack ?? error}`);
    errors.push({ scenario: name, error: String(error.message ?? error) });
    return undefined;
  }
}
const results = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  payloadBytes: PAYLOAD,
  ...(partial ? { partial: { quick, only } } : {}),
  scenarios: {},
};
const rounds = num(opts.rounds, 3, 1);
// Starvation as the issue suggests (the target), then pauses long enough to raise suspicions:
// how long a node may stall before the mesh gives up on it (informational).
const starveModes = [
  { name: "cpu", cpu: { hogs: 4 } },
  { name: "sigstop", stop: { stopMs: 300, periodMs: 1000 } },
  {
    name: "pauses",
    stop: { stopMs: 2500, periodMs: 5000 },
    durationMs: Math.max(10_000, Math.round((saturationMs * 2) / 3 / 5000) * 5000),
    target: false,
  },
  // --stress: the node at nice 15 under the hogs gets so little CPU that it stalls for seconds.
  ...(opts.stress
    ? [{ name: "cpu-nice-15", cpu: { hogs: 4, nice: 15 }, durationMs: 20_000, target: false }]
    : []),
];
// Grace after each mode: above any suspicion timeout at N = 5 (at most the ceiling,
// suspicionMaxTimeoutMult 4 × suspicionMult 2 × 1 s).
const saturationOptions = { size: 5, durationMs: saturationMs, graceMs: 8000 };
const tuneLabel = ` (${opts.tune})`;

const run = (name, body) => (only.includes(name) ? attempt(name, body) : undefined);
results.crypto = await run("crypto", () => cryptoBackends(quick ? { rounds: 3, msPerRound: 150 } : {}));
results.scenarios = (await run("relay", () => singleNodeRelay({ messages, windows, rounds }))) ?? {};
results.ratchet = await run("ratchet", () => ratchetCost({ messages, window: windows[0], rounds }));
results.memory = await run("memory", () =>
  memory({ sessions: num(opts.sessions, 1000, 200), chats: num(opts.chats, 2000, 400) }),
);
results.attack = await run("attack", () => victimUnderAttack({ measureMs: quick ? 2000 : 5000, rounds }));
const mesh = {
  crossNode: await run("cross-node", () => crossNodeRelay({ messages, windows, rounds })),
  membership: await run("mesh", async () => ({
    config: "the default membership config (node/src/config/defaults.ts)",
    sizes: await meshScaling({ sizes, trials, joins, gossipWindowMs, settleMs, memberlist: true }),
  })),
  saturation: await run("saturation", () => saturation({ ...saturationOptions, modes: starveModes })),
  tuning: await run("tuning", async () => ({
    flags: tuneFlags,
    sizes: await meshScaling({
      sizes,
      trials,
      gossipWindowMs: 0,
      settleMs,
      flags: tuneFlags,
      label: tuneLabel,
    }),
    // The same-priority CPU hogs raise no suspicion at all with the defaults: left out here.
    saturation: await saturation({
      ...saturationOptions,
      modes: starveModes.filter((m) => m.name !== "cpu"),
      flags: tuneFlags,
      label: tuneLabel,
    }).catch((error) => ({ error: String(error.message ?? error) })),
  })),
};
for (const key of Object.keys(mesh)) if (mesh[key] === undefined) delete mesh[key];
if (results.memory === undefined) delete results.memory;
if (results.crypto === undefined) delete results.crypto;
if (results.ratchet === undefined) delete results.ratchet;
if (results.attack === undefined) delete results.attack;
if (Object.keys(mesh).length > 0) {
  results.mesh = mesh;
  results.targets = targets(results);
}
if (errors.length > 0) results.errors = errors;
results.elapsedSeconds = Math.round((performance.now() - started) / 1000);

await mkdir(out, { recursive: true });
await writeFile(join(out, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
await writeFile(join(out, "README.md"), report(results));
// The repository's formatter owns the layout of both files (`npm run lint` checks docs/ too).
const files = [join(out, "results.json"), join(out, "README.md")];
const biome = spawnSync(
  fileURLToPath(new URL("../../node_modules/.bin/biome", import.meta.url)),
  ["format", "--write", ...files],
  { stdio: "ignore" },
);
if (biome.status !== 0) log(`could not format the results; run: npx biome format --write ${files.join(" ")}`);
process.stdout.write(await readFile(join(out, "README.md"), "utf8"));
log(`results in ${out} (${results.elapsedSeconds} s)`);
if (errors.length > 0) process.exitCode = 1; // after writing what did run
