import { isIPv4, isIPv6 } from "node:net";
import type { Clock } from "../utils/clock.js";
import type { DescriptorBudget } from "./descriptors.js";

/** Why a connection was not taken. */
export type AdmissionRefusal = "max_connections" | "per_address" | "fd_reserve";

/** The bounds of one gRPC port. */
export interface ConnectionBounds {
  /** Connections open at once. */
  maxConnections: number;
  /** Connections open at once from one remote address (IPv6: one /64). */
  maxConnectionsPerAddress: number;
  /** A connection that carries no call for this long is closed (its descriptor too). */
  idleMs: number;
}

export interface ConnectionTableComponents {
  clock: Clock;
  descriptors: DescriptorBudget;
  /** The connection `id` carried no call for `idleMs`: close it, then call `removed(id)`. */
  onIdle: (id: string) => void;
}

interface Entry {
  group: string;
  calls: number;
  cancelIdle: (() => void) | undefined;
}

/**
 * The connections of one port: which may be accepted (total, per address, within the node's
 * descriptor budget) and which have carried no call for `idleMs`. It does no I/O: the shell
 * (server.ts) accepts, reports calls starting and ending, and closes what `onIdle` names.
 */
export class ConnectionTable {
  private readonly entries = new Map<string, Entry>();
  private readonly perGroup = new Map<string, number>();

  constructor(
    private readonly components: ConnectionTableComponents,
    private readonly bounds: ConnectionBounds,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Verdict for a socket just accepted from `address`; an admitted one is tracked as `id`, idle from now. */
  admit(id: string, address: string): { ok: true } | { ok: false; reason: AdmissionRefusal } {
    const group = addressGroup(address);
    const fromGroup = this.perGroup.get(group) ?? 0;
    if (this.entries.size >= this.bounds.maxConnections) return { ok: false, reason: "max_connections" };
    if (fromGroup >= this.bounds.maxConnectionsPerAddress) return { ok: false, reason: "per_address" };
    if (!this.components.descriptors.admit()) return { ok: false, reason: "fd_reserve" };
    const entry: Entry = { group, calls: 0, cancelIdle: undefined };
    this.entries.set(id, entry);
    this.perGroup.set(group, fromGroup + 1);
    this.armIdle(id, entry);
    return { ok: true };
  }

  callStarted(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.calls++;
    entry.cancelIdle?.();
    entry.cancelIdle = undefined;
  }

  callEnded(id: string): void {
    const entry = this.entries.get(id);
    if (!entry || entry.calls === 0) return;
    entry.calls--;
    if (entry.calls === 0) this.armIdle(id, entry);
  }

  /** The connection is closed, whoever closed it. */
  removed(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.cancelIdle?.();
    this.entries.delete(id);
    const left = (this.perGroup.get(entry.group) ?? 1) - 1;
    if (left > 0) this.perGroup.set(entry.group, left);
    else this.perGroup.delete(entry.group);
    this.components.descriptors.released();
  }

  private armIdle(id: string, entry: Entry): void {
    entry.cancelIdle = this.components.clock.setTimeout(() => {
      entry.cancelIdle = undefined;
      if (this.entries.get(id) === entry && entry.calls === 0) this.components.onIdle(id);
    }, this.bounds.idleMs);
  }
}

/**
 * What the per-address bound counts by: an IPv4 address (IPv4-mapped IPv6 included), or an
 * IPv6 /64, the smallest block a site is usually given, so that one host cannot step around
 * the bound by rotating through its own addresses.
 */
export function addressGroup(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIPv4(address) || !isIPv6(address)) return address;
  const [head = "", tail = ""] = address.split("%")[0]!.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  // A dotted IPv4 tail (::ffff:0:1.2.3.4) stands for two words.
  const rightWords = right.length + (right.at(-1)?.includes(".") ? 1 : 0);
  const words = address.includes("::")
    ? [...left, ...Array<string>(8 - left.length - rightWords).fill("0"), ...right]
    : left;
  return `${words
    .slice(0, 4)
    .map((w) => Number.parseInt(w, 16).toString(16))
    .join(":")}::/64`;
}
