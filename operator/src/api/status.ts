import type { V1StatefulSet } from "@kubernetes/client-node";
import type {
  Condition,
  ConditionStatus,
  ConditionType,
  HermesNode,
  HermesNodeStatus,
  Phase,
} from "./types.js";

/** A rollout that has made no progress for this long is reported as Degraded (like a Deployment's). */
export const PROGRESS_DEADLINE_MS = 10 * 60_000;

export interface CertificatesObservation {
  ready: boolean;
  reason: string;
  message: string;
  caNotAfter?: Date;
  notAfter?: Date;
  renewalTime?: Date;
}

export interface StatusInput {
  hn: HermesNode;
  replicas: number;
  image: string;
  now: Date;
  /** Problems from validation; non-empty means the spec was not reconciled. */
  problems: string[];
  /** The reconcile failed part-way (API error, missing prerequisite). */
  failure?: { reason: string; message: string };
  statefulSet?: V1StatefulSet;
  certificates?: CertificatesObservation;
  members?: number;
  selector: string;
  bootstrap: string;
  clientService: string;
}

type Rollout =
  | "Creating"
  | "Updating"
  | "ScalingUp"
  | "ScalingDown"
  | "RollingUpdate"
  | "WaitingForNodes"
  | "Complete";

/** Where the StatefulSet stands against the desired replica count. */
export function rolloutState(sts: V1StatefulSet | undefined, desired: number): Rollout {
  const st = sts?.status;
  if (!sts || !st) return "Creating";
  if ((st.observedGeneration ?? 0) < (sts.metadata?.generation ?? 0)) return "Updating";
  const replicas = st.replicas ?? 0;
  if (replicas < desired) return "ScalingUp";
  if (replicas > desired) return "ScalingDown";
  const revisionsDiffer = st.updateRevision !== undefined && st.currentRevision !== st.updateRevision;
  if ((st.updatedReplicas ?? 0) < desired || revisionsDiffer) return "RollingUpdate";
  if ((st.readyReplicas ?? 0) < desired) return "WaitingForNodes";
  return "Complete";
}

const ROLLOUT_MESSAGE: Record<Rollout, string> = {
  Creating: "creating the StatefulSet",
  Updating: "waiting for the StatefulSet controller to see the new spec",
  ScalingUp: "adding nodes",
  ScalingDown: "removing nodes",
  RollingUpdate: "replacing pods with the new template one at a time",
  WaitingForNodes: "waiting for nodes to become ready",
  Complete: "every node runs the current template and is ready",
};

/** Sets a condition, keeping lastTransitionTime when the status does not change. */
export function setCondition(
  conditions: Condition[],
  type: ConditionType,
  status: ConditionStatus,
  reason: string,
  message: string,
  now: Date,
  generation: number | undefined,
): Condition[] {
  const previous = conditions.find((c) => c.type === type);
  const next: Condition = {
    type,
    status,
    reason,
    message,
    lastTransitionTime: previous?.status === status ? previous.lastTransitionTime : now.toISOString(),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  return [...conditions.filter((c) => c.type !== type), next];
}

const ORDER: ConditionType[] = ["Ready", "Progressing", "Degraded", "CertificatesReady"];
const byType = (a: Condition, b: Condition) => ORDER.indexOf(a.type) - ORDER.indexOf(b.type);

/** The whole status, as a pure function of what the reconcile saw. */
export function computeStatus(input: StatusInput): HermesNodeStatus {
  const { hn, now } = input;
  const generation = hn.metadata.generation;
  const previous = hn.status ?? {};
  let conditions = previous.conditions ?? [];
  const set = (type: ConditionType, status: ConditionStatus, reason: string, message: string) => {
    conditions = setCondition(conditions, type, status, reason, message, now, generation);
  };
  const st = input.statefulSet?.status;
  const ready = st?.readyReplicas ?? 0;
  const base: HermesNodeStatus = {
    observedGeneration: generation,
    replicas: st?.replicas ?? 0,
    readyReplicas: ready,
    updatedReplicas: st?.updatedReplicas ?? 0,
    selector: input.selector,
    image: input.image,
    bootstrap: input.bootstrap,
    clientService: input.clientService,
    ...(input.members !== undefined ? { members: input.members } : {}),
  };

  if (input.problems.length > 0) {
    const message = input.problems.join("; ");
    set("Ready", "False", "InvalidSpec", "the spec is invalid; see the Degraded condition");
    set("Progressing", "False", "InvalidSpec", "nothing changes until the spec is fixed");
    set("Degraded", "True", "InvalidSpec", message);
    if (!conditions.some((c) => c.type === "CertificatesReady")) {
      set("CertificatesReady", "Unknown", "InvalidSpec", "not reconciled");
    }
    return { ...previous, ...base, phase: "Failed", conditions: conditions.sort(byType) };
  }

  const certs = input.certificates;
  if (certs) set("CertificatesReady", certs.ready ? "True" : "False", certs.reason, certs.message);
  const certsReady =
    certs?.ready ?? conditions.some((c) => c.type === "CertificatesReady" && c.status === "True");

  const rollout = rolloutState(input.statefulSet, input.replicas);
  const wasRunning = previous.phase === "Running" || previous.phase === "Degraded";
  const progressing = rollout !== "Complete" && !(rollout === "WaitingForNodes" && wasRunning);
  const progressed =
    ready > (previous.readyReplicas ?? 0) || (base.updatedReplicas ?? 0) > (previous.updatedReplicas ?? 0);
  if (progressing) {
    set("Progressing", "True", rollout, ROLLOUT_MESSAGE[rollout]);
    // Progress restarts the deadline, as for a Deployment.
    if (progressed)
      conditions = conditions.map((c) =>
        c.type === "Progressing" ? { ...c, lastTransitionTime: now.toISOString() } : c,
      );
  } else {
    set("Progressing", "False", "Complete", ROLLOUT_MESSAGE.Complete);
  }

  const progressingSince = conditions.find(
    (c) => c.type === "Progressing" && c.status === "True",
  )?.lastTransitionTime;
  const stalled =
    progressingSince !== undefined && now.getTime() - Date.parse(progressingSince) > PROGRESS_DEADLINE_MS;
  if (input.failure) {
    set("Degraded", "True", input.failure.reason, input.failure.message);
  } else if (!progressing && ready < input.replicas) {
    set("Degraded", "True", "NodesNotReady", `${ready}/${input.replicas} nodes are ready`);
  } else if (stalled) {
    set(
      "Degraded",
      "True",
      "ProgressDeadlineExceeded",
      `no progress for ${PROGRESS_DEADLINE_MS / 60_000} minutes: ${ROLLOUT_MESSAGE[rollout]}`,
    );
  } else if (certs && !certs.ready) {
    set("Degraded", "True", certs.reason, certs.message);
  } else {
    set("Degraded", "False", "AsExpected", "no problems seen");
  }

  const allReady = rollout === "Complete" && certsReady;
  if (allReady) {
    set("Ready", "True", "NodesReady", `${ready}/${input.replicas} nodes are ready`);
  } else {
    const why = !certsReady ? "CertificatesNotReady" : ready === 0 ? "NoNodesReady" : "NodesNotReady";
    set(
      "Ready",
      "False",
      why,
      `${ready}/${input.replicas} nodes are ready${certsReady ? "" : "; certificates are not ready"}`,
    );
  }

  const degraded = conditions.some((c) => c.type === "Degraded" && c.status === "True");
  const phase: Phase = degraded
    ? "Degraded"
    : allReady
      ? "Running"
      : ready === 0 && !wasRunning
        ? "Pending"
        : "Progressing";
  const certificates =
    certs && (certs.caNotAfter || certs.notAfter || certs.renewalTime)
      ? {
          ...(certs.caNotAfter ? { caNotAfter: certs.caNotAfter.toISOString() } : {}),
          ...(certs.notAfter ? { notAfter: certs.notAfter.toISOString() } : {}),
          ...(certs.renewalTime ? { renewalTime: certs.renewalTime.toISOString() } : {}),
        }
      : previous.certificates;
  return {
    ...base,
    phase,
    ...(certificates ? { certificates } : {}),
    conditions: conditions.sort(byType),
  };
}

/** A notable change between two statuses, for an Event. */
export interface StatusEvent {
  type: "Normal" | "Warning";
  reason: string;
  note: string;
}

/** Events for condition transitions, so `kubectl describe` tells the story. */
export function statusEvents(before: HermesNodeStatus | undefined, after: HermesNodeStatus): StatusEvent[] {
  const get = (s: HermesNodeStatus | undefined, t: ConditionType) => s?.conditions?.find((c) => c.type === t);
  const events: StatusEvent[] = [];
  const ready = get(after, "Ready");
  if (ready?.status === "True" && get(before, "Ready")?.status !== "True") {
    events.push({ type: "Normal", reason: "Ready", note: ready.message });
  }
  const degraded = get(after, "Degraded");
  const wasDegraded = get(before, "Degraded");
  if (
    degraded?.status === "True" &&
    (wasDegraded?.status !== "True" || wasDegraded.reason !== degraded.reason)
  ) {
    events.push({ type: "Warning", reason: degraded.reason, note: degraded.message });
  }
  if (degraded?.status === "False" && wasDegraded?.status === "True") {
    events.push({
      type: "Normal",
      reason: "Recovered",
      note: `no longer degraded (was ${wasDegraded.reason})`,
    });
  }
  return events;
}
