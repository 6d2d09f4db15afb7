export { Awareness } from "./awareness.js";
export { BroadcastQueue, retransmitLimit } from "./broadcast-queue.js";
export { defaultMembershipConfig, type MembershipConfig, resolveMembershipConfig } from "./config.js";
export { type Decision, decide, type IgnoreReason, isLive, MemberList, toRecord } from "./member-list.js";
export { Membership, type MembershipOptions, pushPullScaleMs } from "./membership.js";
export { Suspicion, type SuspicionOptions, suspicionMinTimeoutMs, suspicionTimeoutMs } from "./suspicion.js";
export {
  type Destination,
  MEMBER_STATES,
  type Member,
  type MemberRecord,
  type MemberState,
  type MembershipCounters,
  type MembershipEvent,
  type MembershipEventType,
  type MembershipListener,
  type MembershipMessage,
  type MembershipMessageType,
  type MembershipTransport,
  type MemberUpdate,
} from "./types.js";
