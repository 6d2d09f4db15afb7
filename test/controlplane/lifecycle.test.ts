import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Cluster, secretData } from "./support/cluster.js";
import { startControllerManager } from "./support/control-plane.js";
import { condition, hermesNodeYaml } from "./support/hermesnode.js";
import { OperatorProcess } from "./support/operator.js";
import { eventually, type Proc } from "./support/processes.js";

/** The operator process across restarts and hand-overs, and garbage collection of what it made. */
const cluster = new Cluster();
const release = inject("release");
const ns = "lifecycle";
const started: OperatorProcess[] = [];

async function operator(): Promise<OperatorProcess> {
  const op = await OperatorProcess.start(cluster);
  started.push(op);
  return op;
}

const leaderMetric = async (op: OperatorProcess) =>
  /^hermes_operator_leader (\d)$/m.exec(await op.metrics())?.[1];

beforeAll(() => cluster.createNamespace(ns));

afterAll(async () => {
  for (const op of started) await op.stop();
});

describe("operator restarts", () => {
  it("converges after dying mid-reconcile, keeping the CA it had made", async () => {
    // A StatefulSet the operator cannot adopt (its selector is immutable) stops the reconcile
    // after the Secrets, ConfigMap and Services, before the pods: a reconcile cut in the middle.
    await cluster.apply(
      [
        "apiVersion: apps/v1",
        "kind: StatefulSet",
        "metadata: { name: restart }",
        "spec:",
        "  serviceName: other",
        "  selector: { matchLabels: { app: other } }",
        "  template:",
        "    metadata: { labels: { app: other } }",
        "    spec: { containers: [{ name: x, image: busybox }] }",
      ].join("\n"),
      ns,
    );
    const first = await operator();
    await first.waitUntilLeading();
    await cluster.apply(hermesNodeYaml("restart", { replicas: 2 }), ns);
    const failed = await eventually(async () => {
      const h = await cluster.mustGet("hermesnode", "restart", ns);
      expect(condition(h, "Degraded")).toMatchObject({ status: "True", reason: "ApplyFailed" });
      return h;
    });
    expect(condition(failed, "Degraded")!.message).toContain("applying StatefulSet lifecycle/restart");
    expect(condition(failed, "Degraded")!.message).toContain(
      "updates to statefulset spec for fields other than",
    );
    const ca = secretData(await cluster.mustGet("secret", "restart-ca", ns))["tls.crt"];

    await first.kill(); // SIGKILL: no clean-up, the Lease stays taken until it expires
    await cluster.kubectl(["delete", "statefulset", "restart", "-n", ns]);
    const second = await operator();
    await second.waitUntilLeading(45_000);
    await eventually(async () => {
      const sts = await cluster.mustGet("statefulset", "restart", ns);
      expect(sts.metadata.ownerReferences?.[0]?.name).toBe("restart");
      expect(condition(await cluster.mustGet("hermesnode", "restart", ns), "Degraded")).toMatchObject({
        status: "False",
      });
    });
    expect(secretData(await cluster.mustGet("secret", "restart-ca", ns))["tls.crt"]).toBe(ca);
    const lease = await cluster.mustGet("lease", release.serviceAccount, release.namespace);
    expect(lease.spec.holderIdentity).toBe(second.identity);
    expect(lease.spec.leaseTransitions).toBeGreaterThanOrEqual(1);
    await second.stop();
  });

  it("hands leadership to a standby at once on SIGTERM", async () => {
    const leader = await operator();
    await leader.waitUntilLeading();
    const standby = await operator();
    await eventually(async () => expect((await fetch(`${standby.healthUrl}/readyz`)).status).toBe(200));
    await new Promise((r) => setTimeout(r, 2000));
    expect(await leaderMetric(standby)).toBe("0");
    const t0 = Date.now();
    expect(await leader.stop()).toBe(0);
    await standby.waitUntilLeading(10_000);
    // The Lease was released, not left to expire (15 s).
    expect(Date.now() - t0).toBeLessThan(8000);
    await standby.stop();
  });
});

describe("garbage collection", () => {
  let gc: Proc;
  beforeAll(() => {
    gc = startControllerManager(cluster.info, ["garbagecollector"]);
  });
  afterAll(async () => {
    await gc?.stop();
  });

  it("removes everything a deleted HermesNode owned", async () => {
    const op = await operator();
    await op.waitUntilLeading();
    await cluster.apply(hermesNodeYaml("doomed", { replicas: 2 }), ns);
    const owned = "app.kubernetes.io/instance=doomed";
    const list = async () =>
      (
        await cluster.kubectl([
          "get",
          "statefulsets,services,configmaps,secrets,poddisruptionbudgets",
          "-n",
          ns,
          "-l",
          owned,
          "-o",
          "name",
        ])
      ).stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .sort();
    await eventually(async () =>
      expect(await list()).toEqual([
        "configmap/doomed-config",
        "poddisruptionbudget.policy/doomed",
        "secret/doomed-ca",
        "secret/doomed-keystore",
        "secret/doomed-tls",
        "service/doomed",
        "service/doomed-mesh",
        "statefulset.apps/doomed",
      ]),
    );
    await cluster.kubectl(["delete", "hermesnode", "doomed", "-n", ns]);
    await eventually(async () => expect(await list()).toEqual([]), 60_000, 500);
    await op.stop();
  });
});

describe("every operator process", () => {
  it("made no API call the chart's RBAC forbids", () => {
    for (const op of started) expect(op.forbidden(), op.identity).toEqual([]);
  });
});
