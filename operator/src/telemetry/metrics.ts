import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The operator's own metrics, on their own registry (served at /metrics). */
export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: "hermes_operator_reconcile_total",
    help: "Reconciles of HermesNodes by result (success, error, conflict, invalid).",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: "hermes_operator_reconcile_duration_seconds",
    help: "Time one reconcile of a HermesNode takes.",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: "hermes_operator_workqueue_depth",
    help: "HermesNode keys waiting to be reconciled.",
    registers: [this.registry],
  });
  readonly queueRetries = new Counter({
    name: "hermes_operator_workqueue_retries_total",
    help: "Reconciles retried with backoff after a failure.",
    registers: [this.registry],
  });
  readonly watchRestarts = new Counter({
    name: "hermes_operator_watch_restarts_total",
    help: "Watches restarted, by resource and reason (closed: resumed; expired: relisted; error: backoff).",
    labelNames: ["resource", "reason"] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: "hermes_operator_leader",
    help: "1 while this replica holds the leader Lease.",
    registers: [this.registry],
  });
  /** Where the phase counts come from; set by the controller. */
  phaseSource: () => Record<string, number> = () => ({});
  readonly managed: Gauge<"phase"> = new Gauge({
    name: "hermes_operator_hermesnodes",
    help: "HermesNodes by phase.",
    labelNames: ["phase"] as const,
    registers: [this.registry],
    collect: () => {
      this.managed.reset();
      for (const [phase, count] of Object.entries(this.phaseSource())) this.managed.set({ phase }, count);
    },
  });
  readonly certificateExpiry = new Gauge({
    name: "hermes_operator_certificate_expiry_timestamp_seconds",
    help: "Earliest node certificate expiry of each HermesNode (Operator TLS mode), Unix seconds.",
    labelNames: ["namespace", "name"] as const,
    registers: [this.registry],
  });
  readonly apiErrors = new Counter({
    name: "hermes_operator_api_errors_total",
    help: "Failed Kubernetes API calls by HTTP status.",
    labelNames: ["status"] as const,
    registers: [this.registry],
  });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: "hermes_operator_" });
  }
}
