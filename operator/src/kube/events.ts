import type { HermesNode } from "../api/types.js";
import type { Logger } from "../telemetry/log.js";
import type { KubeClient } from "./client.js";
import { microTime } from "./leader.js";
import { RESOURCES, resourcePath } from "./resources.js";

export const REPORTING_CONTROLLER = "hermes.io/operator";
const REPEAT_WINDOW_MS = 10 * 60_000;

export type EventType = "Normal" | "Warning";

/**
 * Records events.k8s.io/v1 Events on HermesNodes (`kubectl describe hn` and `kubectl events`
 * show them). The same event for the same object is recorded once per ten minutes, so a retry
 * loop does not flood the API. Failures are logged, never fatal.
 */
export class EventRecorder {
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly client: KubeClient,
    private readonly instance: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async record(
    hn: HermesNode,
    type: EventType,
    reason: string,
    note: string,
    action = "Reconcile",
  ): Promise<void> {
    const now = this.now();
    const id = `${hn.metadata.uid}|${type}|${reason}|${note}`;
    const last = this.recent.get(id);
    if (last !== undefined && now - last < REPEAT_WINDOW_MS) return;
    this.recent.set(id, now);
    for (const [k, at] of this.recent) if (now - at >= REPEAT_WINDOW_MS) this.recent.delete(k);
    const event = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { generateName: `${hn.metadata.name}-`, namespace: hn.metadata.namespace },
      eventTime: microTime(now),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.instance,
      action,
      reason,
      type,
      note: note.length > 1024 ? `${note.slice(0, 1021)}...` : note,
      regarding: {
        apiVersion: hn.apiVersion,
        kind: hn.kind,
        name: hn.metadata.name,
        namespace: hn.metadata.namespace,
        uid: hn.metadata.uid,
      },
    };
    const level = type === "Warning" ? "warn" : "info";
    this.log[level]({ hermesNode: `${hn.metadata.namespace}/${hn.metadata.name}`, reason }, note);
    try {
      await this.client.create(
        resourcePath(RESOURCES.event, hn.metadata.namespace),
        event,
        "hermes-operator",
      );
    } catch (err) {
      this.log.warn({ err: String(err), reason }, "could not record event");
    }
  }
}
