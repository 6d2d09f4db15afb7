/**
 * Test doubles: an in-memory network of Membership instances with per-link delay,
 * loss, partitions and frozen nodes, and a small simulation harness. No real time passes.
 */
import type { Clock } from "../../utils/clock.js";
import { FakeClock, seededRandom } from "../../utils/fake-clock.js";
import type { MembershipConfig } from "./config.js";
import { Membership } from "./membership.js";
import type {
  Destination,
  MemberState,
  MembershipEvent,
  MembershipMessage,
  MembershipTransport,
} from "./types.js";

/**
 * Gates one node's work. While frozen, its timers and inbound messages pile up and run, in
 * order, when it thaws: a CPU-starved process that answers late rather than not at all.
 */
class NodeGate {
  frozen = false;
  private backlog: (() => void)[] = [];

  run(fn: () => void): void {
    if (this.frozen) this.backlog.push(fn);
    else fn();
  }

  thaw(): void {
    this.frozen = false;
    while (!this.frozen && this.backlog.length > 0) this.backlog.shift()!();
  }

  drop(): void {
    this.backlog = [];
  }
}

export interface LinkOptions {
  /** One-way delay in ms. */
  delayMs?: number;
  /** Probability in [0, 1] that a message is lost. */
  dropRate?: number;
}

export interface NetworkOptions {
  /** Default one-way delay (ms); default 1. */
  delayMs?: number;
  /** Extra uniform random delay 0..jitterMs added per message. */
  jitterMs?: number;
  /** Default loss probability; default 0. */
  dropRate?: number;
  random?: () => number;
}

export type MessageHandler = (from: string, msg: MembershipMessage) => void;

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
}

/**
 * Connects nodes by address. Delivery is asynchronous through the fake clock, and messages are
 * structured-cloned, as a wire would, so no object is shared between nodes.
 */
export class InMemoryNetwork {
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly gates = new Map<string, NodeGate>();
  private readonly links = new Map<string, LinkOptions>();
  private readonly blocked = new Set<string>();
  private readonly perNode = new Map<string, NetworkStats>();
  private readonly random: () => number;
  readonly totals: NetworkStats = { sent: 0, delivered: 0, dropped: 0 };

  constructor(
    readonly clock: FakeClock,
    private readonly options: NetworkOptions = {},
  ) {
    this.random = options.random ?? seededRandom(1);
  }

  /** The node's view of the clock: shared time, but its timers stop while it is frozen. */
  clockFor(address: string): Clock {
    const gate = this.gate(address);
    const clock = this.clock;
    return {
      now: () => clock.now(),
      setTimeout: (fn, ms) => gated(clock.setTimeout.bind(clock), fn, ms),
      setInterval: (fn, ms) => gated(clock.setInterval.bind(clock), fn, ms),
    };
    function gated(set: Clock["setTimeout"], fn: () => void, ms: number): () => void {
      let cancelled = false;
      const cancel = set(() => gate.run(() => !cancelled && fn()), ms);
      return () => {
        cancelled = true;
        cancel();
      };
    }
  }

  transportFor(address: string): MembershipTransport {
    return { send: (to, msg) => this.send(address, to, msg) };
  }

  /** Attaches a receiver; replaces a previous one at the same address (a restart). */
  register(address: string, handler: MessageHandler): void {
    this.handlers.set(address, handler);
  }

  /** Detaches a receiver (a crash): messages to it are lost, its backlog dropped. */
  unregister(address: string): void {
    this.handlers.delete(address);
    this.gates.get(address)?.drop();
  }

  setLink(a: string, b: string, options: LinkOptions, bothWays = true): void {
    this.links.set(`${a}>${b}`, options);
    if (bothWays) this.links.set(`${b}>${a}`, options);
  }

  block(a: string, b: string): void {
    this.blocked.add(`${a}>${b}`);
    this.blocked.add(`${b}>${a}`);
  }

  unblock(a: string, b: string): void {
    this.blocked.delete(`${a}>${b}`);
    this.blocked.delete(`${b}>${a}`);
  }

  /** Cuts every link between `side` and `other` (default: every other known address). */
  partition(side: readonly string[], other?: readonly string[]): void {
    const rest = other ?? [...this.handlers.keys()].filter((a) => !side.includes(a));
    for (const a of side) for (const b of rest) this.block(a, b);
  }

  /** Restores every blocked link. */
  heal(): void {
    this.blocked.clear();
  }

  /** Stops the node's processing; with `forMs`, thaws it automatically after that long. */
  freeze(address: string, forMs?: number): void {
    this.gate(address).frozen = true;
    if (forMs !== undefined) this.clock.setTimeout(() => this.thaw(address), forMs);
  }

  /** Resumes the node: everything that piled up runs now, in order. */
  thaw(address: string): void {
    this.gate(address).thaw();
  }

  stats(address: string): NetworkStats {
    return { ...this.statsFor(address) };
  }

  private send(from: string, to: Destination, msg: MembershipMessage): void {
    const s = this.statsFor(from);
    s.sent++;
    this.totals.sent++;
    const link = this.links.get(`${from}>${to.address}`) ?? {};
    const dropRate = link.dropRate ?? this.options.dropRate ?? 0;
    if (this.blocked.has(`${from}>${to.address}`) || (dropRate > 0 && this.random() < dropRate)) {
      s.dropped++;
      this.totals.dropped++;
      return;
    }
    const jitter = this.options.jitterMs ? this.random() * this.options.jitterMs : 0;
    const delay = (link.delayMs ?? this.options.delayMs ?? 1) + jitter;
    const copy = structuredClone(msg);
    this.clock.setTimeout(() => {
      const handler = this.handlers.get(to.address);
      if (!handler) {
        s.dropped++;
        this.totals.dropped++;
        return;
      }
      s.delivered++;
      this.totals.delivered++;
      this.gate(to.address).run(() => {
        // A node that crashed while frozen never processes its backlog.
        if (this.handlers.get(to.address) === handler) handler(from, copy);
      });
    }, delay);
  }

  private gate(address: string): NodeGate {
    let g = this.gates.get(address);
    if (!g) {
      g = new NodeGate();
      this.gates.set(address, g);
    }
    return g;
  }

  private statsFor(address: string): NetworkStats {
    let s = this.perNode.get(address);
    if (!s) {
      s = { sent: 0, delivered: 0, dropped: 0 };
      this.perNode.set(address, s);
    }
    return s;
  }
}

export interface SimNode {
  id: string;
  address: string;
  membership: Membership;
  /** Every event this node emitted, in order. */
  events: MembershipEvent[];
}

export interface SimulationOptions {
  seed?: number;
  config?: Partial<MembershipConfig>;
  network?: Omit<NetworkOptions, "random">;
}

/** A cluster on one fake clock and one in-memory network. */
export class Simulation {
  readonly clock = new FakeClock(0);
  readonly network: InMemoryNetwork;
  readonly nodes: SimNode[] = [];
  private readonly seed: number;
  private counter = 0;

  constructor(private readonly options: SimulationOptions = {}) {
    this.seed = options.seed ?? 1;
    this.network = new InMemoryNetwork(this.clock, { ...options.network, random: seededRandom(this.seed) });
  }

  /** Creates (and registers) a node; `id` defaults to node-<n>, its address to <id>:7946. */
  addNode(opts: { id?: string; meta?: Record<string, string>; initialIncarnation?: number } = {}): SimNode {
    const n = this.counter++;
    const id = opts.id ?? `node-${n}`;
    const address = `${id}:7946`;
    const membership = new Membership({
      id,
      address,
      meta: opts.meta,
      initialIncarnation: opts.initialIncarnation,
      config: this.options.config,
      clock: this.network.clockFor(address),
      transport: this.network.transportFor(address),
      random: seededRandom(this.seed * 1000 + n + 1),
    });
    const node: SimNode = { id, address, membership, events: [] };
    membership.onEvent((e) => node.events.push(e));
    this.network.register(address, (from, msg) => membership.handle(from, msg));
    // A restarted node replaces its previous life in the list.
    const old = this.nodes.findIndex((x) => x.id === id);
    if (old >= 0) this.nodes.splice(old, 1, node);
    else this.nodes.push(node);
    return node;
  }

  /** Starts `count` nodes that all join through the first one. */
  async startCluster(count: number): Promise<SimNode[]> {
    const nodes = Array.from({ length: count }, () => this.addNode());
    const [seed, ...rest] = nodes;
    seed!.membership.start();
    let settled = 0;
    const joins = rest.map((n) => n.membership.join([{ address: seed!.address }]).finally(() => settled++));
    // The promises settle on fake time: keep it moving (a lost sync resolves at its timeout).
    for (
      let waited = 0;
      settled < joins.length && waited <= seed!.membership.config.syncTimeoutMs;
      waited += 10
    ) {
      this.clock.advance(10);
      await Promise.resolve();
    }
    await Promise.all(joins);
    return nodes;
  }

  /** Hard crash: no goodbye, no more messages either way. */
  kill(node: SimNode): void {
    node.membership.stop();
    this.network.unregister(node.address);
  }

  /** The state `observer` has for `subject`, or undefined when it has no record. */
  stateOf(observer: SimNode, subject: SimNode): MemberState | undefined {
    return observer.membership.member(subject.id)?.state;
  }

  /** Whether every node in `observers` sees every node in `subjects` in `state`. */
  allSee(observers: readonly SimNode[], subjects: readonly SimNode[], state: MemberState): boolean {
    return observers.every((o) => subjects.every((s) => o === s || this.stateOf(o, s) === state));
  }

  /**
   * Advances time in `stepMs` steps until `done()` holds; returns the time taken. Throws after
   * `maxMs` so a test cannot spin forever.
   */
  runUntil(done: () => boolean, maxMs: number, stepMs = 50): number {
    const start = this.clock.now();
    while (!done()) {
      if (this.clock.now() - start >= maxMs) {
        throw new Error(`simulation: condition not met within ${maxMs} ms`);
      }
      this.clock.advance(stepMs);
    }
    return this.clock.now() - start;
  }
}
