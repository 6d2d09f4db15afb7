import type { V1StatefulSet } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import {
  computeStatus,
  PROGRESS_DEADLINE_MS,
  rolloutState,
  type StatusInput,
  setCondition,
  statusEvents,
} from "../../src/api/status.js";
import type { Condition, HermesNodeStatus } from "../../src/api/types.js";
import { hermesNode } from "./fixtures.js";

const t0 = new Date("2026-06-01T00:00:00Z");
const later = (ms: number) => new Date(t0.getTime() + ms);
const certsOk = { ready: true, reason: "Issued", message: "node certificates valid" };

function sts(status: Partial<NonNullable<V1StatefulSet["status"]>>, generation = 1): V1StatefulSet {
  return {
    metadata: { name: "mesh", generation },
    status: {
      replicas: 0,
      observedGeneration: generation,
      currentRevision: "r1",
      updateRevision: "r1",
      ...status,
    },
  };
}
const ready3 = sts({ replicas: 3, readyReplicas: 3, updatedReplicas: 3 });

function input(over: Partial<StatusInput> = {}, previous?: HermesNodeStatus): StatusInput {
  const hn = hermesNode();
  hn.metadata.generation = 2;
  if (previous) hn.status = previous;
  return {
    hn,
    replicas: 3,
    image: "hermes:1",
    now: t0,
    problems: [],
    certificates: certsOk,
    selector: "app.kubernetes.io/instance=mesh,app.kubernetes.io/name=hermes-node",
    bootstrap: "_mesh._tcp.mesh-mesh.chat.svc.cluster.local",
    clientService: "mesh.chat.svc.cluster.local:7400",
    ...over,
  };
}
const cond = (s: HermesNodeStatus, type: string) => s.conditions!.find((c) => c.type === type)!;
const brief = (s: HermesNodeStatus) => s.conditions!.map((c) => `${c.type}=${c.status}/${c.reason}`);

describe("rolloutState", () => {
  it("reads the StatefulSet's progress", () => {
    expect(rolloutState(undefined, 3)).toBe("Creating");
    expect(rolloutState({ metadata: {} }, 3)).toBe("Creating");
    expect(rolloutState(sts({ observedGeneration: 1 }, 2), 3)).toBe("Updating");
    expect(rolloutState(sts({ replicas: 1 }), 3)).toBe("ScalingUp");
    expect(rolloutState(sts({ replicas: 5 }), 3)).toBe("ScalingDown");
    expect(rolloutState(sts({ replicas: 3, updatedReplicas: 1, readyReplicas: 3 }), 3)).toBe("RollingUpdate");
    expect(
      rolloutState(sts({ replicas: 3, updatedReplicas: 3, readyReplicas: 3, updateRevision: "r2" }), 3),
    ).toBe("RollingUpdate");
    expect(rolloutState(sts({ replicas: 3, updatedReplicas: 3, readyReplicas: 2 }), 3)).toBe(
      "WaitingForNodes",
    );
    expect(rolloutState(ready3, 3)).toBe("Complete");
  });
});

describe("setCondition", () => {
  it("keeps the transition time while the status holds and moves it when it flips", () => {
    let c: Condition[] = setCondition([], "Ready", "False", "A", "a", t0, 1);
    c = setCondition(c, "Ready", "False", "B", "b", later(1000), 2);
    expect(c).toEqual([
      {
        type: "Ready",
        status: "False",
        reason: "B",
        message: "b",
        lastTransitionTime: t0.toISOString(),
        observedGeneration: 2,
      },
    ]);
    c = setCondition(c, "Ready", "True", "C", "c", later(2000), 2);
    expect(c[0]!.lastTransitionTime).toBe(later(2000).toISOString());
  });
});

describe("computeStatus", () => {
  it("a new HermesNode is Pending and Progressing until its nodes are ready", () => {
    const s = computeStatus(input({ statefulSet: undefined }));
    expect(s).toMatchObject({
      observedGeneration: 2,
      replicas: 0,
      readyReplicas: 0,
      updatedReplicas: 0,
      phase: "Pending",
      image: "hermes:1",
      selector: "app.kubernetes.io/instance=mesh,app.kubernetes.io/name=hermes-node",
      bootstrap: "_mesh._tcp.mesh-mesh.chat.svc.cluster.local",
      clientService: "mesh.chat.svc.cluster.local:7400",
    });
    expect(brief(s)).toEqual([
      "Ready=False/NoNodesReady",
      "Progressing=True/Creating",
      "Degraded=False/AsExpected",
      "CertificatesReady=True/Issued",
    ]);
    expect(cond(s, "Ready").message).toBe("0/3 nodes are ready");
    for (const c of s.conditions!)
      expect(c).toMatchObject({ observedGeneration: 2, lastTransitionTime: t0.toISOString() });
  });

  it("becomes Running when every node runs the current template and is ready", () => {
    const s = computeStatus(input({ statefulSet: ready3, members: 3 }));
    expect(s.phase).toBe("Running");
    expect(s.members).toBe(3);
    expect(brief(s)).toEqual([
      "Ready=True/NodesReady",
      "Progressing=False/Complete",
      "Degraded=False/AsExpected",
      "CertificatesReady=True/Issued",
    ]);
    expect(cond(s, "Ready").message).toBe("3/3 nodes are ready");
  });

  it("reports scaling and rolling updates as Progressing, not Degraded", () => {
    const running = computeStatus(input({ statefulSet: ready3 }));
    const scaling = computeStatus(input({ replicas: 5, statefulSet: ready3 }, running));
    expect(scaling.phase).toBe("Progressing");
    expect(brief(scaling).slice(0, 3)).toEqual([
      "Ready=False/NodesNotReady",
      "Progressing=True/ScalingUp",
      "Degraded=False/AsExpected",
    ]);
    const rolling = computeStatus(
      input(
        { statefulSet: sts({ replicas: 3, readyReplicas: 2, updatedReplicas: 1, updateRevision: "r2" }) },
        running,
      ),
    );
    expect(rolling.phase).toBe("Progressing");
    expect(cond(rolling, "Progressing")).toMatchObject({ status: "True", reason: "RollingUpdate" });
  });

  it("turns Degraded when a running mesh loses a node without a rollout", () => {
    const running = computeStatus(input({ statefulSet: ready3 }));
    const lost = computeStatus(
      input({ statefulSet: sts({ replicas: 3, readyReplicas: 2, updatedReplicas: 3 }) }, running),
    );
    expect(lost.phase).toBe("Degraded");
    expect(cond(lost, "Degraded")).toMatchObject({
      status: "True",
      reason: "NodesNotReady",
      message: "2/3 nodes are ready",
    });
    expect(cond(lost, "Progressing")).toMatchObject({ status: "False" });
    const back = computeStatus(input({ statefulSet: ready3, now: later(60_000) }, lost));
    expect(back.phase).toBe("Running");
    expect(statusEvents(lost, back)).toEqual([
      { type: "Normal", reason: "Ready", note: "3/3 nodes are ready" },
      { type: "Normal", reason: "Recovered", note: "no longer degraded (was NodesNotReady)" },
    ]);
  });

  it("flags a rollout with no progress past the deadline, and progress restarts the clock", () => {
    const stuck = sts({ replicas: 3, readyReplicas: 0, updatedReplicas: 3 });
    const first = computeStatus(input({ statefulSet: stuck }));
    const still = computeStatus(input({ statefulSet: stuck, now: later(PROGRESS_DEADLINE_MS + 1) }, first));
    expect(cond(still, "Degraded")).toMatchObject({ status: "True", reason: "ProgressDeadlineExceeded" });
    expect(still.phase).toBe("Degraded");
    const moving = computeStatus(
      input(
        {
          statefulSet: sts({ replicas: 3, readyReplicas: 1, updatedReplicas: 3 }),
          now: later(PROGRESS_DEADLINE_MS + 1),
        },
        first,
      ),
    );
    expect(cond(moving, "Degraded").status).toBe("False");
    expect(cond(moving, "Progressing").lastTransitionTime).toBe(
      later(PROGRESS_DEADLINE_MS + 1).toISOString(),
    );
  });

  it("an invalid spec fails with the problems in the Degraded condition, keeping observed numbers", () => {
    const running = computeStatus(input({ statefulSet: ready3 }));
    const s = computeStatus(
      input({ problems: ["spec.a is wrong", "spec.b too"], statefulSet: ready3 }, running),
    );
    expect(s.phase).toBe("Failed");
    expect(s.readyReplicas).toBe(3);
    expect(brief(s)).toEqual([
      "Ready=False/InvalidSpec",
      "Progressing=False/InvalidSpec",
      "Degraded=True/InvalidSpec",
      "CertificatesReady=True/Issued",
    ]);
    expect(cond(s, "Degraded").message).toBe("spec.a is wrong; spec.b too");
    expect(statusEvents(running, s)).toEqual([
      { type: "Warning", reason: "InvalidSpec", note: "spec.a is wrong; spec.b too" },
    ]);
  });

  it("a reconcile failure is Degraded with its reason while Ready still tells about the nodes", () => {
    const s = computeStatus(
      input({ statefulSet: ready3, failure: { reason: "ApplyFailed", message: "StatefulSet: forbidden" } }),
    );
    expect(s.phase).toBe("Degraded");
    expect(cond(s, "Degraded")).toMatchObject({
      status: "True",
      reason: "ApplyFailed",
      message: "StatefulSet: forbidden",
    });
    expect(cond(s, "Ready").status).toBe("True");
  });

  it("certificates that are not ready keep the mesh from Ready", () => {
    const certs = {
      ready: false,
      reason: "CertificateNotReady",
      message: "cert-manager has not issued mesh-mesh yet",
    };
    const s = computeStatus(input({ statefulSet: ready3, certificates: certs }));
    expect(brief(s)).toEqual([
      "Ready=False/CertificatesNotReady",
      "Progressing=False/Complete",
      "Degraded=True/CertificateNotReady",
      "CertificatesReady=False/CertificateNotReady",
    ]);
  });

  it("records certificate dates", () => {
    const s = computeStatus(
      input({
        certificates: { ...certsOk, caNotAfter: later(10), notAfter: later(5), renewalTime: later(2) },
      }),
    );
    expect(s.certificates).toEqual({
      caNotAfter: later(10).toISOString(),
      notAfter: later(5).toISOString(),
      renewalTime: later(2).toISOString(),
    });
  });
});
