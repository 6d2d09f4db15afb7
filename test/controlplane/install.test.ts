import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Cluster, fixture } from "./support/cluster.js";

const REPO = resolve(import.meta.dirname, "../..");
const CHART = join(REPO, "charts/hermes");
const release = inject("release");
const cluster = new Cluster();
const SA = `system:serviceaccount:${release.namespace}:${release.serviceAccount}`;

// The stand-in ServiceMonitor and Certificate APIs exist only during this file.
const FIXTURES = ["prometheus-operator-crds.yaml", "cert-manager-crds.yaml"];
beforeAll(async () => {
  for (const f of FIXTURES) await cluster.apply(fixture(f));
  await cluster.kubectl([
    "wait",
    "--for=condition=Established",
    "crd/servicemonitors.monitoring.coreos.com",
    "crd/certificates.cert-manager.io",
  ]);
});
afterAll(async () => {
  await cluster.kubectl([
    "delete",
    "--wait",
    "crd",
    "servicemonitors.monitoring.coreos.com",
    "certificates.cert-manager.io",
  ]);
});

describe("helm install hermes ./charts/hermes", () => {
  it("is deployed, with the HermesNode CRD established and the operator's objects", async () => {
    const status = JSON.parse(
      (await cluster.helm(["status", release.name, "-n", release.namespace, "-o", "json"])).stdout,
    );
    expect(status.info.status).toBe("deployed");
    const crd = await cluster.mustGet("crd", "hermesnodes.hermes.io");
    expect(crd.status.conditions).toContainEqual(
      expect.objectContaining({ type: "Established", status: "True" }),
    );
    expect(crd.spec.names.shortNames).toEqual(["hn"]);
    for (const [kind, name, ns] of [
      ["serviceaccount", "hermes-operator", release.namespace],
      ["deployment", "hermes-operator", release.namespace],
      ["service", "hermes-operator-metrics", release.namespace],
      ["role", "hermes-operator-leader-election", release.namespace],
      ["rolebinding", "hermes-operator-leader-election", release.namespace],
      ["clusterrole", "hermes-operator", undefined],
      ["clusterrolebinding", "hermes-operator", undefined],
    ] as const) {
      expect(await cluster.get(kind, name, ns), `${kind} ${name}`).toBeDefined();
    }
    const deployment = await cluster.mustGet("deployment", "hermes-operator", release.namespace);
    const container = deployment.spec.template.spec.containers[0];
    expect(container.args).toEqual(
      expect.arrayContaining([
        "--default-node-image=hermes-node:test",
        "--leader-elect=true",
        "--leader-election-id=hermes-operator",
      ]),
    );
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(deployment.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true });
  });

  it("prints notes on how to make and watch a HermesNode", async () => {
    const notes = (await cluster.helm(["get", "notes", release.name, "-n", release.namespace])).stdout;
    expect(notes).toContain("manages HermesNodes in every namespace");
    expect(notes).toContain("kubectl -n hermes-system rollout status deployment/hermes-operator");
    expect(notes).toContain("kind: HermesNode");
    expect(notes).toContain("kubectl get hermesnodes -A -o wide");
  });

  it("helm lint is clean, strictly", async () => {
    const lint = await cluster.helm(["lint", "--strict", CHART]);
    expect(lint.stdout).toContain("0 chart(s) failed");
    expect(lint.stderr).toBe("");
  });

  const variants: Record<string, string[]> = {
    defaults: [],
    "namespaced RBAC, standby replica, ServiceMonitor, HermesNodes from values": [
      "--set",
      "watchNamespaces={team-a,team-b}",
      "--set",
      "replicaCount=2",
      "--set",
      "metrics.serviceMonitor.enabled=true",
      "--set",
      "metrics.serviceMonitor.labels.release=prometheus",
      "--set",
      "hermesNodes[0].name=mesh",
      "--set",
      "hermesNodes[0].spec.replicas=5",
      "--set",
      "hermesNodes[1].name=edge",
      "--set",
      "hermesNodes[1].namespace=team-b",
      "--set",
      "hermesNodes[1].spec.tls.mode=Disabled",
    ],
    "no leader election, existing ServiceAccount": [
      "--set",
      "leaderElection.enabled=false",
      "--set",
      "serviceAccount.create=false",
      "--set",
      "serviceAccount.name=custom",
    ],
  };

  it.each(Object.entries(variants))(
    "renders manifests the API server accepts (server-side dry run): %s",
    async (_name, args) => {
      for (const ns of ["team-a", "team-b"])
        await cluster.kubectl(["create", "namespace", ns], { allowFail: true });
      const rendered = (
        await cluster.helm([
          "template",
          "dryrun",
          CHART,
          "--namespace",
          release.namespace,
          "--kube-version",
          "1.34.4",
          ...args,
        ])
      ).stdout;
      // Strict field validation: an unknown or misspelt field fails, not just a wrong type.
      const result = await cluster.kubectl(
        [
          "apply",
          "--dry-run=server",
          "--server-side",
          "--validate=strict",
          "--field-manager=dryrun",
          "-f",
          "-",
        ],
        { input: rendered, allowFail: true },
      );
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(
        /deployment.apps\/dryrun-hermes-operator serverside-applied \(server dry run\)/,
      );
    },
  );

  it("rejects values the schema does not allow", async () => {
    const bad = await cluster.helm(
      [
        "template",
        "x",
        CHART,
        "--kube-version",
        "1.34.4",
        "--set",
        "replicaCount=9",
        "--set",
        "logLevel=loud",
      ],
      {
        allowFail: true,
      },
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("replicaCount");
    expect(bad.stderr).toContain("logLevel");
  });
});

describe("the chart's RBAC (least privilege)", () => {
  /** `resource/name`, or `resource#subresource`. */
  const can = async (verb: string, resource: string, ns?: string) => {
    const [res, sub] = resource.split("#");
    const args = [
      "auth",
      "can-i",
      verb,
      res!,
      `--as=${SA}`,
      ...(ns ? ["-n", ns] : []),
      ...(sub ? [`--subresource=${sub}`] : []),
    ];
    const r = await cluster.kubectl(args, { allowFail: true });
    return r.stdout.trim() === "yes";
  };

  it("grants what the operator does", async () => {
    for (const [verb, resource] of [
      ["watch", "hermesnodes.hermes.io"],
      ["patch", "hermesnodes.hermes.io#status"],
      ["patch", "statefulsets.apps"],
      ["create", "statefulsets.apps"],
      ["delete", "poddisruptionbudgets.policy"],
      ["create", "secrets"],
      ["watch", "configmaps"],
      ["patch", "services"],
      ["list", "pods"],
      ["create", "events.events.k8s.io"],
      ["patch", "servicemonitors.monitoring.coreos.com"],
      ["patch", "certificates.cert-manager.io"],
    ]) {
      expect(await can(verb!, resource!, "anywhere"), `${verb} ${resource}`).toBe(true);
    }
    expect(await can("update", "leases.coordination.k8s.io/hermes-operator", release.namespace)).toBe(true);
  });

  it("grants nothing more", async () => {
    for (const [verb, resource, ns] of [
      ["update", "hermesnodes.hermes.io", "anywhere"],
      ["update", "hermesnodes.hermes.io#status", "anywhere"],
      ["delete", "hermesnodes.hermes.io", "anywhere"],
      ["create", "pods", "anywhere"],
      ["get", "pods", "anywhere"],
      ["update", "statefulsets.apps", "anywhere"],
      ["delete", "namespaces", undefined],
      ["create", "clusterroles.rbac.authorization.k8s.io", undefined],
      ["get", "nodes", undefined],
      ["update", "leases.coordination.k8s.io/other", release.namespace],
      ["create", "leases.coordination.k8s.io", "kube-system"],
      ["patch", "customresourcedefinitions.apiextensions.k8s.io", undefined],
    ] as const) {
      expect(await can(verb, resource, ns), `${verb} ${resource}`).toBe(false);
    }
  });
});
