/**
 * Shapes shared by the membership state machine and its shell. Plain objects only: the gRPC
 * shell maps them to and from protobuf, so nothing here knows about the wire.
 */

/** A member's state as seen by one node. `left` is a graceful exit, `dead` a detected failure. */
export type MemberState = "alive" | "suspect" | "dead" | "left";

export const MEMBER_STATES: readonly MemberState[] = ["alive", "suspect", "dead", "left"];

/** One row of the member table. Records are immutable: every change replaces the object. */
export interface Member {
  readonly id: string;
  /** The member's mesh endpoint, "host:port". */
  readonly address: string;
  /** Only the member itself raises it (to refute, rejoin or change its metadata). */
  readonly incarnation: number;
  readonly state: MemberState;
  /** Local clock time of the last state change (not of incarnation or metadata changes). */
  readonly stateChangedAt: number;
  /** Opaque to membership (app endpoint, version, zone, ...); carried with alive updates. */
  readonly meta: Readonly<Record<string, string>>;
}

/**
 * A piece of news about one member, gossiped by piggybacking. `dead` with `from === id` is the
 * member announcing its own graceful leave, and is recorded as `left` (as memberlist does).
 */
export type MemberUpdate =
  | {
      type: "alive";
      id: string;
      address: string;
      incarnation: number;
      meta: Record<string, string>;
    }
  | { type: "suspect"; id: string; incarnation: number; from: string }
  | { type: "dead"; id: string; incarnation: number; from: string };

/** A member as exchanged by a full state sync (push-pull). */
export interface MemberRecord {
  id: string;
  address: string;
  incarnation: number;
  state: MemberState;
  meta: Record<string, string>;
}

/**
 * Everything one membership instance sends another. Every probe message piggybacks `updates`.
 * - ping: "are you `target`?" A node answers only pings addressed to its own ID, so a reused
 *   address never acks for somebody else.
 * - ping-req: "ping `target` for me and forward its ack under my `seq`", or a nack when the
 *   target stays silent (Lifeguard: the nack tells the requester its own links work).
 * - sync / sync-reply: full member lists both ways (memberlist's push-pull); `join` marks the
 *   first contact through a seed, which then announces the joiner to every member.
 * - gossip: updates alone: the gossip loop, a seed's announcement of a joiner, and a graceful
 *   leave pushed out before the process exits.
 */
export type MembershipMessage =
  | { type: "ping"; seq: number; target: string; source: string; updates: MemberUpdate[] }
  | { type: "ack"; seq: number; updates: MemberUpdate[] }
  | { type: "nack"; seq: number; updates: MemberUpdate[] }
  | { type: "ping-req"; seq: number; target: string; targetAddress: string; updates: MemberUpdate[] }
  | { type: "sync"; seq: number; join: boolean; members: MemberRecord[] }
  | { type: "sync-reply"; seq: number; members: MemberRecord[] }
  | { type: "gossip"; updates: MemberUpdate[] };

export type MembershipMessageType = MembershipMessage["type"];

/** Where to send: the ID when known (seeds are bare addresses), and the mesh address. */
export interface Destination {
  id?: string;
  address: string;
}

/**
 * Outbound side of the shell. Fire-and-forget: a message that cannot be delivered is simply
 * lost, which the protocol already tolerates. Inbound messages go to `Membership.handle`.
 */
export interface MembershipTransport {
  send(to: Destination, msg: MembershipMessage): void;
}

/** One event per state change of another member; the local member never appears here. */
export type MembershipEvent =
  /** First seen alive, or back alive after dead/left (then `previous` says which). */
  | { type: "memberJoined"; member: Member; previous?: MemberState }
  /** alive ⇄ suspect, or a new address or metadata. */
  | { type: "memberUpdated"; member: Member; previous: MemberState }
  | { type: "memberDead"; member: Member; previous: MemberState }
  | { type: "memberLeft"; member: Member; previous: MemberState }
  /** Removed from the table after deadReclaimMs as dead or left. */
  | { type: "memberReaped"; member: Member };

export type MembershipEventType = MembershipEvent["type"];

export type MembershipListener = (event: MembershipEvent) => void;

/** Monotonic counters for metrics. Byte counts belong to the shell, which sees the encoding. */
export interface MembershipCounters {
  /** Direct pings this node sent as prober. */
  probesSent: number;
  /** ping-req messages sent (one per helper asked). */
  indirectProbesSent: number;
  /** Pings sent on behalf of another node's ping-req. */
  indirectProbesServed: number;
  acksReceived: number;
  nacksReceived: number;
  /** Probes of ours that ended without an ack and raised or confirmed a suspicion. */
  suspicionsRaised: number;
  /** Times this node defended itself with a higher incarnation. */
  refutations: number;
  /** Other members that moved to dead in this node's table. */
  membersDeclaredDead: number;
  membersReaped: number;
  messagesSent: number;
  messagesReceived: number;
  /** Member updates piggybacked on outgoing messages / found on incoming ones. */
  updatesSent: number;
  updatesReceived: number;
  /** Full state syncs sent (join and periodic push-pull). */
  syncsSent: number;
  /** Messages or updates dropped as malformed or addressed to another node. */
  rejected: number;
}
