import { tmpdir } from "node:os";
import { join } from "node:path";
import { FAULT_NAMES, type FaultName } from "./faults.js";
import type { PairSpec, Traffic } from "./protocol.js";
import type { RoundPlan } from "./round.js";

/**
 * What a chaos run does: how many rounds, which faults, on how many nodes, from which seed. The
 * short run of `npm test` takes the defaults; `npm run chaos -- --rounds 100` (test/chaos/cli.mjs)
 * passes the same settings as HERMES_CHAOS_* variables.
 */
export interface ChaosPlan {
  seed: number;
  nodes: number;
  faults: FaultName[];
  /** Rounds in all; faults take turns, in a seeded order within each turn. */
  rounds: number;
  /** Where the JSON report is written. */
  report: string;
  order: RoundPlan[];
}

/** The short run: this many rounds of each fault. */
const SHORT_RUN_ROUNDS_PER_FAULT = 2;
const DEFAULT_NODES = 4;

/** Each direction of each pair: 10 messages a second, at most 32 unsettled (the SDK's window). */
export const TRAFFIC: Traffic = { messagesPerSecond: 10, maxInFlight: 32 };
/** App runner processes the pairs are spread over. */
export const APP_PROCESSES = 2;
/**
 * Node flags on top of the defaults (what production runs): discovery every 2 s rather than
 * 10 s, so a healed partition is found sooner.
 */
export const NODE_FLAGS = ["--mesh.discoveryIntervalMs=2000"];

export function planFromEnv(env: NodeJS.ProcessEnv): ChaosPlan {
  const faults = env.HERMES_CHAOS_FAULTS ? parseFaults(env.HERMES_CHAOS_FAULTS) : [...FAULT_NAMES];
  const seed = integer(env, "seed", 1, 0);
  const nodes = integer(env, "nodes", DEFAULT_NODES, 3);
  const rounds = integer(env, "rounds", SHORT_RUN_ROUNDS_PER_FAULT * faults.length, 1);
  const report = env.HERMES_CHAOS_REPORT || join(tmpdir(), `hermes-chaos-seed${seed}.json`);
  return { seed, nodes, faults, rounds, report, order: roundOrder({ seed, nodes, faults, rounds }) };
}

/** HERMES_CHAOS_<FLAG> as an integer of at least `min`, or `fallback` when unset. */
function integer(env: NodeJS.ProcessEnv, flag: string, fallback: number, min: number): number {
  const key = `HERMES_CHAOS_${flag.toUpperCase()}`;
  const text = env[key];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min)
    throw new Error(`--${flag} (${key}) must be an integer of at least ${min}, got "${text}"`);
  return value;
}

function parseFaults(text: string): FaultName[] {
  const names = text.split(",").map((s) => s.trim());
  for (const name of names)
    if (!FAULT_NAMES.includes(name as FaultName))
      throw new Error(
        `--faults (HERMES_CHAOS_FAULTS): unknown fault "${name}"; known: ${FAULT_NAMES.join(", ")}`,
      );
  return names as FaultName[];
}

/** Faults take turns (each turn in a seeded order); each round's victim is drawn from the seed. */
export function roundOrder(o: {
  seed: number;
  nodes: number;
  faults: FaultName[];
  rounds: number;
}): RoundPlan[] {
  const random = mulberry32(o.seed);
  const order: RoundPlan[] = [];
  let turn: FaultName[] = [];
  for (let round = 0; round < o.rounds; round++) {
    if (turn.length === 0) turn = shuffle([...o.faults], random);
    order.push({ round, fault: turn.shift()!, victim: Math.floor(random() * o.nodes) });
  }
  return order;
}

/**
 * One pair for every two nodes (a on the lower, b on the higher), and one pair on each node:
 * every node carries cross-node and same-node chats, and every fault leaves some pairs alone.
 */
export function pairsFor(nodes: number): PairSpec[] {
  const pairs: PairSpec[] = [];
  for (let a = 0; a < nodes; a++) for (let b = a + 1; b < nodes; b++) pairs.push({ id: `p${a}-${b}`, a, b });
  for (let n = 0; n < nodes; n++) pairs.push({ id: `p${n}-${n}`, a: n, b: n });
  return pairs;
}

/**
 * The node a round's fault hits: the drawn one if any app is connected to it, else the next
 * one (in index order, wrapping) that has apps. Apps move when their node fails, and a fault on
 * a node without apps would test nothing.
 */
export function victimWithApps(drawn: number, appsPerNode: readonly number[]): number {
  for (let k = 0; k < appsPerNode.length; k++) {
    const node = (drawn + k) % appsPerNode.length;
    if ((appsPerNode[node] ?? 0) > 0) return node;
  }
  return drawn;
}

export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
