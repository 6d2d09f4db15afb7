// The chart's values → objects, through `helm template` (no API server needed): what each value
// renders, labels from the helpers, test hooks, and the monitoring objects (PrometheusRule from
// docs/alerts.md and docs/kubernetes.md, Grafana dashboard ConfigMap). The real install is
// install.test.ts.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { findBinaries, KUBE_VERSION } from "./support/binaries.js";
import { type KubeJson, run } from "./support/cluster.js";

const REPO = resolve(import.meta.dirname, "../..");
const CHART = join(REPO, "charts/hermes");
const PROMETHEUS_RULE_API = "monitoring.coreos.com/v1/PrometheusRule";
const helm = findBinaries().helm;

/** `helm template` with --set-json values; the rendered objects, test hooks included. */
async function render(values: Record<string, unknown> = {}, apiVersions: string[] = []): Promise<KubeJson[]> {
  const args = ["template", "hermes", CHART, "--namespace", "hermes-system", "--kube-version", KUBE_VERSION];
  for (const [key, value] of Object.entries(values))
    args.push("--set-json", `${key}=${JSON.stringify(value)}`);
  for (const api of apiVersions) args.push("--api-versions", api);
  const { stdout } = await run(helm, args);
  return parseAllDocuments(stdout)
    .map((d) => d.toJS())
    .filter(Boolean);
}

const find = (objects: KubeJson[], kind: string, name?: string) =>
  objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

const SELECTOR_LABELS = [
  "app.kubernetes.io/name",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/component",
];
const COMMON_LABELS = {
  "helm.sh/chart": "hermes-0.1.0",
  "app.kubernetes.io/version": "0.1.0",
  "app.kubernetes.io/part-of": "hermes",
  "app.kubernetes.io/managed-by": "Helm",
};
const MESH = { name: "mesh", namespace: "chat", labels: { team: "a" }, spec: { replicas: 3 } };

describe("helm template hermes ./charts/hermes", () => {
  it("renders only the operator's objects by default: no HermesNode, test, rule or dashboard", async () => {
    const objects = await render();
    expect(new Set(objects.map((o) => o.kind))).toEqual(
      new Set([
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "Deployment",
      ]),
    );
    for (const o of objects)
      expect(o.metadata.labels, `${o.kind} ${o.metadata.name}`).toMatchObject(COMMON_LABELS);
  });

  it("labels HermesNodes from values with the common labels and theirs, never with selector labels", async () => {
    const [hn] = find(await render({ hermesNodes: [MESH] }), "HermesNode");
    expect(hn.metadata).toMatchObject({ name: "mesh", namespace: "chat" });
    expect(hn.metadata.labels).toEqual({ ...COMMON_LABELS, team: "a" });
    for (const label of SELECTOR_LABELS) expect(hn.metadata.labels).not.toHaveProperty(label);
    expect(hn.spec).toEqual({ replicas: 3 });
  });

  it("makes only Pods test hooks, so `helm test --logs` finds a Pod for every hook", async () => {
    const objects = await render({
      hermesNodes: [MESH, { name: "other", namespace: "chat", spec: { service: { port: 7500 } } }],
    });
    const hooks = objects.filter((o) => o.metadata.annotations?.["helm.sh/hook"]);
    expect(hooks.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      "Pod/hermes-chat-check-mesh",
      "Pod/hermes-chat-check-other",
    ]);
    const pod = hooks.find((o) => o.metadata.name === "hermes-chat-check-other");
    expect(pod.spec.containers[0].command).toContain("other.chat.svc.cluster.local:7500");
    // helm 3.19 fetches test logs from the release's namespace: the Pods run there.
    for (const hook of hooks) expect(hook.metadata.namespace).toBe("hermes-system");
    // Not selected by the operator's Service or PodDisruptionBudget.
    expect(pod.metadata.labels["app.kubernetes.io/component"]).toBe("chat-check");
    // The script every test Pod mounts is an ordinary object of the release.
    const [script] = find(objects, "ConfigMap", "hermes-chat-check");
    expect(script.metadata.namespace).toBe("hermes-system");
    expect(script.metadata.annotations?.["helm.sh/hook"]).toBeUndefined();
    expect(script.data["chat-check.mjs"]).toBe(
      readFileSync(join(CHART, "files/chat-check.mjs"), "utf8").trimEnd(),
    );
    expect(pod.spec.volumes[0].configMap.name).toBe("hermes-chat-check");
  });

  it("renders the PrometheusRule only when its CRD is served and it is not turned off", async () => {
    expect(find(await render(), "PrometheusRule")).toEqual([]);
    expect(
      find(
        await render({ "metrics.prometheusRule.enabled": false }, [PROMETHEUS_RULE_API]),
        "PrometheusRule",
      ),
    ).toEqual([]);
    const [rule] = find(
      await render({ "metrics.prometheusRule.labels": { release: "kps" } }, [PROMETHEUS_RULE_API]),
      "PrometheusRule",
    );
    expect(rule.metadata).toMatchObject({ name: "hermes-alerts", namespace: "hermes-system" });
    expect(rule.metadata.labels).toEqual({ ...COMMON_LABELS, release: "kps" });
    const file = parseYaml(readFileSync(join(CHART, "files/prometheus-rules.yaml"), "utf8"));
    expect(rule.spec).toEqual(file);
    // Template text in annotations reaches Prometheus untouched (helm does not expand it).
    expect(JSON.stringify(rule.spec)).toContain("{{ $labels.pod }}");
  });

  it("ships exactly the alerts that docs/alerts.md and docs/kubernetes.md describe", () => {
    const block = (doc: string, marker: string) => {
      const text = readFileSync(join(REPO, "docs", doc), "utf8");
      const start = text.indexOf("```yaml\n", text.indexOf(marker)) + "```yaml\n".length;
      return parseYaml(text.slice(start, text.indexOf("```", start)));
    };
    const rules = (groups: { rules: { alert: string }[] }[]) =>
      new Map(groups.flatMap((g) => g.rules).map((r) => [r.alert, r]));
    const documented = rules([
      ...block("alerts.md", "## Rules").groups,
      ...block("kubernetes.md", "Suggested alerts for the Kubernetes side").groups,
    ]);
    const shipped = rules(parseYaml(readFileSync(join(CHART, "files/prometheus-rules.yaml"), "utf8")).groups);
    expect([...shipped.keys()].sort()).toEqual([...documented.keys()].sort());
    // On Kubernetes a node is down when its headless Service's target is (docs/kubernetes.md).
    expect(shipped.get("HermesNodeDown")).toMatchObject({ expr: 'up{service=~".+-mesh"} == 0' });
    for (const [name, rule] of shipped) {
      if (name !== "HermesNodeDown") expect(rule, name).toEqual(documented.get(name));
    }
  });

  it("renders the Grafana dashboard for the sidecar, with a panel for each thing operators watch", async () => {
    expect(find(await render(), "ConfigMap", "hermes-dashboard")).toEqual([]);
    const [dashboard] = find(
      await render({
        "metrics.grafanaDashboard": {
          enabled: true,
          namespace: "monitoring",
          annotations: { grafana_folder: "Hermes" },
        },
      }),
      "ConfigMap",
      "hermes-dashboard",
    );
    expect(dashboard.metadata.namespace).toBe("monitoring");
    expect(dashboard.metadata.labels).toMatchObject({ ...COMMON_LABELS, grafana_dashboard: "1" });
    expect(dashboard.metadata.annotations).toEqual({ grafana_folder: "Hermes" });
    const json = JSON.parse(dashboard.data["hermes-mesh.json"]);
    const exprs = json.panels.flatMap((p: KubeJson) => p.targets.map((t: KubeJson) => t.expr)).join("\n");
    for (const metric of [
      "hermes_mesh_members",
      "hermes_mesh_suspicions_total",
      "hermes_mesh_tielines",
      "hermes_mesh_routing_entries",
      "hermes_app_sessions",
      "hermes_chats",
      "hermes_messages_relayed_total",
      "hermes_mesh_relay_latency_seconds_bucket",
      "hermes_ack_latency_seconds_bucket",
      "hermes_limit_refusals_total",
    ]) {
      expect(exprs, metric).toContain(metric);
    }
  });

  it("refuses a dashboard namespace that is not a DNS label, naming the value", async () => {
    const r = await run(
      helm,
      [
        "template",
        "hermes",
        CHART,
        "--kube-version",
        KUBE_VERSION,
        "--set",
        "metrics.grafanaDashboard.namespace=Not_A",
      ],
      { allowFail: true },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("/metrics/grafanaDashboard/namespace");
    expect(r.stderr).toContain("'Not_A' does not match");
  });
});
