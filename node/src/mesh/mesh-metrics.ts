import { Counter, Gauge } from "prom-client";
import type { Metrics } from "../telemetry/index.js";
import type { MemberState, MembershipCounters } from "./membership/index.js";

/** What the mesh exposes to Prometheus. Membership counters are read from the state machine at scrape time. */
export class MeshMetrics {
  readonly joinAttempts;
  readonly refusedFrames;
  readonly gossipBytes;
  readonly gossipMessages;
  readonly relayLatency;
  readonly membershipChanges;

  constructor(
    metrics: Metrics,
    source: {
      counters(): MembershipCounters;
      countByState(): Record<MemberState, number>;
      routingEntries(): number;
      tielines(): number;
    },
  ) {
    this.joinAttempts = metrics.counter(
      "hermes_mesh_join_attempts_total",
      "Join attempts to seed nodes by result",
      ["result"],
    );
    for (const result of ["ok", "failed", "refused"]) this.joinAttempts.inc({ result }, 0);
    this.refusedFrames = metrics.counter(
      "hermes_mesh_refused_frames_total",
      "Mesh frames refused by reason",
      ["code"],
    );
    this.gossipBytes = metrics.counter("hermes_mesh_gossip_bytes_total", "Gossip envelope bytes", [
      "direction",
    ]);
    this.gossipMessages = metrics.counter("hermes_mesh_gossip_messages_total", "Gossip envelopes", [
      "direction",
    ]);
    for (const direction of ["sent", "received"]) {
      this.gossipBytes.inc({ direction }, 0);
      this.gossipMessages.inc({ direction }, 0);
    }
    this.relayLatency = metrics.histogram(
      "hermes_mesh_relay_latency_seconds",
      "Time from the sending node relaying a message to the receiving node taking it",
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    );
    this.membershipChanges = metrics.counter(
      "hermes_mesh_membership_changes_total",
      "Membership events seen (memberJoined, memberUpdated, memberDead, memberLeft, memberReaped)",
      ["event"],
    );

    const fromCounter = (name: string, help: string, read: (c: MembershipCounters) => number) => {
      let seen = 0;
      new Counter({
        name,
        help,
        registers: [metrics.registry],
        collect() {
          const now = read(source.counters());
          if (now > seen) this.inc(now - seen);
          seen = now;
        },
      });
    };
    fromCounter("hermes_mesh_probes_total", "Direct probes sent", (c) => c.probesSent);
    fromCounter(
      "hermes_mesh_indirect_probes_total",
      "Indirect probes requested",
      (c) => c.indirectProbesSent,
    );
    fromCounter(
      "hermes_mesh_suspicions_total",
      "Suspicions raised by this node's probes",
      (c) => c.suspicionsRaised,
    );
    fromCounter(
      "hermes_mesh_failures_total",
      "Members this node saw declared dead",
      (c) => c.membersDeclaredDead,
    );
    fromCounter(
      "hermes_mesh_refutations_total",
      "Times this node refuted a suspicion of itself",
      (c) => c.refutations,
    );
    new Gauge({
      name: "hermes_mesh_members",
      help: "Members by state, this node included",
      labelNames: ["state"],
      registers: [metrics.registry],
      collect() {
        for (const [state, n] of Object.entries(source.countByState())) this.set({ state }, n);
      },
    });
    new Gauge({
      name: "hermes_mesh_routing_entries",
      help: "Apps in the routing table (this node's and other nodes')",
      registers: [metrics.registry],
      collect() {
        this.set(source.routingEntries());
      },
    });
    new Gauge({
      name: "hermes_mesh_tielines",
      help: "Established outbound tieline streams",
      registers: [metrics.registry],
      collect() {
        this.set(source.tielines());
      },
    });
  }
}
