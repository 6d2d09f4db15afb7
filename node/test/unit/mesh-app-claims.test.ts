import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import { ClaimCheck, type ClaimWatch, judgeClaim, proofOf } from "../../src/mesh/app-claims.js";
import { verifyConnectProof } from "../../src/protocol/index.js";
import { bareEntry, flipped, provenEntry } from "../support/frames.js";

/** Directory claims: taken as they come unless they would move an app this node acts on. */

const ROGUE = Identity.generate().id;
const HONEST = Identity.generate().id;

/** A node where `local` apps are connected (since the given time) and `followed` ones are in its chats. */
function watching(local: Record<string, number> = {}, followed: string[] = []): ClaimWatch {
  return { localSince: (appId) => local[appId], follows: (appId) => followed.includes(appId) };
}

describe("judgeClaim", () => {
  it("takes a claim about an app nothing here acts on, proof or not, without checking it", () => {
    const app = Identity.generate();
    const watch = watching();
    expect(judgeClaim(ROGUE, bareEntry(app.id, 5000), watch)).toEqual({ kind: "take" });
    const forged = { ...provenEntry(app, HONEST, 5000), signature: new Uint8Array(64) };
    expect(judgeClaim(ROGUE, forged, watch)).toEqual({ kind: "take" });
  });

  it("refuses a claim that an app connected here moved, without the app's Connect", () => {
    const app = Identity.generate();
    const verdict = judgeClaim(ROGUE, bareEntry(app.id, 2000), watching({ [app.id]: 1000 }));
    expect(verdict).toMatchObject({ kind: "refused" });
    expect(verdict.kind === "refused" && verdict.reason).toContain("without the app's Connect");
  });

  it("refuses a Connect the app signed for another node, one signed with another key, and a tampered one", () => {
    const app = Identity.generate();
    const watch = watching({ [app.id]: 1000 });
    // Genuine, but to the honest node: it proves nothing about the rogue.
    expect(judgeClaim(ROGUE, provenEntry(app, HONEST, 2000), watch).kind).toBe("refused");
    // The rogue signs with its own key, presented as the app's.
    const rogue = Identity.generate();
    const ownKey = { ...provenEntry(rogue, ROGUE, 2000), appId: app.id };
    expect(judgeClaim(ROGUE, ownKey, watch).kind).toBe("refused");
    // The app's key, with a signature that does not verify; and a moved timestamp.
    const genuine = provenEntry(app, ROGUE, 2000);
    expect(judgeClaim(ROGUE, { ...genuine, signature: flipped(genuine.signature) }, watch).kind).toBe(
      "refused",
    );
    expect(judgeClaim(ROGUE, { ...genuine, connectedAtMs: 3000 }, watch).kind).toBe("refused");
  });

  it("takes a proven move: the app's Connect to the claiming node, newer than its connect here", () => {
    const app = Identity.generate();
    const entry = provenEntry(app, HONEST, 2000);
    const verdict = judgeClaim(HONEST, entry, watching({ [app.id]: 1000 }));
    expect(verdict).toEqual({ kind: "moved", proof: proofOf(HONEST, entry) });
    expect(verdict.kind === "moved" && verifyConnectProof(app.id, verdict.proof)).toBe(true);
  });

  it("moves nothing on a Connect older than (or as old as) the app's connect here: a replay is old news", () => {
    const app = Identity.generate();
    // The app once connected to the rogue, then came here.
    const old = provenEntry(app, ROGUE, 1000);
    expect(judgeClaim(ROGUE, old, watching({ [app.id]: 1500 }))).toEqual({ kind: "take" });
    expect(judgeClaim(ROGUE, old, watching({ [app.id]: 1000 }))).toEqual({ kind: "take" });
    // Before it came here, the same Connect was news.
    expect(judgeClaim(ROGUE, old, watching({ [app.id]: 999 })).kind).toBe("moved");
  });

  it("holds claims about the apps its chats follow to the same proof", () => {
    const app = Identity.generate();
    const watch = watching({}, [app.id]);
    expect(judgeClaim(ROGUE, bareEntry(app.id, 2000), watch).kind).toBe("refused");
    expect(judgeClaim(ROGUE, provenEntry(app, HONEST, 2000), watch).kind).toBe("refused");
    expect(judgeClaim(HONEST, provenEntry(app, HONEST, 2000), watch).kind).toBe("moved");
  });
});

describe("ClaimCheck", () => {
  it("collects proven moves and refusals as the directory admits entries", () => {
    const [here, followed, other] = [Identity.generate(), Identity.generate(), Identity.generate()];
    const claims = new ClaimCheck(HONEST, watching({ [here.id]: 1000 }, [followed.id]));
    expect(claims.admit(provenEntry(here, HONEST, 2000))).toBe(true);
    expect(claims.admit(provenEntry(followed, HONEST, 2000))).toBe(true);
    expect(claims.admit(bareEntry(other.id, 2000))).toBe(true);
    expect(claims.moved.map((m) => m.appId)).toEqual([here.id, followed.id]);
    expect(claims.refusals).toEqual([]);
  });

  it("after one refused claim, refuses the sender's later claims about watched apps unchecked", () => {
    const [a, b, unwatched] = [Identity.generate(), Identity.generate(), Identity.generate()];
    const claims = new ClaimCheck(ROGUE, watching({ [a.id]: 1000, [b.id]: 1000 }));
    expect(claims.admit(bareEntry(a.id, 2000))).toBe(false);
    // Even a valid-looking one: the sender already lied in this message.
    expect(claims.admit(provenEntry(b, ROGUE, 2000))).toBe(false);
    expect(claims.refusals[1]).toContain("not checked");
    // Claims nothing here acts on are still taken.
    expect(claims.admit(bareEntry(unwatched.id, 2000))).toBe(true);
    expect(claims.moved).toEqual([]);
    expect(claims.refusals).toHaveLength(2);
  });
});
