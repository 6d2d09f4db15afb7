import { createPrivateKey, X509Certificate } from "node:crypto";
import { KubeConfig, type V1Secret } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { KubeClient } from "../../operator/dist/kube/client.js";
import { Cluster, secretData } from "./support/cluster.js";
import { condition, hermesNodeYaml, writeStatefulSetStatus } from "./support/hermesnode.js";
import { OperatorProcess } from "./support/operator.js";
import { eventually } from "./support/processes.js";

/**
 * One HermesNode through its life with the operator running under the chart's RBAC: creation,
 * status, nodes becoming ready, scaling, rolling changes, objects deleted or edited by hand, and
 * an invalid spec. There is no kubelet: a test plays the StatefulSet controller by writing the
 * StatefulSet's status.
 */
const cluster = new Cluster();
const ns = "chat";
let op: OperatorProcess;

const hn = () => cluster.mustGet("hermesnode", "mesh", ns);
const sts = () => cluster.mustGet("statefulset", "mesh", ns);
const managedFields = async (kind: string, name: string) =>
  JSON.parse(
    (await cluster.kubectl(["get", kind, name, "-n", ns, "-o", "json", "--show-managed-fields"])).stdout,
  ).metadata.managedFields;
const tlsData = async () => secretData(await cluster.mustGet("secret", "mesh-tls", ns));
const caPem = async () => secretData(await cluster.mustGet("secret", "mesh-ca", ns))["tls.crt"]!;
const patchHn = (patch: object) =>
  cluster.kubectl([
    "patch",
    "hermesnode",
    "mesh",
    "-n",
    ns,
    "--type=merge",
    "-p",
    JSON.stringify({ spec: patch }),
  ]);

/** Writes the StatefulSet status as its controller would. */
const setStatefulSetStatus = (replicas: number, ready = replicas, updated = replicas) =>
  writeStatefulSetStatus(cluster, ns, "mesh", { replicas, ready, updated });

async function eventReasons(name: string): Promise<string[]> {
  const list = JSON.parse(
    (await cluster.kubectl(["get", "events.events.k8s.io", "-n", ns, "-o", "json"])).stdout,
  );
  return list.items
    .filter(
      (e: { regarding?: { kind: string; name: string } }) =>
        e.regarding?.kind === "HermesNode" && e.regarding.name === name,
    )
    .map((e: { reason: string }) => e.reason);
}

beforeAll(async () => {
  await cluster.createNamespace(ns);
  op = await OperatorProcess.start(cluster);
  await op.waitUntilLeading();
  await cluster.apply(
    hermesNodeYaml("mesh", { replicas: 3, metrics: { serviceMonitor: { labels: { release: "prom" } } } }),
    ns,
  );
  await eventually(() => sts(), 30_000);
});

afterAll(async () => {
  await op?.stop();
});

describe("a new HermesNode", () => {
  it("owns a StatefulSet that runs the nodes as the chart's default image", async () => {
    const owner = await hn();
    const s = await sts();
    expect(s.metadata.ownerReferences).toEqual([
      {
        apiVersion: "hermes.io/v1alpha1",
        kind: "HermesNode",
        name: "mesh",
        uid: owner.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(s.spec).toMatchObject({
      replicas: 3,
      serviceName: "mesh-mesh",
      podManagementPolicy: "Parallel",
      selector: {
        matchLabels: { "app.kubernetes.io/name": "hermes-node", "app.kubernetes.io/instance": "mesh" },
      },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: "Delete", whenScaled: "Retain" },
    });
    const pod = s.spec.template.spec;
    const node = pod.containers[0];
    expect(node.image).toBe("hermes-node:test");
    expect(node.args).toEqual(["node"]);
    expect(pod.enableServiceLinks).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 });
    expect(
      Object.fromEntries(
        node.env
          .filter((e: { value?: string }) => e.value)
          .map((e: { name: string; value: string }) => [e.name, e.value]),
      ),
    ).toEqual({
      HERMES_CONFIG: "/etc/hermes/config/config.yaml",
      HERMES_NODE_NAME: "$(POD_NAME)",
      HERMES_ADVERTISE_APP: "$(POD_NAME).mesh-mesh.chat.svc.cluster.local:7400",
      HERMES_MESH_ADVERTISE: "$(POD_NAME).mesh-mesh.chat.svc.cluster.local:7401",
      HERMES_MESH_TLS_CERT: "/etc/hermes/tls/$(POD_NAME).crt",
      HERMES_MESH_TLS_KEY: "/etc/hermes/tls/$(POD_NAME).key",
      HERMES_MESH_TLS_CA: "/etc/hermes/tls/ca.crt",
    });
    expect(node.readinessProbe.httpGet).toMatchObject({ path: "/readyz", port: "admin" });
    expect(s.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("1Gi");
    expect(s.spec.template.metadata.annotations["hermes.io/config-hash"]).toMatch(/^[0-9a-f]{16}$/);
    expect(s.spec.template.metadata.annotations["hermes.io/tls-generation"]).toBe("1");
    // One field manager, applying.
    const fields = await managedFields("statefulset", "mesh");
    expect(fields.filter((m: { manager: string }) => m.manager === "hermes-operator")).toEqual([
      expect.objectContaining({ manager: "hermes-operator", operation: "Apply" }),
    ]);
  });

  it("owns a headless Service for peer DNS and a client Service for apps", async () => {
    const headless = await cluster.mustGet("service", "mesh-mesh", ns);
    expect(headless.spec).toMatchObject({ clusterIP: "None", publishNotReadyAddresses: true });
    expect(headless.spec.ports.map((p: { name: string; port: number }) => [p.name, p.port])).toEqual([
      ["mesh", 7401],
      ["app", 7400],
      ["metrics", 7402],
    ]);
    const client = await cluster.mustGet("service", "mesh", ns);
    expect(client.spec).toMatchObject({
      type: "ClusterIP",
      ports: [{ name: "app", port: 7400, targetPort: "app" }],
    });
    expect(client.spec.clusterIP).not.toBe("None");
  });

  it("owns a ConfigMap with the node config: SRV bootstrap, data dir, passphrase file", async () => {
    const cm = await cluster.mustGet("configmap", "mesh-config", ns);
    expect(parse(cm.data["config.yaml"])).toEqual({
      dataDir: "/var/lib/hermes",
      listen: { app: "0.0.0.0:7400", admin: "0.0.0.0:7402" },
      log: { level: "info" },
      keystore: { passphraseFile: "/etc/hermes/keystore/passphrase" },
      mesh: { listen: "0.0.0.0:7401", dns: "_mesh._tcp.mesh-mesh.chat.svc.cluster.local", peers: [] },
    });
  });

  it("owns a keystore passphrase, a CA and a certificate per pod that chains to it", async () => {
    const passphrase = secretData(await cluster.mustGet("secret", "mesh-keystore", ns)).passphrase!;
    expect(passphrase).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const ca = new X509Certificate(await caPem());
    expect(ca.ca).toBe(true);
    const data = await tlsData();
    expect(Object.keys(data).sort()).toEqual([
      "ca.crt",
      "mesh-0.crt",
      "mesh-0.key",
      "mesh-1.crt",
      "mesh-1.key",
      "mesh-2.crt",
      "mesh-2.key",
    ]);
    expect(data["ca.crt"]!.trim()).toBe((await caPem()).trim());
    for (const pod of ["mesh-0", "mesh-1", "mesh-2"]) {
      const cert = new X509Certificate(data[`${pod}.crt`]!);
      expect(cert.ca).toBe(false);
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.checkPrivateKey(createPrivateKey(data[`${pod}.key`]!))).toBe(true);
      expect(cert.subjectAltName).toContain(`DNS:${pod}.mesh-mesh.chat.svc.cluster.local`);
      expect(cert.subjectAltName).toContain("DNS:mesh.chat.svc.cluster.local");
      expect(cert.subjectAltName).toContain("IP Address:127.0.0.1");
      expect(cert.checkHost(`${pod}.mesh-mesh.chat.svc.cluster.local`)).toBeDefined();
    }
  });

  it("owns a PodDisruptionBudget, and no ServiceMonitor while that API is not served", async () => {
    const pdb = await cluster.mustGet("poddisruptionbudget", "mesh", ns);
    expect(pdb.spec).toMatchObject({
      maxUnavailable: 1,
      selector: { matchLabels: { "app.kubernetes.io/instance": "mesh" } },
    });
    await eventually(async () => expect(await eventReasons("mesh")).toContain("ServiceMonitorSkipped"));
  });

  it("reports observedGeneration, phase, conditions and where to connect", async () => {
    const h = await eventually(async () => {
      const h = await hn();
      expect(h.status?.observedGeneration).toBe(1);
      return h;
    });
    expect(h.status).toMatchObject({
      phase: "Pending",
      replicas: 0,
      readyReplicas: 0,
      image: "hermes-node:test",
      selector: "app.kubernetes.io/name=hermes-node,app.kubernetes.io/instance=mesh",
      bootstrap: "_mesh._tcp.mesh-mesh.chat.svc.cluster.local",
      clientService: "mesh.chat.svc.cluster.local:7400",
    });
    expect(condition(h, "Ready")).toMatchObject({
      status: "False",
      reason: "NoNodesReady",
      message: "0/3 nodes are ready",
      observedGeneration: 1,
    });
    expect(condition(h, "Progressing")).toMatchObject({ status: "True" });
    expect(["Creating", "Updating"]).toContain(condition(h, "Progressing")!.reason);
    expect(condition(h, "Degraded")).toMatchObject({ status: "False", reason: "AsExpected" });
    expect(condition(h, "CertificatesReady")).toMatchObject({ status: "True", reason: "Issued" });
    expect(h.status.certificates.notAfter).toBeDefined();
  });

  it("shows in kubectl get hermesnodes (and hn, and -o wide)", async () => {
    const out = (await cluster.kubectl(["get", "hermesnodes", "-n", ns])).stdout.trim().split("\n");
    expect(out[0]!.split(/\s+/)).toEqual(["NAME", "REPLICAS", "READY", "MEMBERS", "PHASE", "TLS", "AGE"]);
    expect(out[1]).toMatch(/^mesh\s+3\s+0\s+Pending\s+Operator\s+\d+s$/);
    const wide = (await cluster.kubectl(["get", "hn", "-n", ns, "-o", "wide"])).stdout.trim().split("\n");
    expect(wide[0]!.split(/\s+/)).toEqual([
      "NAME",
      "REPLICAS",
      "READY",
      "MEMBERS",
      "PHASE",
      "TLS",
      "AGE",
      "REASON",
      "IMAGE",
      "BOOTSTRAP",
    ]);
    expect(wide[1]).toMatch(
      /NoNodesReady\s+hermes-node:test\s+_mesh\._tcp\.mesh-mesh\.chat\.svc\.cluster\.local$/,
    );
  });

  it("tells what it did in events", async () => {
    await eventually(async () => {
      expect(await eventReasons("mesh")).toEqual(
        expect.arrayContaining(["CACreated", "CertificatesIssued", "Created"]),
      );
    });
  });
});

describe("nodes coming up", () => {
  it("is Ready and Running once every node runs the current template and is ready", async () => {
    await setStatefulSetStatus(3);
    const h = await eventually(async () => {
      const h = await hn();
      expect(h.status.phase).toBe("Running");
      return h;
    });
    expect(condition(h, "Ready")).toMatchObject({
      status: "True",
      reason: "NodesReady",
      message: "3/3 nodes are ready",
    });
    expect(condition(h, "Progressing")).toMatchObject({ status: "False", reason: "Complete" });
    await cluster.kubectl(["wait", "--for=condition=Ready", "hermesnode/mesh", "-n", ns, "--timeout=5s"]);
    expect(await eventReasons("mesh")).toContain("Ready");
  });

  it("is Degraded when a running mesh loses a node, and recovers", async () => {
    await setStatefulSetStatus(3, 2);
    await eventually(async () =>
      expect(condition(await hn(), "Degraded")).toMatchObject({ status: "True", reason: "NodesNotReady" }),
    );
    expect((await hn()).status.phase).toBe("Degraded");
    await setStatefulSetStatus(3);
    await eventually(async () => expect((await hn()).status.phase).toBe("Running"));
    expect(await eventReasons("mesh")).toEqual(expect.arrayContaining(["NodesNotReady", "Recovered"]));
  });
});

describe("spec updates", () => {
  it("scales up, issuing certificates for the new pods only, without rolling the others", async () => {
    const before = await tlsData();
    await cluster.kubectl(["scale", "hermesnode", "mesh", "-n", ns, "--replicas=5"]); // the scale subresource
    await eventually(async () => expect((await sts()).spec.replicas).toBe(5));
    const after = await eventually(async () => {
      const d = await tlsData();
      expect(Object.keys(d)).toEqual(expect.arrayContaining(["mesh-3.crt", "mesh-4.key"]));
      return d;
    });
    expect(after["mesh-0.crt"]).toBe(before["mesh-0.crt"]);
    expect((await sts()).spec.template.metadata.annotations["hermes.io/tls-generation"]).toBe("1");
    await setStatefulSetStatus(3); // the controller has seen the new spec; two pods are still to come
    await eventually(async () =>
      expect(condition(await hn(), "Progressing")).toMatchObject({ status: "True", reason: "ScalingUp" }),
    );
    expect(await eventReasons("mesh")).toContain("Scaling");
  });

  it("scales down, keeping certificates of pods still shutting down until they are gone", async () => {
    await setStatefulSetStatus(5);
    await patchHn({ replicas: 2 });
    await eventually(async () => expect((await sts()).spec.replicas).toBe(2));
    // Five pods still exist: all keep their certificates.
    expect(Object.keys(await tlsData()).filter((k) => k.endsWith(".crt"))).toHaveLength(6);
    await setStatefulSetStatus(2);
    await eventually(async () =>
      expect(Object.keys(await tlsData()).sort()).toEqual([
        "ca.crt",
        "mesh-0.crt",
        "mesh-0.key",
        "mesh-1.crt",
        "mesh-1.key",
      ]),
    );
    await eventually(async () => expect((await hn()).status.phase).toBe("Running"));
  });

  it("rolls the pods to a new image", async () => {
    await patchHn({ image: "hermes-node:v2" });
    await eventually(async () =>
      expect((await sts()).spec.template.spec.containers[0].image).toBe("hermes-node:v2"),
    );
    await eventually(async () => expect((await hn()).status.image).toBe("hermes-node:v2"));
    expect(await eventReasons("mesh")).toContain("RollingUpdate");
  });

  it("rolls the pods when the node config changes", async () => {
    const hash = (await sts()).spec.template.metadata.annotations["hermes.io/config-hash"];
    await patchHn({ logLevel: "debug", config: { limits: { maxSessions: 5000 } } });
    await eventually(async () => {
      const config = parse((await cluster.mustGet("configmap", "mesh-config", ns)).data["config.yaml"]);
      expect(config.limits).toEqual({ maxSessions: 5000 });
      expect(config.log).toEqual({ level: "debug" });
    });
    await eventually(async () =>
      expect((await sts()).spec.template.metadata.annotations["hermes.io/config-hash"]).not.toBe(hash),
    );
    expect(await eventReasons("mesh")).toContain("ConfigChanged");
  });

  it("removes the PodDisruptionBudget when it is turned off", async () => {
    await patchHn({ disruptionBudget: { enabled: false } });
    await eventually(async () =>
      expect(await cluster.get("poddisruptionbudget", "mesh", ns)).toBeUndefined(),
    );
    await patchHn({ disruptionBudget: { enabled: true } });
    await eventually(() => cluster.mustGet("poddisruptionbudget", "mesh", ns));
  });
});

describe("repairs", () => {
  it("recreates owned objects deleted by hand, keeping the CA and the passphrase", async () => {
    const ca = await caPem();
    const passphrase = secretData(await cluster.mustGet("secret", "mesh-keystore", ns)).passphrase;
    const objects = [
      ["statefulset", "mesh"],
      ["service", "mesh"],
      ["service", "mesh-mesh"],
      ["configmap", "mesh-config"],
      ["secret", "mesh-tls"],
      ["poddisruptionbudget", "mesh"],
    ] as const;
    const uids = new Map<string, string>();
    for (const [kind, name] of objects)
      uids.set(`${kind}/${name}`, (await cluster.mustGet(kind, name, ns)).metadata.uid);
    await cluster.kubectl(["delete", "-n", ns, ...objects.map(([k, n]) => `${k}/${n}`), "--wait=false"]);
    await eventually(async () => {
      for (const [kind, name] of objects) {
        const obj = await cluster.mustGet(kind, name, ns);
        expect(obj.metadata.uid, `${kind}/${name} recreated`).not.toBe(uids.get(`${kind}/${name}`));
      }
    });
    expect(await caPem()).toBe(ca);
    expect(secretData(await cluster.mustGet("secret", "mesh-keystore", ns)).passphrase).toBe(passphrase);
  });

  it("replaces a deleted CA, reissues every node certificate under it and rolls the pods", async () => {
    const oldCa = await caPem();
    const generation = Number((await sts()).spec.template.metadata.annotations["hermes.io/tls-generation"]);
    await setStatefulSetStatus(2);
    await cluster.kubectl(["delete", "secret", "mesh-ca", "-n", ns]);
    const newCa = await eventually(async () => {
      const pem = await caPem();
      expect(pem).not.toBe(oldCa);
      return new X509Certificate(pem);
    });
    await eventually(async () => {
      const data = await tlsData();
      for (const pod of ["mesh-0", "mesh-1"])
        expect(new X509Certificate(data[`${pod}.crt`]!).verify(newCa.publicKey)).toBe(true);
      expect(Number((await sts()).spec.template.metadata.annotations["hermes.io/tls-generation"])).toBe(
        generation + 1,
      );
    });
    expect(await eventReasons("mesh")).toContain("CertificatesRenewed");
  });

  it("writes a CA Secret it read only while it is still that Secret: one deleted meanwhile stays deleted", async () => {
    // What an in-flight reconcile does with the CA Secret it read before the user deleted it. An
    // apply would create it again, old CA and all; the conditional write is refused instead.
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.info.adminKubeconfig);
    const client = new KubeClient(kc);
    const path = `/api/v1/namespaces/${ns}/secrets/held-ca`;
    const body = { apiVersion: "v1", kind: "Secret", metadata: { name: "held-ca", namespace: ns } };
    await client.apply(path, { ...body, data: { "tls.crt": "b2xk" } }, "test", true);
    const read = (await client.get<V1Secret>(path))!;
    const write = {
      ...body,
      metadata: { ...body.metadata, resourceVersion: read.metadata!.resourceVersion },
    };

    await client.apply(path, { ...body, data: { "tls.crt": "bmV3" } }, "test", true);
    await expect(client.mergePatch(path, write, "test")).rejects.toMatchObject({ status: 409 });
    await cluster.kubectl(["delete", "secret", "held-ca", "-n", ns]);
    await expect(client.mergePatch(path, write, "test")).rejects.toMatchObject({ status: 404 });
    expect(await client.get(path)).toBeUndefined();
  });

  it("takes its fields back from other field managers (server-side apply conflicts)", async () => {
    await cluster.kubectl(["scale", "statefulset", "mesh", "-n", ns, "--replicas=9"]);
    await cluster.kubectl([
      "patch",
      "configmap",
      "mesh-config",
      "-n",
      ns,
      "--type=merge",
      "-p",
      '{"data":{"config.yaml":"tampered: true\\n"}}',
    ]);
    await cluster.kubectl([
      "label",
      "service",
      "mesh",
      "-n",
      ns,
      "app.kubernetes.io/managed-by=someone-else",
      "--overwrite",
    ]);
    await eventually(async () => {
      expect((await sts()).spec.replicas).toBe(2);
      expect((await cluster.mustGet("configmap", "mesh-config", ns)).data["config.yaml"]).toContain(
        "dataDir: /var/lib/hermes",
      );
      expect(
        (await cluster.mustGet("service", "mesh", ns)).metadata.labels["app.kubernetes.io/managed-by"],
      ).toBe("hermes-operator");
    });
  });
});

describe("a spec the schema accepts but the nodes could not run", () => {
  it("fails with a condition that says what is wrong, builds nothing, and does not retry in a loop", async () => {
    await cluster.apply(
      hermesNodeYaml("bad", { resources: { requests: { memory: "2Gi" }, limits: { memory: "1Gi" } } }),
      ns,
    );
    const h = await eventually(async () => {
      const h = await cluster.mustGet("hermesnode", "bad", ns);
      expect(h.status?.phase).toBe("Failed");
      return h;
    });
    expect(condition(h, "Degraded")).toMatchObject({
      status: "True",
      reason: "InvalidSpec",
      message: "spec.resources.requests.memory (2Gi) exceeds spec.resources.limits.memory (1Gi)",
    });
    expect(condition(h, "Ready")).toMatchObject({ status: "False", reason: "InvalidSpec" });
    expect(await cluster.get("statefulset", "bad", ns)).toBeUndefined();
    expect(await eventReasons("bad")).toContain("InvalidSpec");
    const invalid = () =>
      op
        .metrics()
        .then((m) => Number(/hermes_operator_reconcile_total\{result="invalid"\} (\d+)/.exec(m)?.[1] ?? 0));
    const count = await invalid();
    await new Promise((r) => setTimeout(r, 3000));
    expect(await invalid()).toBeLessThanOrEqual(count + 1);
    expect(op.proc.running).toBe(true);
  });

  it("recovers once the spec is fixed", async () => {
    await cluster.kubectl([
      "patch",
      "hermesnode",
      "bad",
      "-n",
      ns,
      "--type=merge",
      "-p",
      '{"spec":{"resources":{"limits":{"memory":"4Gi"}}}}',
    ]);
    await eventually(() => cluster.mustGet("statefulset", "bad", ns));
    await eventually(async () => {
      const h = await cluster.mustGet("hermesnode", "bad", ns);
      expect(h.status.phase).toBe("Pending");
      expect(condition(h, "Degraded")).toMatchObject({ status: "False" });
    });
  });
});

describe("the operator", () => {
  it("serves its metrics: reconciles by result, queue depth, durations, resumed watches", async () => {
    const m = await op.metrics();
    expect(m).toMatch(/hermes_operator_reconcile_total\{result="success"\} [1-9]/);
    expect(m).toMatch(/hermes_operator_workqueue_depth \d+/);
    expect(m).toMatch(/hermes_operator_reconcile_duration_seconds_count [1-9]/);
    expect(m).toMatch(/hermes_operator_hermesnodes\{phase="\w+"\} [12]/);
    expect(m).toMatch(
      /hermes_operator_certificate_expiry_timestamp_seconds\{namespace="chat",name="mesh"\} \d+/,
    );
    // Watches end every 5 s here (--watch-timeout-seconds) and resume from their resourceVersion.
    expect(m).toMatch(
      /hermes_operator_watch_restarts_total\{resource="statefulsets",reason="closed"\} [1-9]/,
    );
  });

  it("made no API call the chart's RBAC forbids", () => {
    expect(op.forbidden()).toEqual([]);
  });
});
