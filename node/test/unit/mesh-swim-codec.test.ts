import { nodemesh } from "@hermes/proto";
import { describe, expect, it } from "vitest";
import { MEMBER_STATES, type MembershipMessage, type MemberUpdate } from "../../src/mesh/membership/index.js";
import {
  decodeMember,
  decodeSwim,
  encodeMember,
  encodeSwim,
  SwimDecodeError,
} from "../../src/mesh/swim-codec.js";

const A = "a".repeat(32);
const B = "b".repeat(32);
const C = "c".repeat(32);

const updates: Record<MemberUpdate["type"], MemberUpdate> = {
  alive: {
    type: "alive",
    id: A,
    address: "10.0.0.1:7401",
    incarnation: 1_700_000_001,
    meta: { app: "10.0.0.1:7400", version: "0.1.0" },
  },
  suspect: { type: "suspect", id: B, incarnation: 3, from: C },
  dead: { type: "dead", id: C, incarnation: 4, from: C },
};
const allUpdates = Object.values(updates);

const members = MEMBER_STATES.map((state, i) => ({
  id: `${"m".repeat(31)}${i}`,
  address: `10.0.0.${i}:7401`,
  incarnation: i * 10,
  state,
  meta: { app: `10.0.0.${i}:7400` },
}));

/** One message of every type; each probe message carries every kind of update. */
const messages: MembershipMessage[] = [
  { type: "ping", seq: 1, target: B, source: A, updates: allUpdates },
  { type: "ack", seq: 2, updates: allUpdates },
  { type: "nack", seq: 3, updates: [updates.suspect] },
  { type: "ping-req", seq: 4, target: C, targetAddress: "10.0.0.3:7401", updates: allUpdates },
  { type: "sync", seq: 5, join: true, members },
  { type: "sync", seq: 6, join: false, members: [] },
  { type: "sync-reply", seq: 7, members },
  { type: "gossip", updates: allUpdates },
  { type: "ping", seq: 8, target: B, source: A, updates: [] },
];

/** Through the codec and through protobuf bytes, as the wire carries it. */
function overTheWire(msg: MembershipMessage): MembershipMessage {
  const bytes = nodemesh.SwimMessage.encode(encodeSwim(msg)).finish();
  return decodeSwim(nodemesh.SwimMessage.decode(bytes));
}

describe("SWIM codec", () => {
  it.each(messages.map((m) => [`${m.type}${"join" in m ? ` join=${m.join}` : ""}`, m] as const))(
    "round-trips %s",
    (_name, msg) => {
      expect(overTheWire(msg)).toEqual(msg);
      expect(decodeSwim(encodeSwim(msg))).toEqual(msg);
    },
  );

  it.each(allUpdates.map((u) => [u.type, u] as const))("round-trips a %s update", (_type, update) => {
    const back = overTheWire({ type: "gossip", updates: [update] });
    expect(back).toEqual({ type: "gossip", updates: [update] });
  });

  it.each(members.map((m) => [m.state, m] as const))("round-trips a %s member", (_state, member) => {
    const bytes = nodemesh.Member.encode(encodeMember(member)).finish();
    expect(decodeMember(nodemesh.Member.decode(bytes))).toEqual(member);
  });

  it("maps every message type to its own wire kind", () => {
    const kinds = messages.map((m) => encodeSwim(m).kind);
    const { SwimMessage_Kind: Kind } = nodemesh;
    expect(new Set(kinds)).toEqual(
      new Set([
        Kind.KIND_PING,
        Kind.KIND_ACK,
        Kind.KIND_NACK,
        Kind.KIND_PING_REQ,
        Kind.KIND_SYNC,
        Kind.KIND_SYNC_REPLY,
        Kind.KIND_GOSSIP,
      ]),
    );
  });

  it("decodes into fresh objects: metadata from the wire is copied, not shared", () => {
    const wire = encodeSwim({ type: "gossip", updates: [updates.alive] });
    const decoded = decodeSwim(wire);
    const update = decoded.type === "gossip" ? decoded.updates[0] : undefined;
    expect(update?.type).toBe("alive");
    if (update?.type === "alive") update.meta.app = "changed";
    expect(wire.updates[0]!.metadata.app).toBe("10.0.0.1:7400");
  });

  const base: nodemesh.SwimMessage = {
    kind: nodemesh.SwimMessage_Kind.KIND_GOSSIP,
    seq: 0,
    target: "",
    source: "",
    targetAddress: "",
    join: false,
    updates: [],
    members: [],
  };

  it.each([
    ["unspecified", nodemesh.SwimMessage_Kind.KIND_UNSPECIFIED],
    ["unknown (99)", 99 as nodemesh.SwimMessage_Kind],
    ["unrecognized", nodemesh.SwimMessage_Kind.UNRECOGNIZED],
  ])("refuses a message of %s kind with SwimDecodeError", (_name, kind) => {
    expect(() => decodeSwim({ ...base, kind })).toThrow(SwimDecodeError);
    expect(() => decodeSwim({ ...base, kind })).toThrow(/unknown swim message kind/);
  });

  it.each([
    ["unspecified", nodemesh.MemberUpdate_Kind.KIND_UNSPECIFIED],
    ["unknown (42)", 42 as nodemesh.MemberUpdate_Kind],
  ])("refuses an update of %s kind with SwimDecodeError", (_name, kind) => {
    const update: nodemesh.MemberUpdate = {
      kind,
      nodeId: A,
      incarnation: 1,
      meshEndpoint: "",
      metadata: {},
      from: "",
    };
    for (const k of [
      nodemesh.SwimMessage_Kind.KIND_PING,
      nodemesh.SwimMessage_Kind.KIND_ACK,
      nodemesh.SwimMessage_Kind.KIND_GOSSIP,
    ]) {
      expect(() => decodeSwim({ ...base, kind: k, updates: [update] })).toThrow(SwimDecodeError);
    }
  });

  it("refuses a member of unknown state with SwimDecodeError, in a message and alone", () => {
    const member: nodemesh.Member = {
      nodeId: A,
      meshEndpoint: "10.0.0.1:7401",
      incarnation: 1,
      state: nodemesh.MemberState.MEMBER_STATE_UNSPECIFIED,
      metadata: {},
    };
    expect(() => decodeMember(member)).toThrow(SwimDecodeError);
    expect(() => decodeMember({ ...member, state: 17 as nodemesh.MemberState })).toThrow(
      /unknown member state/,
    );
    expect(() =>
      decodeSwim({ ...base, kind: nodemesh.SwimMessage_Kind.KIND_SYNC_REPLY, members: [member] }),
    ).toThrow(SwimDecodeError);
  });
});
