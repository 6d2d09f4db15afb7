import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { BARRED_HOLD_MS, Door, type TurnAway } from "../../src/transport/door.js";
import { FakeClock } from "../../src/utils/fake-clock.js";

/** What the door does with a socket: pause it, listen for its close, destroy it. */
class FakeSocket extends EventEmitter {
  paused = false;
  destroyed = false;
  pause() {
    this.paused = true;
    return this;
  }
  destroy() {
    if (!this.destroyed) {
      this.destroyed = true;
      this.emit("close");
    }
    return this;
  }
}

/** A door whose gate has `connects` to give, one more every 100 ms (as a token bucket would). */
function doorWithConnects(connects: number) {
  const clock = new FakeClock();
  let left = connects;
  let asked = 0;
  const refill = () => {
    left++;
    clock.setTimeout(refill, 100);
  };
  clock.setTimeout(refill, 100);
  const turnedAway: string[] = [];
  let waiting = 0;
  const gate = (): TurnAway | undefined => {
    asked++;
    if (left > 0) {
      left--;
      return undefined;
    }
    return { why: "connect_rate", retryAfterMs: 100 };
  };
  const door = new Door(clock, gate, {
    turnedAway: (why) => turnedAway.push(why),
    waiting: (delta) => {
      waiting += delta;
    },
  });
  const served: number[] = [];
  const arrive = (n: number) => {
    const socket = new FakeSocket();
    door.through(socket as unknown as Socket, "192.0.2.1", () => served.push(n));
    return socket;
  };
  return { clock, door, served, turnedAway, arrive, asked: () => asked, waiting: () => waiting };
}

describe("Door", () => {
  it("lets connections in while the gate has connects, then one per connect, oldest first, with one wake-up each", () => {
    const d = doorWithConnects(2);
    const sockets = [1, 2, 3, 4, 5].map((n) => d.arrive(n));
    expect(d.served).toEqual([1, 2]);
    expect(sockets.slice(2).every((s) => s.paused)).toBe(true);
    expect(d.waiting()).toBe(3);
    // A newcomer queues behind the line instead of taking the next connect from it.
    const asked = d.asked();
    d.arrive(6);
    expect(d.asked()).toBe(asked);
    d.clock.advance(100);
    expect(d.served).toEqual([1, 2, 3]);
    // One that leaves while waiting loses its place and takes no connect.
    sockets[3]!.destroy();
    d.clock.advance(100);
    expect(d.served).toEqual([1, 2, 3, 5]);
    d.clock.advance(100);
    expect(d.served).toEqual([1, 2, 3, 5, 6]);
    // The whole line cost one gate call per connect given or missed, not one per waiter.
    expect(d.asked()).toBeLessThanOrEqual(2 + 2 * 4);
    expect(d.turnedAway).toEqual([]);
    expect(d.waiting()).toBe(0);
  });

  it("keeps a long line waiting, unread, for as long as it takes (the port's idle timeout ends it)", () => {
    const d = doorWithConnects(0);
    const sockets = Array.from({ length: 80 }, (_, n) => d.arrive(n));
    d.clock.advance(5000);
    // Ten a second were let in meanwhile, in order; the others still wait, none was closed.
    expect(d.served.length).toBeGreaterThanOrEqual(49);
    expect(d.served.length).toBeLessThanOrEqual(50);
    expect(d.served).toEqual([...Array(d.served.length).keys()]);
    expect(d.waiting()).toBe(80 - d.served.length);
    expect(sockets.some((s) => s.destroyed)).toBe(false);
    d.clock.advance(5000);
    expect(d.served).toHaveLength(80);
    expect(d.waiting()).toBe(0);
    expect(d.turnedAway).toEqual([]);
  });

  it("holds a connection from a barred address and closes it, counted once", () => {
    const clock = new FakeClock();
    const turnedAway: string[] = [];
    const door = new Door(clock, () => ({ why: "failed_connects", retryAfterMs: 60_000 }), {
      turnedAway: (why) => turnedAway.push(why),
      waiting: () => {},
    });
    const socket = new FakeSocket();
    let served = false;
    door.through(socket as unknown as Socket, "192.0.2.1", () => {
      served = true;
    });
    expect(socket.paused).toBe(true);
    clock.advance(BARRED_HOLD_MS - 1);
    expect(socket.destroyed).toBe(false);
    clock.advance(1);
    expect(socket.destroyed).toBe(true);
    expect(served).toBe(false);
    expect(turnedAway).toEqual(["failed_connects"]);
  });
});
