import { readdirSync, readFileSync } from "node:fs";
import type { Clock } from "../utils/clock.js";

/**
 * The file descriptors accepted connections may use. At the process's limit nothing can be
 * opened any more: the admin port stops answering and keystore flushes fail with EMFILE. So
 * connections get the soft RLIMIT_NOFILE minus a reserve, and the reserve stays for the admin
 * port, the keystore, outbound mesh connections and DNS.
 */

/** The soft "Max open files" in /proc/<pid>/limits; undefined when unlimited or not there. */
export function parseSoftFdLimit(limits: string): number | undefined {
  const line = limits.split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
  return soft !== undefined && /^\d+$/.test(soft) ? Number(soft) : undefined;
}

/** This process's soft RLIMIT_NOFILE (Linux); undefined elsewhere. */
export function readSoftFdLimit(): number | undefined {
  try {
    return parseSoftFdLimit(readFileSync("/proc/self/limits", "utf8"));
  } catch {
    return undefined;
  }
}

/** Descriptors open in this process right now (Linux); the directory handle that lists them is left out. */
export function countOpenFds(): number {
  return readdirSync("/proc/self/fd").length - 1;
}

/**
 * Counting costs about a microsecond per open descriptor on the event loop; it runs at most once
 * per max(this, COUNT_COST_FACTOR x its last cost), so it stays under 1% of the loop.
 */
const MIN_COUNT_INTERVAL_MS = 1000;
const COUNT_COST_FACTOR = 100;

export interface DescriptorBudgetInit {
  /** The soft RLIMIT_NOFILE; undefined when unknown (then nothing is refused for descriptors). */
  limit: number | undefined;
  /** Descriptors that accepted connections must leave free. */
  reserve: number;
}

/**
 * Shared by the app and mesh ports. Accepted sockets are counted exactly; everything else the
 * process holds (files, outbound connections, the runtime's own) is counted from /proc now and
 * then, and the reserve absorbs what it grows by in between.
 */
export class DescriptorBudget {
  private connections = 0;
  private others = 0;
  private countedAt = Number.NEGATIVE_INFINITY;
  private countIntervalMs = MIN_COUNT_INTERVAL_MS;

  constructor(
    private readonly components: { clock: Clock; countOpen: () => number },
    private readonly init: DescriptorBudgetInit,
  ) {}

  /** Descriptors connections may hold at most; undefined when the limit is unknown. */
  get connectionLimit(): number | undefined {
    return this.init.limit === undefined ? undefined : this.init.limit - this.init.reserve;
  }

  /** Descriptors open now, counted afresh. */
  openNow(): number {
    return this.components.countOpen();
  }

  /**
   * For a socket just accepted (its descriptor already open, not yet admitted): may it stay?
   * When it may, it is counted until `released()`.
   */
  admit(): boolean {
    const allowed = this.connectionLimit;
    if (allowed !== undefined) {
      this.recount();
      // +1: the new socket, which the recount saw among the others.
      if (this.connections + this.others + 1 > allowed) return false;
    }
    this.connections++;
    return true;
  }

  released(): void {
    this.connections = Math.max(0, this.connections - 1);
  }

  private recount(): void {
    const { clock, countOpen } = this.components;
    const started = clock.now();
    if (started - this.countedAt < this.countIntervalMs) return;
    this.others = Math.max(0, countOpen() - this.connections - 1);
    this.countedAt = clock.now();
    this.countIntervalMs = Math.max(MIN_COUNT_INTERVAL_MS, COUNT_COST_FACTOR * (this.countedAt - started));
  }
}
