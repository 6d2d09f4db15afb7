import { describe, expect, it } from "vitest";
import { decideLease, microTime } from "../../src/kube/leader.js";

const T = Date.parse("2026-06-01T00:00:00Z");

describe("microTime", () => {
  it("has six fractional digits, as the API's MicroTime", () => {
    expect(microTime(T + 123)).toBe("2026-06-01T00:00:00.123000Z");
  });
});

describe("decideLease", () => {
  it("takes a lease nobody holds", () => {
    const d = decideLease(undefined, "me", T, 15, undefined);
    expect(d).toMatchObject({
      action: "write",
      spec: {
        holderIdentity: "me",
        leaseDurationSeconds: 15,
        acquireTime: microTime(T),
        renewTime: microTime(T),
        leaseTransitions: 0,
      },
    });
  });

  it("renews its own lease, keeping the acquire time and transitions", () => {
    const mine = {
      holderIdentity: "me",
      leaseDurationSeconds: 15,
      acquireTime: "A",
      renewTime: "R",
      leaseTransitions: 2,
    };
    expect(decideLease(mine, "me", T, 15, undefined)).toMatchObject({
      action: "write",
      spec: { holderIdentity: "me", acquireTime: "A", renewTime: microTime(T), leaseTransitions: 2 },
    });
  });

  it("waits while another holder's record keeps changing, judged by this candidate's own clock", () => {
    const theirs = {
      holderIdentity: "other",
      leaseDurationSeconds: 15,
      renewTime: "2020-01-01T00:00:00.000000Z",
      leaseTransitions: 1,
    };
    // The renewTime is years old by our clock, but we only just saw it: clock skew must not matter.
    const first = decideLease(theirs, "me", T, 15, undefined);
    expect(first.action).toBe("wait");
    expect(decideLease(theirs, "me", T + 14_000, 15, first.observation).action).toBe("wait");
    const renewed = { ...theirs, renewTime: "later" };
    const seen = decideLease(renewed, "me", T + 20_000, 15, first.observation);
    expect(seen).toMatchObject({ action: "wait", observation: { atMs: T + 20_000 } });
  });

  it("takes over a lease whose holder stopped renewing for a lease duration", () => {
    const theirs = { holderIdentity: "other", leaseDurationSeconds: 15, renewTime: "R", leaseTransitions: 1 };
    const first = decideLease(theirs, "me", T, 15, undefined);
    expect(decideLease(theirs, "me", T + 15_001, 15, first.observation)).toMatchObject({
      action: "write",
      spec: { holderIdentity: "me", acquireTime: microTime(T + 15_001), leaseTransitions: 2 },
    });
  });

  it("takes a released lease at once", () => {
    const released = { holderIdentity: "", leaseDurationSeconds: 1, renewTime: "R", leaseTransitions: 3 };
    expect(decideLease(released, "me", T, 15, undefined)).toMatchObject({
      action: "write",
      spec: { holderIdentity: "me", leaseTransitions: 3 },
    });
  });
});
