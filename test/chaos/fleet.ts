import { type ChildProcess, fork } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type {
  Beat,
  Command,
  PairSpec,
  PairStatus,
  Reply,
  ReplyValue,
  RoundTally,
  Traffic,
} from "./protocol.js";

const RUNNER = fileURLToPath(new URL("./app/runner.ts", import.meta.url));
const REGISTER = new URL("./app/register-typescript.mjs", import.meta.url).href;
/** Commands that only read or flip a flag answer at once; this bounds a runner that hangs. */
const QUICK_MS = 10_000;
/** Slack over a command's own bound (settle, renew) for the answer to come back. */
const ANSWER_MS = 5_000;

type Kind = Command["kind"];
type Args<K extends Kind> = Omit<Extract<Command, { kind: K }>, "id" | "kind">;

/** One app runner process (app/runner.ts) and its request/answer channel. */
class Runner {
  private nextId = 1;
  private stderr = "";
  private readonly waiting = new Map<number, { settle: (reply: Reply) => void; timer: NodeJS.Timeout }>();
  /** When the runner was last heard from, and the CPU it had used at its last beat. */
  private heardAt = Date.now();
  private beatCpuMs = 0;
  /** The longest its event loop stalled since it started. */
  worstStallMs = 0;

  constructor(private readonly child: ChildProcess) {
    child.stderr?.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    child.on("message", (reply: Reply | Beat) => {
      this.heardAt = Date.now();
      if ("beat" in reply) {
        this.worstStallMs = Math.max(this.worstStallMs, reply.beat.loopStallMs);
        this.beatCpuMs = reply.beat.cpuMs;
        return;
      }
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      this.waiting.delete(reply.id);
      clearTimeout(waiter.timer);
      waiter.settle(reply);
    });
    child.on("exit", (code, signal) => {
      const error = `app runner ${child.pid} exited (${signal ?? code}): ${this.stderr.trim()}`;
      for (const [id, waiter] of this.waiting) {
        clearTimeout(waiter.timer);
        waiter.settle({ id, ok: false, error });
      }
      this.waiting.clear();
    });
  }

  request<K extends Kind>(kind: K, args: Args<K>, timeoutMs: number): Promise<ReplyValue[K]> {
    const id = this.nextId++;
    const sentAt = Date.now();
    return new Promise((resolve, reject) => {
      // After a stall of the harness itself, this timer runs before the answer that came meanwhile
      // is read: judge only once that I/O has been taken (setImmediate runs after it).
      const timer = setTimeout(
        () =>
          setImmediate(() => {
            if (!this.waiting.delete(id)) return;
            const now = Date.now();
            const proc = processState(this.child.pid);
            const state = proc
              ? `; process state ${proc.state}, ${proc.cpuMs - this.beatCpuMs} ms of CPU since its last beat, ${proc.detail}`
              : "";
            reject(
              new Error(
                `app runner ${this.child.pid}: no answer to ${kind} within ${timeoutMs} ms ` +
                  `(asked ${now - sentAt} ms ago; last heard from ${now - this.heardAt} ms ago; ` +
                  `its event loop stalled up to ${this.worstStallMs} ms before that${state}): ` +
                  this.stderr.trim(),
              ),
            );
          }),
        timeoutMs,
      );
      this.waiting.set(id, {
        timer,
        settle: (reply) =>
          reply.ok ? resolve(reply.value as ReplyValue[K]) : reject(new Error(`${kind}: ${reply.error}`)),
      });
      if (!this.child.connected) {
        this.waiting.delete(id);
        clearTimeout(timer);
        return reject(new Error(`app runner ${this.child.pid} is gone: ${this.stderr.trim()}`));
      }
      this.child.send({ id, kind, ...args } as Command);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    await this.request("stop", {}, QUICK_MS).catch(() => undefined);
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), QUICK_MS);
    await exited;
    clearTimeout(timer);
  }
}

/** The system calls an idle or blocked Node.js thread sits in, by x86-64 number (others show the number). */
const SYSCALLS: Record<string, string> = {
  "0": "read",
  "1": "write",
  "7": "poll",
  "202": "futex",
  "232": "epoll_wait",
  "281": "epoll_pwait",
  "441": "epoll_pwait2",
};

/**
 * A process's scheduler state (R running, S sleeping, D in I/O, T stopped, …), the CPU it has
 * used, and where its main thread waits (system call, kernel function) and what its other
 * threads do, from Linux's /proc: whether a runner that stopped answering was busy, idle,
 * blocked on a lock or stopped.
 */
function processState(pid: number | undefined): { state: string; cpuMs: number; detail: string } | undefined {
  const read = (file: string) => {
    try {
      return readFileSync(`/proc/${pid}/${file}`, "utf8").trim();
    } catch {
      return "";
    }
  };
  // The fields after the command name, which is in parentheses and may hold spaces.
  const fields = (stat: string) => stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const stat = read("stat");
  if (!stat) return undefined;
  const main = fields(stat);
  const ticks = Number(main[11]) + Number(main[12]); // utime + stime, in clock ticks (1/100 s)
  const syscall = read("syscall").split(" ")[0] ?? "";
  const threads = new Map<string, number>();
  for (const task of safeReaddir(`/proc/${pid}/task`)) {
    const name = read(`task/${task}/comm`);
    const state = fields(read(`task/${task}/stat`))[0];
    const key = `${name} ${state}`;
    threads.set(key, (threads.get(key) ?? 0) + 1);
  }
  const others = [...threads].map(([key, n]) => (n > 1 ? `${key} ×${n}` : key)).join(", ");
  const where = `main thread in ${SYSCALLS[syscall] ?? `system call ${syscall || "?"}`} (${read("wchan") || "?"})`;
  return { state: main[0]!, cpuMs: ticks * 10, detail: `${where}; threads: ${others}` };
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * The chaos apps: pairs spread over a few runner processes. Every method asks all runners and
 * merges their answers; each answer is bounded in time.
 */
export class AppFleet {
  private constructor(private readonly runners: Runner[]) {}

  static async start(o: {
    appEndpoints: string[];
    pairs: PairSpec[];
    traffic: Traffic;
    processes: number;
    timeoutMs: number;
  }): Promise<AppFleet> {
    const runners: Runner[] = [];
    for (let i = 0; i < Math.min(o.processes, o.pairs.length); i++) {
      const child = fork(RUNNER, [], {
        execArgv: ["--import", REGISTER, "--enable-source-maps"],
        stdio: ["ignore", "ignore", "pipe", "ipc"],
      });
      runners.push(new Runner(child));
    }
    const fleet = new AppFleet(runners);
    try {
      await Promise.all(
        runners.map((runner, i) =>
          runner.request(
            "start",
            {
              appEndpoints: o.appEndpoints,
              pairs: o.pairs.filter((_, k) => k % runners.length === i),
              traffic: o.traffic,
            },
            o.timeoutMs,
          ),
        ),
      );
    } catch (error) {
      await fleet.stop();
      throw error;
    }
    return fleet;
  }

  private all<K extends Kind>(kind: K, args: Args<K>, timeoutMs = QUICK_MS): Promise<ReplyValue[K][]> {
    return Promise.all(this.runners.map((r) => r.request(kind, args, timeoutMs)));
  }

  /** Starts a round: each direction's books count afresh, and sending (re)starts. */
  async round(): Promise<void> {
    await this.all("round", {});
  }

  async pause(): Promise<void> {
    await this.all("pause", {});
  }

  /** True when every send of the round settled within timeoutMs. */
  async settle(timeoutMs: number): Promise<boolean> {
    const answers = await this.all("settle", { timeoutMs }, timeoutMs + ANSWER_MS);
    return answers.every((a) => a.settled);
  }

  async tally(): Promise<RoundTally> {
    const answers = await this.all("tally", {});
    return { ways: answers.flatMap((a) => a.ways), events: answers.flatMap((a) => a.events) };
  }

  async status(): Promise<PairStatus[]> {
    return (await this.all("status", {})).flat();
  }

  async renew(pairs: string[], timeoutMs: number): Promise<{ renewed: string[]; failed: string[] }> {
    const answers = await this.all("renew", { pairs, timeoutMs }, timeoutMs + ANSWER_MS);
    return { renewed: answers.flatMap((a) => a.renewed), failed: answers.flatMap((a) => a.failed) };
  }

  /** The longest any runner's event loop was held up so far (what the apps' timings include). */
  get worstStallMs(): number {
    return Math.max(...this.runners.map((r) => r.worstStallMs));
  }

  async stop(): Promise<void> {
    await Promise.all(this.runners.map((r) => r.stop()));
  }
}
