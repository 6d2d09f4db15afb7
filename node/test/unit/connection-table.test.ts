import { describe, expect, it } from "vitest";
import {
  addressGroup,
  type ConnectionBounds,
  ConnectionTable,
} from "../../src/transport/connection-table.js";
import { DescriptorBudget } from "../../src/transport/descriptors.js";
import { FakeClock } from "../../src/utils/fake-clock.js";

const BOUNDS: ConnectionBounds = { maxConnections: 4, maxConnectionsPerAddress: 2, idleMs: 30_000 };

function table(
  bounds: Partial<ConnectionBounds> = {},
  fds?: { limit: number; reserve: number; open: number },
) {
  const clock = new FakeClock();
  const idle: string[] = [];
  const open = { count: fds?.open ?? 0 };
  const descriptors = new DescriptorBudget(
    { clock, countOpen: () => open.count },
    fds ? { limit: fds.limit, reserve: fds.reserve } : { limit: undefined, reserve: 0 },
  );
  const t = new ConnectionTable(
    { clock, descriptors, onIdle: (id) => idle.push(id) },
    { ...BOUNDS, ...bounds },
  );
  return { t, clock, idle, open };
}

describe("connection admission", () => {
  it("refuses past the per-address bound, and takes the address again once one closes", () => {
    const { t } = table();
    expect(t.admit("a1", "10.0.0.1")).toEqual({ ok: true });
    expect(t.admit("a2", "10.0.0.1")).toEqual({ ok: true });
    expect(t.admit("a3", "10.0.0.1")).toEqual({ ok: false, reason: "per_address" });
    expect(t.admit("b1", "10.0.0.2")).toEqual({ ok: true });
    t.removed("a1");
    t.removed("a1"); // a second report of the same close changes nothing
    expect(t.admit("a3", "10.0.0.1")).toEqual({ ok: true });
    expect(t.admit("a4", "10.0.0.1")).toEqual({ ok: false, reason: "per_address" });
    expect(t.size).toBe(3);
  });

  it("refuses past the total bound whatever the address", () => {
    const { t } = table();
    for (let i = 1; i <= 4; i++) expect(t.admit(`c${i}`, `10.0.0.${i}`)).toEqual({ ok: true });
    expect(t.admit("c5", "10.0.0.5")).toEqual({ ok: false, reason: "max_connections" });
    t.removed("c2");
    expect(t.admit("c5", "10.0.0.5")).toEqual({ ok: true });
  });

  it("counts IPv4-mapped addresses as IPv4 and IPv6 by /64", () => {
    const { t } = table();
    expect(t.admit("m1", "::ffff:10.0.0.1")).toEqual({ ok: true });
    expect(t.admit("m2", "10.0.0.1")).toEqual({ ok: true });
    expect(t.admit("m3", "::ffff:10.0.0.1")).toEqual({ ok: false, reason: "per_address" });
    expect(t.admit("v1", "2001:db8:1:2::1")).toEqual({ ok: true });
    expect(t.admit("v2", "2001:db8:1:2:ffff:ffff:ffff:ffff")).toEqual({ ok: true });
    expect(t.admit("v3", "2001:db8:1:2::3")).toEqual({ ok: false, reason: "max_connections" });
    t.removed("m1");
    expect(t.admit("v3", "2001:db8:1:2::3")).toEqual({ ok: false, reason: "per_address" });
    expect(t.admit("w1", "2001:db8:1:3::1")).toEqual({ ok: true });
  });

  it("keeps the descriptor reserve: refuses once open descriptors reach the limit minus the reserve", () => {
    // Limit 20, reserve 5: 15 usable; 12 are open for other things (the new socket makes 13).
    const { t, open, clock } = table(
      { maxConnections: 100, maxConnectionsPerAddress: 100 },
      {
        limit: 20,
        reserve: 5,
        open: 13,
      },
    );
    expect(t.admit("d1", "10.0.0.1")).toEqual({ ok: true });
    open.count++; // d1 stays open
    expect(t.admit("d2", "10.0.0.1")).toEqual({ ok: true });
    expect(t.admit("d3", "10.0.0.1")).toEqual({ ok: true });
    expect(t.admit("d4", "10.0.0.1")).toEqual({ ok: false, reason: "fd_reserve" });
    t.removed("d3");
    expect(t.admit("d4", "10.0.0.1")).toEqual({ ok: true });
    // Other descriptors grow (files, outbound connections): seen at the next count.
    open.count = 30;
    clock.advance(1000);
    t.removed("d4");
    expect(t.admit("d5", "10.0.0.1")).toEqual({ ok: false, reason: "fd_reserve" });
  });
});

describe("idle connections", () => {
  it("are named after idleMs without a call, and not while a call is open", () => {
    const { t, clock, idle } = table();
    t.admit("quiet", "10.0.0.1");
    t.admit("busy", "10.0.0.2");
    t.callStarted("busy");
    clock.advance(29_999);
    expect(idle).toEqual([]);
    clock.advance(1);
    expect(idle).toEqual(["quiet"]);
    t.removed("quiet");

    // Two calls: idle only from the end of the last one.
    t.callStarted("busy");
    clock.advance(60_000);
    t.callEnded("busy");
    clock.advance(60_000);
    expect(idle).toEqual(["quiet"]);
    t.callEnded("busy");
    clock.advance(29_999);
    expect(idle).toEqual(["quiet"]);
    clock.advance(1);
    expect(idle).toEqual(["quiet", "busy"]);
  });

  it("forget a connection once it closed, and ignore calls on unknown ones", () => {
    const { t, clock, idle } = table();
    t.admit("gone", "10.0.0.1");
    t.removed("gone");
    t.callStarted("nobody");
    t.callEnded("nobody");
    t.callEnded("gone");
    clock.advance(60_000);
    expect(idle).toEqual([]);
    expect(t.size).toBe(0);
  });
});

describe("address groups", () => {
  it("are IPv4 addresses as they are and IPv6 /64 prefixes", () => {
    expect(addressGroup("192.0.2.7")).toBe("192.0.2.7");
    expect(addressGroup("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(addressGroup("::1")).toBe("0:0:0:0::/64");
    expect(addressGroup("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressGroup("2001:0db8:0000:0042:0000:8a2e:0370:7334")).toBe("2001:db8:0:42::/64");
    expect(addressGroup("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(addressGroup("64:ff9b:1:2:3::192.0.2.7")).toBe("64:ff9b:1:2::/64");
    expect(addressGroup("::1:2:3:4:5:192.0.2.7")).toBe("0:1:2:3::/64");
  });
});
