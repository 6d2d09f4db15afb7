import { nodemesh } from "@hermes/proto";
import type { MemberRecord, MemberState, MembershipMessage, MemberUpdate } from "./membership/index.js";

/** Maps the membership state machine's plain messages to and from their protobuf form. */
const { SwimMessage_Kind: Kind, MemberUpdate_Kind: UpdateKind, MemberState: State } = nodemesh;

const STATE_TO_WIRE: Record<MemberState, nodemesh.MemberState> = {
  alive: State.MEMBER_STATE_ALIVE,
  suspect: State.MEMBER_STATE_SUSPECT,
  dead: State.MEMBER_STATE_DEAD,
  left: State.MEMBER_STATE_LEFT,
};
const STATE_FROM_WIRE = new Map(Object.entries(STATE_TO_WIRE).map(([k, v]) => [v, k as MemberState]));

export class SwimDecodeError extends Error {}

export function encodeSwim(msg: MembershipMessage): nodemesh.SwimMessage {
  const out: nodemesh.SwimMessage = {
    kind: Kind.KIND_UNSPECIFIED,
    seq: 0,
    target: "",
    source: "",
    targetAddress: "",
    join: false,
    updates: [],
    members: [],
  };
  switch (msg.type) {
    case "ping":
      return {
        ...out,
        kind: Kind.KIND_PING,
        seq: msg.seq,
        target: msg.target,
        source: msg.source,
        updates: msg.updates.map(encodeUpdate),
      };
    case "ack":
      return { ...out, kind: Kind.KIND_ACK, seq: msg.seq, updates: msg.updates.map(encodeUpdate) };
    case "nack":
      return { ...out, kind: Kind.KIND_NACK, seq: msg.seq, updates: msg.updates.map(encodeUpdate) };
    case "ping-req":
      return {
        ...out,
        kind: Kind.KIND_PING_REQ,
        seq: msg.seq,
        target: msg.target,
        targetAddress: msg.targetAddress,
        updates: msg.updates.map(encodeUpdate),
      };
    case "sync":
      return {
        ...out,
        kind: Kind.KIND_SYNC,
        seq: msg.seq,
        join: msg.join,
        members: msg.members.map(encodeMember),
      };
    case "sync-reply":
      return { ...out, kind: Kind.KIND_SYNC_REPLY, seq: msg.seq, members: msg.members.map(encodeMember) };
    case "gossip":
      return { ...out, kind: Kind.KIND_GOSSIP, updates: msg.updates.map(encodeUpdate) };
  }
}

export function decodeSwim(m: nodemesh.SwimMessage): MembershipMessage {
  const updates = () => m.updates.map(decodeUpdate);
  switch (m.kind) {
    case Kind.KIND_PING:
      return { type: "ping", seq: m.seq, target: m.target, source: m.source, updates: updates() };
    case Kind.KIND_ACK:
      return { type: "ack", seq: m.seq, updates: updates() };
    case Kind.KIND_NACK:
      return { type: "nack", seq: m.seq, updates: updates() };
    case Kind.KIND_PING_REQ:
      return {
        type: "ping-req",
        seq: m.seq,
        target: m.target,
        targetAddress: m.targetAddress,
        updates: updates(),
      };
    case Kind.KIND_SYNC:
      return { type: "sync", seq: m.seq, join: m.join, members: m.members.map(decodeMember) };
    case Kind.KIND_SYNC_REPLY:
      return { type: "sync-reply", seq: m.seq, members: m.members.map(decodeMember) };
    case Kind.KIND_GOSSIP:
      return { type: "gossip", updates: updates() };
    default:
      throw new SwimDecodeError(`unknown swim message kind ${m.kind}`);
  }
}

function encodeUpdate(u: MemberUpdate): nodemesh.MemberUpdate {
  if (u.type === "alive") {
    return {
      kind: UpdateKind.KIND_ALIVE,
      nodeId: u.id,
      incarnation: u.incarnation,
      meshEndpoint: u.address,
      metadata: u.meta,
      from: "",
    };
  }
  return {
    kind: u.type === "suspect" ? UpdateKind.KIND_SUSPECT : UpdateKind.KIND_DEAD,
    nodeId: u.id,
    incarnation: u.incarnation,
    meshEndpoint: "",
    metadata: {},
    from: u.from,
  };
}

function decodeUpdate(u: nodemesh.MemberUpdate): MemberUpdate {
  switch (u.kind) {
    case UpdateKind.KIND_ALIVE:
      return {
        type: "alive",
        id: u.nodeId,
        address: u.meshEndpoint,
        incarnation: u.incarnation,
        meta: { ...u.metadata },
      };
    case UpdateKind.KIND_SUSPECT:
      return { type: "suspect", id: u.nodeId, incarnation: u.incarnation, from: u.from };
    case UpdateKind.KIND_DEAD:
      return { type: "dead", id: u.nodeId, incarnation: u.incarnation, from: u.from };
    default:
      throw new SwimDecodeError(`unknown member update kind ${u.kind}`);
  }
}

export function encodeMember(m: MemberRecord): nodemesh.Member {
  return {
    nodeId: m.id,
    meshEndpoint: m.address,
    incarnation: m.incarnation,
    state: STATE_TO_WIRE[m.state],
    metadata: m.meta,
  };
}

export function decodeMember(m: nodemesh.Member): MemberRecord {
  const state = STATE_FROM_WIRE.get(m.state);
  if (!state) throw new SwimDecodeError(`unknown member state ${m.state}`);
  return {
    id: m.nodeId,
    address: m.meshEndpoint,
    incarnation: m.incarnation,
    state,
    meta: { ...m.metadata },
  };
}
