import type { approuter } from "@hermes/proto";
import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import { judgeReplaced, type OwnConnect } from "../../src/sdk/replaced.js";
import { flipped, proofFor } from "../support/frames.js";

/** When a REPLACED session end makes the SDK stop, and when it only reconnects. */

const app = Identity.generate();
const NODE = Identity.generate().id;
const OTHER_NODE = Identity.generate().id;

/** As SessionClosed.replaced_by carries it: the app's Connect without its key. */
function shown(identity: Identity, nodeId: string, timestampMs: number): approuter.ConnectProof {
  const { nonce, signature } = proofFor(identity, nodeId, timestampMs);
  return { nodeId, nonce, timestampMs, signature };
}

/** The Connects this process made: its current session's at `sessionAtMs`. */
function own(sessionAtMs: number, ...earlier: approuter.ConnectProof[]): OwnConnect[] {
  const session = shown(app, NODE, sessionAtMs);
  return [...earlier, session].map((c) => ({ signature: c.signature, timestampMs: c.timestampMs }));
}

describe("judgeReplaced", () => {
  it("stops when another holder of its key connected after this session", () => {
    const theirs = shown(app, OTHER_NODE, 2000);
    expect(judgeReplaced(theirs, app, own(1000))).toEqual({ kind: "taken_over", nodeId: OTHER_NODE });
    // On the same node, in the same millisecond: still the other process.
    expect(judgeReplaced(shown(app, NODE, 1000), app, own(1000)).kind).toBe("taken_over");
  });

  it("reconnects without a proof (a node that does not send one)", () => {
    expect(judgeReplaced(undefined, app, own(1000))).toEqual({
      kind: "reconnect",
      why: "replaced without proof",
    });
  });

  it("reconnects on a Connect its key did not sign: another app's, tampered, or moved in time", () => {
    const stranger = shown(Identity.generate(), OTHER_NODE, 2000);
    expect(judgeReplaced(stranger, app, own(1000)).kind).toBe("reconnect");
    const theirs = shown(app, OTHER_NODE, 2000);
    expect(judgeReplaced({ ...theirs, signature: flipped(theirs.signature) }, app, own(1000)).kind).toBe(
      "reconnect",
    );
    expect(judgeReplaced({ ...theirs, timestampMs: 3000 }, app, own(1000)).kind).toBe("reconnect");
    expect(judgeReplaced({ ...theirs, nodeId: NODE }, app, own(1000)).kind).toBe("reconnect");
  });

  it("reconnects on a Connect this process made itself, and on one older than this session", () => {
    const leftBehind = shown(app, OTHER_NODE, 2000);
    expect(judgeReplaced(leftBehind, app, own(3000, leftBehind))).toMatchObject({
      kind: "reconnect",
      why: "replaced by a Connect this process made earlier",
    });
    // Another process's Connect from before this session (a replay of an old one).
    expect(judgeReplaced(shown(app, OTHER_NODE, 999), app, own(1000))).toMatchObject({
      kind: "reconnect",
      why: "replaced by a Connect older than this session",
    });
  });
});
