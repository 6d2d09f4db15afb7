// The user's path on a real cluster, one step after another: helm install with a 3-node
// HermesNode, kubectl get hermesnodes, helm test, mesh membership, Prometheus through the
// ServiceMonitors and the chart's rules, scaling, a deleted pod, an operator restarted mid-reconcile,
// a rolling node-image change under a running chat, and deleting the HermesNode.
// The cluster comes from global-setup.ts: hack/local-cluster.sh here, kind in hack/kind-e2e.sh.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { eventually, Kube, type KubeJson, MESH, NS, RELEASE } from "./support/kube.js";

const REPO = resolve(import.meta.dirname, "../..");
const kube = new Kube();
const { images } = kube.cluster;
const MINUTE = 60_000;

/** A check that prints the HermesNode, pods, events and logs when it fails. */
function check(name: string, timeoutMs: number, body: () => Promise<void>) {
  it(
    name,
    async ({ onTestFailed }) => {
      onTestFailed(() => kube.diagnose());
      await body();
    },
    timeoutMs,
  );
}

const splitRef = (ref: string) => ({
  repository: ref.slice(0, ref.lastIndexOf(":")),
  tag: ref.slice(ref.lastIndexOf(":") + 1),
});
const isReady = (pod: KubeJson) =>
  pod.status?.conditions?.some((c: KubeJson) => c.type === "Ready" && c.status === "True") ?? false;

/** `kubectl get` as rows keyed by column header. */
function table(text: string): Record<string, string>[] {
  const [header, ...rows] = text.trim().split("\n");
  const columns = (header ?? "").split(/\s{2,}/);
  return rows.map((row) => Object.fromEntries(row.split(/\s{2,}/).map((cell, i) => [columns[i], cell])));
}

/** Waits until n node pods are Ready and each sees the same n members alive; returns their IDs. */
async function meshOf(n: number): Promise<Map<string, string>> {
  return eventually(`${n} ready nodes that each see ${n} alive members`, 5 * MINUTE, async () => {
    const pods = await kube.meshPods();
    const ready = pods.filter(isReady);
    if (pods.length !== n || ready.length !== n) throw new Error(`${ready.length}/${pods.length} pods ready`);
    const ids = new Map<string, string>();
    for (const pod of ready) {
      const members = await kube.members(pod.metadata.name);
      const alive = members.filter((m) => m.state === "alive");
      if (alive.length !== n)
        throw new Error(`${pod.metadata.name} sees ${alive.length} alive: ${JSON.stringify(members)}`);
      const self = members.find((m) => m.self);
      if (!self) throw new Error(`${pod.metadata.name} lists no self`);
      ids.set(pod.metadata.name, self.nodeId);
    }
    return ids;
  });
}

/** Each membership change of the run, and whether status.members followed it within seconds. */
const statusFollowed: { change: string; members: number; followed: boolean; shown: unknown }[] = [];

/**
 * Records whether status.members reaches n within 30 s once every node sees n alive members (a
 * resync every few minutes is not "current"). The last check asserts the record, so a stale
 * status does not hide what the other checks find.
 */
async function statusMembersIs(n: number, change: string): Promise<void> {
  let shown: unknown;
  const followed = await eventually(
    `status.members of ${MESH} to follow the mesh to ${n}`,
    30_000,
    async () => {
      shown = (await kube.hermesNode()).status?.members;
      if (shown !== n) throw new Error(`status.members is ${shown}`);
      return true;
    },
  ).catch(() => false);
  statusFollowed.push({ change, members: n, followed, shown });
}

async function scaleTo(n: number): Promise<void> {
  await kube.kubectl([
    "-n",
    NS,
    "patch",
    "hermesnode",
    MESH,
    "--type=merge",
    "-p",
    JSON.stringify({ spec: { replicas: n } }),
  ]);
}

/** helm test: two apps on two different nodes chat through the client Service. */
async function helmTest(): Promise<string> {
  const r = await kube.helm(["test", RELEASE.name, "-n", RELEASE.namespace, "--logs", "--timeout", "5m"], {
    allowFail: true,
  });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toContain("Phase:          Succeeded");
  expect(r.stdout).toMatch(/"step":"done","messages":20,"crossNode":true/);
  return r.stdout;
}

describe.sequential("Hermes on a real cluster", () => {
  check("helm install hermes ./charts/hermes makes a 3-node HermesNode Ready", 10 * MINUTE, async () => {
    await kube.kubectl(["create", "namespace", NS]);
    const operator = splitRef(images.operator);
    const node = splitRef(images.node);
    const hermesNodes = [
      {
        name: MESH,
        namespace: NS,
        spec: { replicas: 3, imagePullPolicy: "Never", metrics: { serviceMonitor: { interval: "5s" } } },
      },
    ];
    await kube.helm([
      "install",
      RELEASE.name,
      join(REPO, "charts/hermes"),
      "--namespace",
      RELEASE.namespace,
      "--create-namespace",
      "--set",
      `image.repository=${operator.repository},image.tag=${operator.tag},image.pullPolicy=Never`,
      "--set",
      `nodeImage.repository=${node.repository},nodeImage.tag=${node.tag}`,
      "--set",
      "metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.interval=5s",
      "--set-json",
      `hermesNodes=${JSON.stringify(hermesNodes)}`,
      "--wait",
      "--timeout",
      "5m",
    ]);
    await kube.kubectl(["-n", NS, "wait", "--for=condition=Ready", `hermesnode/${MESH}`, "--timeout=300s"]);
    await meshOf(3);
    await statusMembersIs(3, "install");
    const [row] = table((await kube.kubectl(["-n", NS, "get", "hermesnodes"])).stdout);
    expect(row).toMatchObject({ NAME: MESH, REPLICAS: "3", READY: "3", PHASE: "Running", TLS: "Operator" });
  });

  check("every node's /mesh/members lists the same 3 nodes, all alive", MINUTE, async () => {
    const ids = await meshOf(3);
    expect(new Set(ids.values()).size).toBe(3);
    for (const pod of ids.keys()) {
      const members = await kube.members(pod);
      expect(new Set(members.map((m) => m.nodeId))).toEqual(new Set(ids.values()));
    }
  });

  check("helm test --logs: two apps on two nodes chat through the client Service", 6 * MINUTE, async () => {
    await helmTest();
  });

  check(
    "Prometheus scrapes every node and the operator through the ServiceMonitors, and loads the chart's rules",
    5 * MINUTE,
    async () => {
      await eventually("Prometheus to scrape 3 nodes and the operator", 4 * MINUTE, async () => {
        const nodes = await kube.promQuery(`up{namespace="${NS}",service="${MESH}-mesh"} == 1`);
        if (nodes.length !== 3) throw new Error(`${nodes.length} node targets up`);
        const operator = await kube.promQuery(
          `up{namespace="${RELEASE.namespace}",service="hermes-operator-metrics"} == 1`,
        );
        if (operator.length !== 1) throw new Error(`${operator.length} operator targets up`);
        const alive = await kube.promQuery(`hermes_mesh_members{namespace="${NS}",state="alive"} == 3`);
        if (alive.length !== 3) throw new Error(`${alive.length} nodes report 3 alive members`);
      });
      await kube.kubectl(["-n", RELEASE.namespace, "get", "prometheusrule", "hermes-alerts"]);
      const rules = await eventually("Prometheus to load the chart's rule groups", 2 * MINUTE, async () => {
        const body = await kube.raw(
          "/api/v1/namespaces/monitoring/services/prometheus-operated:web/proxy/api/v1/rules",
        );
        const groups: KubeJson[] = body.data.groups;
        const names = groups.map((g) => g.name);
        for (const want of ["hermes-mesh", "hermes-node", "hermes-kubernetes"])
          if (!names.includes(want)) throw new Error(`groups loaded: ${names.join(", ")}`);
        return groups.flatMap((g) => g.rules);
      });
      const file = readFileSync(join(REPO, "charts/hermes/files/prometheus-rules.yaml"), "utf8");
      expect(rules.length).toBe(file.match(/- alert: /g)?.length);
      for (const rule of rules) expect(rule.health, `${rule.name}: ${rule.lastError}`).toBe("ok");
      // The operator stays within its RBAC on a real cluster, too.
      const log = await kube.kubectl(["-n", RELEASE.namespace, "logs", "deployment/hermes-operator"]);
      expect(log.stdout).not.toMatch(/forbidden: User|cannot [a-z]+ resource/);
    },
  );

  check(
    "scales 3 → 5 → 2: the mesh converges each time and apps still reach each other",
    20 * MINUTE,
    async () => {
      for (const n of [5, 2]) {
        await scaleTo(n);
        await meshOf(n);
        await statusMembersIs(n, `scale to ${n}`);
        await helmTest();
      }
    },
  );

  check("a deleted pod comes back with the same node identity and rejoins", 8 * MINUTE, async () => {
    const before = await meshOf(2);
    const pod = `${MESH}-1`;
    await kube.kubectl(["-n", NS, "delete", "pod", pod, "--wait=true"]);
    const after = await meshOf(2);
    expect(after.get(pod)).toBe(before.get(pod));
    expect(new Set(after.values())).toEqual(new Set(before.values()));
    await statusMembersIs(2, "pod deleted and back");
  });

  check(
    "an operator restarted in the middle of a reconcile converges (scale 2 → 3)",
    10 * MINUTE,
    async () => {
      await scaleTo(3);
      await kube.kubectl([
        "-n",
        RELEASE.namespace,
        "delete",
        "pod",
        "-l",
        "app.kubernetes.io/component=operator",
        "--wait=false",
      ]);
      await kube.kubectl([
        "-n",
        RELEASE.namespace,
        "rollout",
        "status",
        "deployment/hermes-operator",
        "--timeout=180s",
      ]);
      await meshOf(3);
      await eventually("the HermesNode to be Ready at its latest generation", 5 * MINUTE, async () => {
        const hn = await kube.hermesNode();
        const ready = hn.status?.conditions?.find((c: KubeJson) => c.type === "Ready");
        if (
          hn.status?.observedGeneration !== hn.metadata.generation ||
          ready?.status !== "True" ||
          hn.status?.readyReplicas !== 3
        )
          throw new Error(`status: ${JSON.stringify(hn.status)}`);
      });
      await statusMembersIs(3, "operator restarted");
    },
  );

  check(
    "a rolling node-image change, one pod at a time, under a cross-node chat: nothing lost, duplicated or reordered",
    20 * MINUTE,
    async () => {
      await kube.kubectl([
        "-n",
        NS,
        "create",
        "configmap",
        "rolling-chat",
        `--from-file=rolling-chat.mjs=${kube.cluster.rollingChatScript}`,
      ]);
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "rolling-chat", namespace: NS },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 10001,
            runAsGroup: 10001,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [
            {
              name: "chat",
              image: images.node,
              imagePullPolicy: "Never",
              command: [
                "/nodejs/bin/node",
                "/tools/rolling-chat.mjs",
                `${MESH}.${NS}.svc.cluster.local:7400`,
                "20",
              ],
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
              },
              volumeMounts: [{ name: "tools", mountPath: "/tools", readOnly: true }],
            },
          ],
          volumes: [{ name: "tools", configMap: { name: "rolling-chat" } }],
        },
      };
      await kube.kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });
      const report = () => kube.raw(`/api/v1/namespaces/${NS}/pods/rolling-chat:8080/proxy/report`);
      await eventually("the chat to be under way", 3 * MINUTE, async () => {
        const r = await report();
        if (r.acked < 20) throw new Error(`${r.acked} messages acknowledged`);
      });

      await kube.kubectl([
        "-n",
        NS,
        "patch",
        "hermesnode",
        MESH,
        "--type=merge",
        "-p",
        JSON.stringify({ spec: { image: images.nodeNext } }),
      ]);
      let mostUnready = 0;
      await eventually("every node to run the new image", 15 * MINUTE, async () => {
        const pods = await kube.meshPods();
        mostUnready = Math.max(mostUnready, pods.filter((p) => !isReady(p)).length, 3 - pods.length);
        const updated = pods.filter((p) => p.spec.containers[0].image === images.nodeNext && isReady(p));
        if (updated.length !== 3) throw new Error(`${updated.length}/3 nodes updated and ready`);
      });
      await meshOf(3);
      await statusMembersIs(3, "rolling image change");
      const ackedAfterRollout = (await report()).acked;
      await eventually("the chat to go on after the rollout", 3 * MINUTE, async () => {
        const r = await report();
        if (r.acked < ackedAfterRollout + 20)
          throw new Error(`${r.acked - ackedAfterRollout} acknowledged since the rollout`);
      });
      const final = await kube.raw(`/api/v1/namespaces/${NS}/pods/rolling-chat:8080/proxy/stop`);
      console.log(`rolling image change, what the chat saw: ${JSON.stringify(final, null, 2)}`);
      await kube.kubectl(["-n", NS, "delete", "pod/rolling-chat", "configmap/rolling-chat", "--wait=false"]);

      expect(mostUnready, "pods unready at once during the rollout").toBeLessThanOrEqual(1);
      expect(final.acked).toBeGreaterThan(40);
      expect({ lost: final.lost, duplicated: final.duplicated, reordered: final.reordered }).toEqual({
        lost: 0,
        duplicated: 0,
        reordered: 0,
      });
      // Chats outlive their nodes: the one chat went on across every restart.
      expect(final.chatsStarted, "chats started").toBe(1);
      expect([final.told.a.chatsEnded, final.told.b.chatsEnded], "chats ended, by app").toEqual([{}, {}]);
    },
  );

  check("deleting the HermesNode removes everything it owned", 5 * MINUTE, async () => {
    const uid = (await kube.hermesNode()).metadata.uid;
    await kube.kubectl(["-n", NS, "delete", "hermesnode", MESH, "--wait=true", "--timeout=120s"]);
    await eventually("the HermesNode's objects to be garbage-collected", 3 * MINUTE, async () => {
      const left = await kube.json([
        "-n",
        NS,
        "get",
        "statefulsets,services,configmaps,secrets,poddisruptionbudgets,servicemonitors,persistentvolumeclaims,pods",
      ]);
      const owned = left.items.filter(
        (o: KubeJson) =>
          o.metadata.ownerReferences?.some((r: KubeJson) => r.uid === uid) ||
          o.metadata.labels?.["app.kubernetes.io/instance"] === MESH,
      );
      if (owned.length)
        throw new Error(`left: ${owned.map((o: KubeJson) => `${o.kind}/${o.metadata.name}`).join(", ")}`);
    });
  });

  check(
    "status.members followed every membership change within seconds (kubectl get hn MEMBERS)",
    MINUTE,
    async () => {
      console.log(`status.members after each change: ${JSON.stringify(statusFollowed)}`);
      expect(statusFollowed.length).toBeGreaterThanOrEqual(6);
      expect(statusFollowed.filter((s) => !s.followed)).toEqual([]);
    },
  );
});
