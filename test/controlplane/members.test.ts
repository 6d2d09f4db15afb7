import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { Cluster } from "./support/cluster.js";
import { hermesNodeYaml, writeStatefulSetStatus } from "./support/hermesnode.js";
import { OperatorProcess } from "./support/operator.js";
import { eventually } from "./support/processes.js";

/**
 * status.members as the operator learns it from the nodes' admin endpoint (GET /mesh/members).
 * There is no kubelet: the test plays it for three pods (Pod objects whose status it writes,
 * each declaring the admin port of a node endpoint the test serves on loopback) and plays the
 * StatefulSet controller by writing the StatefulSet's status.
 */
const cluster = new Cluster();
const ns = "members";
const pods = ["mesh-0", "mesh-1", "mesh-2"];
let op: OperatorProcess;

/** What each node answers: the states of the members it knows. */
const seen = new Map<string, string[]>();
/** How often each node has been asked. */
const asked = new Map<string, number>();
const servers: Server[] = [];

/** A node's admin endpoint on 127.0.0.1 that answers /mesh/members from `seen`; its port. */
async function serveNode(pod: string): Promise<number> {
  const server = createServer((req, res) => {
    if (req.url !== "/mesh/members") {
      res.writeHead(404).end();
      return;
    }
    asked.set(pod, (asked.get(pod) ?? 0) + 1);
    const states = seen.get(pod) ?? [];
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(states.map((state, i) => ({ nodeId: `node-${i}`, self: i === 0, state }))));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** A pod of the HermesNode "mesh", running and ready at 127.0.0.1, as the kubelet would report it. */
async function readyPod(name: string, adminPort: number): Promise<void> {
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      labels: { "app.kubernetes.io/name": "hermes-node", "app.kubernetes.io/instance": "mesh" },
    },
    spec: {
      containers: [
        { name: "node", image: "hermes-node:test", ports: [{ name: "admin", containerPort: adminPort }] },
      ],
    },
  };
  await cluster.apply(stringify(pod), ns);
  await setReady(name, true);
}

/** Writes a pod's status as the kubelet would: running at 127.0.0.1, ready or not. */
async function setReady(name: string, ready: boolean): Promise<void> {
  const status = {
    phase: "Running",
    podIP: "127.0.0.1",
    podIPs: [{ ip: "127.0.0.1" }],
    conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
  };
  await cluster.patchStatus("pod", name, ns, status);
}

const hn = () => cluster.mustGet("hermesnode", "mesh", ns);

beforeAll(async () => {
  await cluster.createNamespace(ns);
  op = await OperatorProcess.start(cluster);
  await op.waitUntilLeading();
  await cluster.apply(hermesNodeYaml("mesh", { replicas: 3 }), ns);
  await eventually(() => cluster.mustGet("statefulset", "mesh", ns));
});

afterAll(async () => {
  await op?.stop();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

describe("status.members", () => {
  it("shows the fewest members any ready node sees: a restarted node that has not rejoined yet", async () => {
    // mesh-0 has just restarted and sees only itself; the others still see all three.
    seen.set("mesh-0", ["alive"]);
    seen.set("mesh-1", ["alive", "alive", "alive"]);
    seen.set("mesh-2", ["alive", "alive", "alive"]);
    for (const pod of pods) await readyPod(pod, await serveNode(pod));
    await writeStatefulSetStatus(cluster, ns, "mesh", { replicas: 3 });
    await eventually(async () => {
      const h = await hn();
      expect(h.status.phase).toBe("Running");
      expect(h.status.members).toBe(1);
    });
    const row = (await cluster.kubectl(["get", "hn", "mesh", "-n", ns, "--no-headers"])).stdout;
    expect(row).toMatch(/^mesh\s+3\s+3\s+1\s+Running\s/);
  });

  it("asks an unconverged mesh again and again, with no Kubernetes event to prompt it", async () => {
    // The mesh is Running, so its next resync is minutes away, and nothing changes in the API:
    // only the operator's own re-checks of an unconverged mesh ask the nodes now.
    const before = asked.get("mesh-0") ?? 0;
    await eventually(() => expect(asked.get("mesh-0")).toBeGreaterThanOrEqual(before + 3), 60_000);
  });

  it("shows the mesh converged as soon as the restarted node sees the others", async () => {
    seen.set("mesh-0", ["alive", "alive", "alive"]);
    await eventually(async () => expect((await hn()).status.members).toBe(3));
  });

  it("counts the members ready nodes see alive, not suspected ones nor what a pod that is not ready says", async () => {
    // mesh-2 restarts: its pod is not ready, the others suspect it, and it sees only itself.
    seen.set("mesh-0", ["alive", "alive", "suspect"]);
    seen.set("mesh-1", ["alive", "alive", "suspect"]);
    seen.set("mesh-2", ["alive"]);
    await setReady("mesh-2", false);
    await writeStatefulSetStatus(cluster, ns, "mesh", { replicas: 3, ready: 2 });
    await eventually(async () => expect((await hn()).status.members).toBe(2));
  });

  it("made no API call the chart's RBAC forbids", () => {
    expect(op.forbidden()).toEqual([]);
  });
});
