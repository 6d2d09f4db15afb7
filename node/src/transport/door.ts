import type { Socket } from "node:net";
import type { Clock } from "../utils/clock.js";

/** Why an address is barred (the router's address budgets): its connections are held, then closed. */
export type Barred = "failed_connects" | "slow_reader";

/** Why the gate turns a connection away, and for how long: barred, or no connect left to spend. */
export interface TurnAway {
  why: Barred | "connect_rate";
  retryAfterMs: number;
}

/** How long a connection from a barred address is held unread before it is closed unanswered. */
export const BARRED_HOLD_MS = 5000;

interface Waiter {
  pass: () => void;
  /** Stops its close listener once it leaves the line. */
  leave: () => void;
  gone: boolean;
}

/**
 * The door of a port: asks the gate before a connection is served. A connection from an address
 * over its connect rate waits in that address's line, unread, and is let in when the gate has a
 * connect for it, oldest first: one wake-up per connect for the whole line, and a herd of
 * connections cannot all be let in at once to be refused later, at far greater cost. Nothing
 * else ends the wait but the client leaving or the port's idle timeout (the connection table's,
 * armed on accept), which bound the line with the port's connection bounds. A connection from a
 * barred address is held for BARRED_HOLD_MS, then closed unanswered: closed at once, it would be
 * opened again at once by a client that loops, which then takes the machine's CPU from everyone;
 * held, within the port's connection bounds, it keeps such a client waiting.
 */
export class Door {
  private readonly lines = new Map<string, { waiting: Waiter[]; wake?: () => void }>();

  constructor(
    private readonly clock: Clock,
    private readonly gate: (address: string) => TurnAway | undefined,
    private readonly events: {
      /** A connection from a barred address is held, to be closed unanswered. */
      turnedAway: (why: Barred, address: string) => void;
      /** Connections waiting in line: one more (+1) or one less (-1). */
      waiting: (delta: 1 | -1) => void;
    },
  ) {}

  /** Calls `pass` when `raw` may be served (at once, or later), or never if it is closed first. */
  through(raw: Socket, address: string, pass: () => void): void {
    const line = this.lines.get(address);
    if (line) return this.wait(line.waiting, raw, pass);
    const turnAway = this.gate(address);
    if (!turnAway) return pass();
    if (turnAway.why !== "connect_rate") return this.hold(raw, address, turnAway.why);
    const waiting: Waiter[] = [];
    this.lines.set(address, { waiting });
    this.wait(waiting, raw, pass);
    this.wakeLater(address, turnAway.retryAfterMs);
  }

  private wait(waiting: Waiter[], raw: Socket, pass: () => void): void {
    raw.pause();
    const waiter: Waiter = { pass, leave: () => {}, gone: false };
    const gone = () => {
      waiter.gone = true;
      waiter.leave();
    };
    raw.once("close", gone);
    waiter.leave = () => {
      raw.off("close", gone);
      this.events.waiting(-1);
    };
    waiting.push(waiter);
    this.events.waiting(1);
  }

  /** Lets in the oldest waiters of `address` while the gate has connects for them. */
  private wake(address: string): void {
    const line = this.lines.get(address);
    if (!line) return;
    line.wake = undefined;
    for (;;) {
      while (line.waiting[0]?.gone) line.waiting.shift();
      const next = line.waiting[0];
      if (!next) return void this.lines.delete(address);
      const turnAway = this.gate(address);
      // An address barred meanwhile is looked at again within a hold, not its whole bar.
      if (turnAway) return this.wakeLater(address, Math.min(turnAway.retryAfterMs, BARRED_HOLD_MS));
      line.waiting.shift();
      next.leave();
      // Still paused: HTTP/2 reads the socket's handle itself, from where the kernel kept it.
      next.pass();
    }
  }

  private wakeLater(address: string, ms: number): void {
    const line = this.lines.get(address);
    if (line && !line.wake) line.wake = this.clock.setTimeout(() => this.wake(address), Math.max(1, ms));
  }

  /** Holds a connection from a barred address unread, then closes it. */
  private hold(raw: Socket, address: string, why: Barred): void {
    this.events.turnedAway(why, address);
    raw.pause();
    const cancel = this.clock.setTimeout(() => raw.destroy(), BARRED_HOLD_MS);
    raw.once("close", cancel);
  }
}
