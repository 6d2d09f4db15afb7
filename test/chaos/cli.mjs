// `npm run chaos -- [--rounds N] [--seed S] [--faults a,b] [--nodes N] [--report FILE]`: the
// chaos suite (README.md beside this file) with the given settings. Without flags it is the
// short run that `npm test` makes. The settings travel to the suite as HERMES_CHAOS_* variables.
import { spawn } from "node:child_process";
import { parseArgs } from "node:util";

const flags = {
  rounds: "HERMES_CHAOS_ROUNDS",
  seed: "HERMES_CHAOS_SEED",
  faults: "HERMES_CHAOS_FAULTS",
  nodes: "HERMES_CHAOS_NODES",
  report: "HERMES_CHAOS_REPORT",
};

let values;
try {
  ({ values } = parseArgs({
    options: {
      ...Object.fromEntries(Object.keys(flags).map((name) => [name, { type: "string" }])),
      help: { type: "boolean", short: "h" },
    },
  }));
} catch (error) {
  console.error(
    `npm run chaos: ${error.message}\nflags: ${Object.keys(flags)
      .map((f) => `--${f}`)
      .join(" ")}`,
  );
  process.exit(2);
}
if (values.help) {
  console.info(`npm run chaos -- [--rounds N] [--seed S] [--faults a,b] [--nodes N] [--report FILE]
  --rounds  rounds in all; the faults take turns (default: 2 of each)
  --seed    seeds the order of faults and the node each one hits (default 1)
  --faults  comma-separated subset (default: all; see test/chaos/README.md)
  --nodes   mesh size, at least 3 (default 4)
  --report  where the JSON report goes (default: <tmpdir>/hermes-chaos-seed<S>.json)`);
  process.exit(0);
}

const env = { ...process.env };
for (const [name, key] of Object.entries(flags)) if (values[name] !== undefined) env[key] = values[name];
const child = spawn("npx", ["vitest", "run", "--project", "chaos"], { stdio: "inherit", env });
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
