import type { Member, MemberRecord, MemberState, MemberUpdate } from "./types.js";

/**
 * What to do with an update, given what we know. Pure: the caller performs the side effects
 * (timers, rebroadcast, events).
 */
export type Decision =
  | { kind: "ignore"; reason: IgnoreReason }
  /** The update accuses or impersonates us: answer with an incarnation above `accused`. */
  | { kind: "refute"; accused: number }
  /** Another independent suspicion of a member we already suspect (Lifeguard). */
  | { kind: "confirm" }
  /** Replace the record (or add it when `current` was undefined). */
  | { kind: "apply"; next: Member };

export type IgnoreReason =
  /** suspect/dead about a member we never heard of: we could not probe it anyway. */
  | "unknown"
  /** Incarnation too low to override what we have. */
  | "stale"
  /** suspect about a member already dead or left. */
  | "not-alive"
  /** dead/left about a member already dead or left. */
  | "already-dead"
  /** An alive about ourselves that matches what we are. */
  | "same"
  /** News about ourselves after we left: we stay gone. */
  | "leaving";

export interface DecideContext {
  selfId: string;
  /** We have announced our own leave. */
  leaving: boolean;
  now: number;
}

export const isLive = (state: MemberState): boolean => state === "alive" || state === "suspect";

/** The member an alive update describes, alive since `since`. */
function aliveMember(u: Extract<MemberUpdate, { type: "alive" }>, since: number): Member {
  return {
    id: u.id,
    address: u.address,
    incarnation: u.incarnation,
    state: "alive",
    stateChangedAt: since,
    meta: { ...u.meta },
  };
}

/**
 * memberlist's precedence rules:
 * - alive overrides anything only with a strictly higher incarnation (a member raises its own
 *   incarnation to refute, rejoin or change metadata, so equal means "nothing new");
 * - suspect overrides alive with an equal or higher incarnation, and confirms an existing
 *   suspicion;
 * - dead (and left, a dead sent by the member itself) override alive and suspect with an equal
 *   or higher incarnation;
 * - news that we are suspect or dead, or an alive about us that is not what we are, is refuted
 *   unless we are leaving.
 */
export function decide(current: Member | undefined, u: MemberUpdate, ctx: DecideContext): Decision {
  const self = u.id === ctx.selfId;
  switch (u.type) {
    case "alive": {
      if (self && ctx.leaving) return { kind: "ignore", reason: "leaving" };
      if (!current) return { kind: "apply", next: aliveMember(u, ctx.now) };
      if (u.incarnation < current.incarnation) return { kind: "ignore", reason: "stale" };
      if (self) {
        // An alive about us can only come from a previous life of ours (restart with a lower
        // or equal incarnation but another address or metadata): out-bid it.
        if (
          u.incarnation === current.incarnation &&
          u.address === current.address &&
          sameMeta(u.meta, current.meta)
        ) {
          return { kind: "ignore", reason: "same" };
        }
        return { kind: "refute", accused: u.incarnation };
      }
      if (u.incarnation === current.incarnation) return { kind: "ignore", reason: "stale" };
      return {
        kind: "apply",
        next: aliveMember(u, current.state === "alive" ? current.stateChangedAt : ctx.now),
      };
    }
    case "suspect": {
      if (!current) return { kind: "ignore", reason: "unknown" };
      if (u.incarnation < current.incarnation) return { kind: "ignore", reason: "stale" };
      if (current.state === "suspect") return { kind: "confirm" };
      if (current.state !== "alive") return { kind: "ignore", reason: "not-alive" };
      if (self) return { kind: "refute", accused: u.incarnation };
      return {
        kind: "apply",
        next: { ...current, incarnation: u.incarnation, state: "suspect", stateChangedAt: ctx.now },
      };
    }
    case "dead": {
      if (!current) return { kind: "ignore", reason: "unknown" };
      if (u.incarnation < current.incarnation) return { kind: "ignore", reason: "stale" };
      if (!isLive(current.state)) return { kind: "ignore", reason: "already-dead" };
      const state: MemberState = u.from === u.id ? "left" : "dead";
      if (self && !(ctx.leaving && state === "left")) return { kind: "refute", accused: u.incarnation };
      return {
        kind: "apply",
        next: { ...current, incarnation: u.incarnation, state, stateChangedAt: ctx.now },
      };
    }
  }
}

/**
 * How a full-state record from a peer is replayed as an update (memberlist mergeState). A peer's
 * "dead" only makes us suspect: we probe it ourselves before believing it, and the member gets
 * a chance to refute.
 */
export function recordToUpdate(r: MemberRecord, selfId: string): MemberUpdate {
  switch (r.state) {
    case "alive":
      return { type: "alive", id: r.id, address: r.address, incarnation: r.incarnation, meta: r.meta };
    case "left":
      return { type: "dead", id: r.id, incarnation: r.incarnation, from: r.id };
    case "dead":
    case "suspect":
      return { type: "suspect", id: r.id, incarnation: r.incarnation, from: selfId };
  }
}

export function aliveUpdate(m: Member): MemberUpdate {
  return { type: "alive", id: m.id, address: m.address, incarnation: m.incarnation, meta: { ...m.meta } };
}

export function toRecord(m: Member): MemberRecord {
  return { id: m.id, address: m.address, incarnation: m.incarnation, state: m.state, meta: { ...m.meta } };
}

export function sameMeta(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/** The member table, keyed by ID. Holds immutable records, so handing them out is safe. */
export class MemberList {
  private readonly byId = new Map<string, Member>();

  get(id: string): Member | undefined {
    return this.byId.get(id);
  }

  set(member: Member): void {
    this.byId.set(member.id, member);
  }

  delete(id: string): boolean {
    return this.byId.delete(id);
  }

  get size(): number {
    return this.byId.size;
  }

  all(): Member[] {
    return [...this.byId.values()];
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  /** Alive and suspect members, the local one included: the N of the log N formulas. */
  liveCount(): number {
    let n = 0;
    for (const m of this.byId.values()) if (isLive(m.state)) n++;
    return n;
  }

  countByState(): Record<MemberState, number> {
    const counts: Record<MemberState, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
    for (const m of this.byId.values()) counts[m.state]++;
    return counts;
  }
}
