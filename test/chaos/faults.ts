import type { ChaosMesh } from "./mesh.js";
import { sleep, until } from "./wait.js";

/** One fault on one node. A fault made of several (a rolling restart) has a step per node. */
export interface Step {
  victim: number;
  /** When the fault was injected. */
  at: number;
  /** When it was over: the node serving again, resumed, healed, its link clean. */
  endedAt: number;
  /** When every other node had declared the victim dead (or left), if they did: filled in after the round. */
  detectedAt?: number;
}

export interface Fault {
  /** What is done, for the report and the README. */
  what: string;
  run(mesh: ChaosMesh, victim: number): Promise<Step[]>;
}

/** Longest wait for the mesh to declare a victim dead before a fault is ended anyway. */
const DETECT_BOUND_MS = 30_000;
/** A "slow" fault lasts this long past detection, so that what detection sets off happens first. */
const HOLD_MS = 2000;
/** A node killed "for good" stays away this long past detection: the bound for apps to be told (10 s) + 2 s. */
const GONE_MS = 12_000;
/** Link impairment: netem, or the NFQUEUE stand-in of test/integration/netns.ts on kernels without it. */
const LOSS_PERCENT = 10;
const DELAY_MS = 50;
const IMPAIR_MS = 10_000;
/** A rolling restart waits this long at most for the mesh to be whole before the next node. */
const WHOLE_BOUND_MS = 60_000;

async function detection(mesh: ChaosMesh, victim: number, since: number): Promise<void> {
  await until(() => mesh.detectedAt(victim, since) !== undefined, {
    timeoutMs: DETECT_BOUND_MS,
    everyMs: 100,
  });
}

async function gracefulRestart(mesh: ChaosMesh, victim: number): Promise<Step> {
  const at = Date.now();
  await mesh.stop(victim);
  return { victim, at, endedAt: await mesh.restart(victim) };
}

export const FAULTS = {
  "kill9-fast": {
    what: "kill -9, restarted at once (back before the mesh declares it dead)",
    async run(mesh, victim) {
      const at = Date.now();
      await mesh.kill(victim);
      return [{ victim, at, endedAt: await mesh.restart(victim) }];
    },
  },
  "kill9-slow": {
    what: `kill -9, restarted ${HOLD_MS / 1000} s after the mesh declared it dead`,
    async run(mesh, victim) {
      const at = Date.now();
      await mesh.kill(victim);
      await detection(mesh, victim, at);
      await sleep(HOLD_MS);
      return [{ victim, at, endedAt: await mesh.restart(victim) }];
    },
  },
  "kill9-gone": {
    what: `kill -9, away for ${GONE_MS / 1000} s past detection (apps must move), then restored`,
    async run(mesh, victim) {
      const at = Date.now();
      await mesh.kill(victim);
      await detection(mesh, victim, at);
      await sleep(GONE_MS);
      return [{ victim, at, endedAt: await mesh.restart(victim) }];
    },
  },
  sigstop: {
    what: `SIGSTOP until the mesh declared it dead, SIGCONT ${HOLD_MS / 1000} s later`,
    async run(mesh, victim) {
      const at = Date.now();
      mesh.pause(victim);
      await detection(mesh, victim, at);
      await sleep(HOLD_MS);
      mesh.resume(victim);
      return [{ victim, at, endedAt: Date.now() }];
    },
  },
  partition: {
    what: `cut off from the other nodes (not from apps) until declared dead, healed ${HOLD_MS / 1000} s later`,
    async run(mesh, victim) {
      const at = Date.now();
      await mesh.partition(victim);
      await detection(mesh, victim, at);
      await sleep(HOLD_MS);
      await mesh.heal();
      return [{ victim, at, endedAt: Date.now() }];
    },
  },
  "graceful-restart": {
    what: "SIGTERM, restarted once it exited",
    async run(mesh, victim) {
      return [await gracefulRestart(mesh, victim)];
    },
  },
  "rolling-restart": {
    what: "SIGTERM and restart of every node in turn, each back and the mesh whole before the next",
    async run(mesh, victim) {
      const steps: Step[] = [];
      for (let k = 0; k < mesh.size; k++) {
        const node = (victim + k) % mesh.size;
        steps.push(await gracefulRestart(mesh, node));
        if (!(await mesh.whole(WHOLE_BOUND_MS)))
          throw new Error(
            `rolling restart: the mesh was not whole ${WHOLE_BOUND_MS} ms after ${mesh.name(node)}`,
          );
      }
      return steps;
    },
  },
  "delay-loss": {
    what: `${LOSS_PERCENT}% loss and ${DELAY_MS} ms delay on all it sends, for ${IMPAIR_MS / 1000} s`,
    async run(mesh, victim) {
      const at = Date.now();
      const impairment = await mesh.impair(victim, { lossPercent: LOSS_PERCENT, delayMs: DELAY_MS });
      try {
        await sleep(IMPAIR_MS);
      } finally {
        await impairment.remove();
      }
      return [{ victim, at, endedAt: Date.now() }];
    },
  },
} satisfies Record<string, Fault>;

export type FaultName = keyof typeof FAULTS;
export const FAULT_NAMES = Object.keys(FAULTS) as FaultName[];
