import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

const PREFIX = "hermes_";
/** Latencies on the relay path: sub-millisecond on loopback up to slow cross-region acks. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FLUSH_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The node's metrics on a private registry, so several nodes can share a test process. */
export class Metrics {
  readonly registry = new Registry();

  readonly sessions = this.gauge("hermes_app_sessions", "Live app sessions");
  readonly connects = this.counter("hermes_app_connects_total", "App connect attempts by result", ["result"]);
  readonly chats = this.gauge("hermes_chats", "Chats by state", ["state"]);
  readonly chatsStarted = this.counter("hermes_chats_started_total", "Chats started");
  readonly chatsEnded = this.counter("hermes_chats_ended_total", "Chats ended by reason", ["reason"]);
  readonly chatsTakenOver = this.counter(
    "hermes_chats_taken_over_total",
    "Chats this node started carrying for an app that resumed them here after another node carried them",
  );
  readonly chatsHandedOver = this.counter(
    "hermes_chats_handed_over_total",
    "Chat copies this node dropped because their apps resumed them on other nodes (the chats go on)",
  );
  /** Counts bumped once per message, kept as plain numbers and folded in when read (hot()). */
  private readonly hotCounts: {
    counter: Counter<string>;
    labels: Record<string, string>;
    count: HotCount;
  }[] = [];
  readonly messagesRelayed = this.foldedCounter("hermes_messages_relayed_total", "Messages relayed");
  readonly bytesRelayed = this.foldedCounter("hermes_relayed_bytes_total", "Ciphertext bytes relayed");
  readonly acksRelayed = this.foldedCounter("hermes_acks_relayed_total", "End-to-end acks relayed");
  readonly ackLatency = this.histogram(
    "hermes_ack_latency_seconds",
    "Time from relaying a message to relaying its end-to-end ack, as seen by this node (one message in eight)",
    LATENCY_BUCKETS,
  );
  readonly refusedFrames = this.counter("hermes_refused_frames_total", "Frames refused by error code", [
    "code",
  ]);
  readonly limitRefusals = this.counter("hermes_limit_refusals_total", "Requests refused by a limit", [
    "limit",
  ]);
  /** Bytes written to app streams and not yet taken by their connections (setQueuedBytesSource). */
  readonly appQueuedBytes: Gauge = new Gauge({
    name: checked("hermes_app_queued_bytes"),
    help: "Bytes queued towards app streams that their connections have not taken yet",
    registers: [this.registry],
    collect: () => this.appQueuedBytes.set(this.queuedBytes()),
  });
  private queuedBytes: () => number = () => 0;
  readonly connections = this.gauge("hermes_connections", "Open connections on a gRPC port", ["port"]);
  readonly connectionsRefused = this.counter(
    "hermes_connections_refused_total",
    "Connections refused or cut before carrying a call, by port and reason",
    ["port", "reason"],
  );
  readonly connectionsWaiting = this.gauge(
    "hermes_connections_waiting",
    "Connections held unread at the door until their address has a connect to spend",
    ["port"],
  );
  readonly connectionsIdleClosed = this.counter(
    "hermes_connections_idle_closed_total",
    "Connections closed after carrying no call for the port's idle timeout",
    ["port"],
  );
  readonly keystoreFlushes = this.counter("hermes_keystore_flushes_total", "Keystore flushes by result", [
    "result",
  ]);
  readonly keystoreFlushSeconds = this.histogram(
    "hermes_keystore_flush_seconds",
    "Time to seal and write the keystore",
    FLUSH_BUCKETS,
  );
  readonly keystoreEntries = this.gauge("hermes_keystore_entries", "Entries in the keystore");
  readonly info = this.gauge("hermes_node_info", "Node identity and version; always 1", [
    "node_id",
    "version",
  ]);

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    // Known label values start at 0 so rate() and absent() queries work before the first event.
    zero(this.connects, "result", ["ok", "auth_failed", "replaced", "refused"]);
    zero(this.chatsEnded, "reason", [
      "deleted",
      "rejected",
      "idle_expired",
      "offer_expired",
      "route_unavailable",
    ]);
    for (const c of [this.messagesRelayed, this.bytesRelayed, this.acksRelayed])
      zero(c, "scope", ["local", "mesh"]);
    zero(this.limitRefusals, "limit", [
      "frame_size",
      "message_rate",
      "chat_start_rate",
      "max_chats",
      "max_sessions",
      "bad_frames",
      "frame_rate",
      "in_flight",
      "pending_offers",
      "queued_bytes",
      "unauthenticated_sessions",
      "authenticate_within",
      "connect_rate",
    ]);
    zero(this.keystoreFlushes, "result", ["ok", "error"]);
    for (const port of ["app", "mesh"]) {
      this.connectionsIdleClosed.inc({ port }, 0);
      this.connectionsWaiting.set({ port }, 0);
      for (const reason of ["max_connections", "per_address", "fd_reserve", "accept_error"])
        this.connectionsRefused.inc({ port, reason }, 0);
    }
    for (const reason of ["plain_text", "tls_handshake", "untrusted_peer"])
      this.connectionsRefused.inc({ port: "mesh", reason }, 0);
    for (const reason of ["failed_connects", "slow_reader"])
      this.connectionsRefused.inc({ port: "app", reason }, 0);
    for (const state of ["pending", "ready"]) this.chats.set({ state }, 0);
  }

  /** Where hermes_app_queued_bytes is read from when scraped. */
  setQueuedBytesSource(source: () => number): void {
    this.queuedBytes = source;
  }

  /** Sets hermes_node_info{node_id, version} to 1, replacing any earlier value. */
  setInfo(nodeId: string, version: string): void {
    this.info.reset();
    this.info.set({ node_id: nodeId, version }, 1);
  }

  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter<L>({ name: checked(name), help, labelNames, registers: [this.registry] });
  }

  /**
   * A child of a per-message counter as a plain number: bumping a prom-client child looks its
   * labels up each time, which the message path cannot afford. Read with the counter.
   */
  hot(counter: Counter<"scope">, labels: { scope: string }): HotCount {
    const count = new HotCount();
    this.hotCounts.push({ counter: counter as Counter<string>, labels, count });
    return count;
  }

  /** A counter by scope whose hot() children are added in whenever it is read. */
  private foldedCounter(name: string, help: string): Counter<"scope"> {
    const hotCounts = this.hotCounts;
    return new Counter<"scope">({
      name: checked(name),
      help,
      labelNames: ["scope"],
      registers: [this.registry],
      collect() {
        for (const h of hotCounts) {
          if (h.counter !== (this as Counter<string>)) continue;
          const delta = h.count.value - h.count.reported;
          if (delta > 0) (this as Counter<string>).inc(h.labels, delta);
          h.count.reported = h.count.value;
        }
      },
    });
  }

  gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge<L>({ name: checked(name), help, labelNames, registers: [this.registry] });
  }

  histogram<L extends string = never>(
    name: string,
    help: string,
    buckets: number[],
    labelNames: readonly L[] = [],
  ): Histogram<L> {
    return new Histogram<L>({ name: checked(name), help, buckets, labelNames, registers: [this.registry] });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

function checked(name: string): string {
  if (!name.startsWith(PREFIX)) throw new Error(`metric ${name} must start with ${PREFIX}`);
  return name;
}

function zero<L extends string>(counter: Counter<L>, label: L, values: string[]): void {
  for (const v of values) counter.inc({ [label]: v } as Partial<Record<L, string>>, 0);
}

/** A count bumped on the message path; Metrics adds what it gained to its counter when read. */
export class HotCount {
  value = 0;
  reported = 0;

  inc(by = 1): void {
    this.value += by;
  }
}
