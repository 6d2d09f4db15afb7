/**
 * What the chaos harness and its app runner processes say to each other over Node's IPC channel
 * (JSON). Every command carries an id; the runner answers each with one Reply of that id.
 * Times are wall-clock milliseconds (Date.now()), comparable across the harness, the runners
 * and the nodes' log lines.
 */

/** a→b or b→a: the two directions of a pair's conversation. */
export type Way = "ab" | "ba";
export const WAYS: readonly Way[] = ["ab", "ba"];

/** Two apps that keep one chat going: a on node `a`, b on node `b` (indexes into the mesh). */
export interface PairSpec {
  id: string;
  a: number;
  b: number;
}

export interface Traffic {
  /** New messages per second in each direction of each pair. */
  messagesPerSecond: number;
  /** A direction stops starting messages while this many of its sends are unsettled. */
  maxInFlight: number;
}

export type Command =
  | { id: number; kind: "start"; appEndpoints: string[]; pairs: PairSpec[]; traffic: Traffic }
  /** Forget the last round's sends, count afresh, and (re)start sending. */
  | { id: number; kind: "round" }
  /** Stop starting new messages (what is in flight goes on). */
  | { id: number; kind: "pause" }
  /** Wait until every send of the round has settled, at most timeoutMs. */
  | { id: number; kind: "settle"; timeoutMs: number }
  | { id: number; kind: "tally" }
  | { id: number; kind: "status" }
  /** Give these pairs a new chat (their old one is deleted), within timeoutMs. */
  | { id: number; kind: "renew"; pairs: string[]; timeoutMs: number }
  | { id: number; kind: "stop" };

export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

/**
 * Sent by a runner every second besides its replies: it is alive, the longest its event loop
 * was held up since the last beat (what a command that went unanswered waited behind), and the
 * CPU it has used in all.
 */
export interface Beat {
  beat: { loopStallMs: number; cpuMs: number };
}

export interface ReplyValue {
  start: null;
  round: null;
  pause: null;
  settle: { settled: boolean };
  tally: RoundTally;
  status: PairStatus[];
  renew: { renewed: string[]; failed: string[] };
  stop: null;
}

export interface PairStatus {
  pair: string;
  /** Both apps hold a live chat with each other. */
  ready: boolean;
  /** When each direction last delivered a new message (0: never). */
  lastDeliveryAt: Record<Way, number>;
  /** The node each app has a session with now ("" while it has none): apps move on failover. */
  nodeIds: { a: string; b: string };
}

/** One direction's numbers for the messages it started this round. */
export interface WayTally {
  pair: string;
  way: Way;
  sent: number;
  /** send() resolved: the peer app acknowledged it. */
  acked: number;
  /** Sent this round and received by the peer app (at least once). */
  delivered: number;
  /** Acked but never delivered: the defect that must never happen. */
  lost: number;
  /** Delivered again after it had been delivered (counted when seen, in any round). */
  duplicated: number;
  /** Delivered after a later message of the same direction. */
  reordered: number;
  /** Failed the hash, or not this direction's message at all. */
  corrupted: number;
  /** send() rejected, by error. */
  rejected: Record<string, number>;
  /** Rejected, yet the peer app got it: an app that retried would deliver it twice. */
  rejectedDelivered: number;
  /** Neither resolved nor rejected when the round's sends were settled. */
  unsettled: number;
  /** When each new message was delivered this round, in order. */
  deliveries: number[];
}

/** Something an app was told, as the SDK surfaced it. */
export interface AppEvent {
  /** `<pair>.a` or `<pair>.b`. */
  app: string;
  at: number;
  /**
   * "unreachable": the SDK gave up finding a node for now; "error": the SDK's 'error' event;
   * "start-failed": a's new chat could not be opened (yet).
   */
  kind:
    | "disconnected"
    | "connected"
    | "unreachable"
    | "chat-ended"
    | "send-rejected"
    | "error"
    | "start-failed";
  detail: string;
}

export interface RoundTally {
  ways: WayTally[];
  events: AppEvent[];
}
