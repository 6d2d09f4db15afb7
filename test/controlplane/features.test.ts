import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Cluster, fixture, secretData } from "./support/cluster.js";
import { condition, hermesNodeYaml } from "./support/hermesnode.js";
import { OperatorProcess } from "./support/operator.js";
import { eventually } from "./support/processes.js";

/**
 * Optional integrations and the other TLS modes: ServiceMonitor and cert-manager Certificate
 * (their CRDs are stand-ins here; a test plays cert-manager), peered HermesNodes, plain-text
 * development meshes and a user-supplied passphrase Secret.
 */
const cluster = new Cluster();
const ns = "features";
let op: OperatorProcess;
const CRDS = ["servicemonitors.monitoring.coreos.com", "certificates.cert-manager.io"];

beforeAll(async () => {
  await cluster.createNamespace(ns);
  await cluster.apply(fixture("prometheus-operator-crds.yaml"));
  await cluster.apply(fixture("cert-manager-crds.yaml"));
  await cluster.kubectl(["wait", "--for=condition=Established", ...CRDS.map((c) => `crd/${c}`)]);
  op = await OperatorProcess.start(cluster);
  await op.waitUntilLeading();
});

afterAll(async () => {
  await op?.stop();
  await cluster.kubectl(["delete", "--wait", "crd", ...CRDS], { allowFail: true });
});

describe("Prometheus", () => {
  it("gets a ServiceMonitor for the nodes' metrics port, with the labels asked for", async () => {
    await cluster.apply(
      hermesNodeYaml("watched", {
        replicas: 1,
        metrics: { serviceMonitor: { interval: "15s", labels: { release: "prom" } } },
      }),
      ns,
    );
    const sm = await eventually(() => cluster.mustGet("servicemonitor", "watched", ns));
    expect(sm.metadata.labels).toMatchObject({
      release: "prom",
      "app.kubernetes.io/managed-by": "hermes-operator",
    });
    expect(sm.spec).toEqual({
      selector: {
        matchLabels: expect.objectContaining({
          "app.kubernetes.io/instance": "watched",
          "app.kubernetes.io/component": "mesh",
        }),
      },
      endpoints: [{ port: "metrics", path: "/metrics", interval: "15s", scheme: "http" }],
      podTargetLabels: ["app.kubernetes.io/instance"],
    });
    // The selector picks the headless Service, whose "metrics" port reaches every node.
    const headless = await cluster.mustGet("service", "watched-mesh", ns);
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels))
      expect(headless.metadata.labels[k]).toBe(v);
  });

  it("loses the ServiceMonitor when it is turned off", async () => {
    await cluster.kubectl([
      "patch",
      "hn",
      "watched",
      "-n",
      ns,
      "--type=merge",
      "-p",
      '{"spec":{"metrics":{"serviceMonitor":{"enabled":false}}}}',
    ]);
    await eventually(async () => expect(await cluster.get("servicemonitor", "watched", ns)).toBeUndefined());
  });
});

describe("TLS by cert-manager", () => {
  it("asks for a Certificate, mounts its Secret, and is not Ready until it is issued", async () => {
    await cluster.apply(
      hermesNodeYaml("managed", {
        replicas: 2,
        tls: { mode: "CertManager", issuerRef: { name: "mesh-ca", kind: "ClusterIssuer" } },
      }),
      ns,
    );
    const cert = await eventually(() => cluster.mustGet("certificate", "managed-mesh", ns));
    expect(cert.spec).toMatchObject({
      secretName: "managed-mesh-tls",
      dnsNames: expect.arrayContaining([
        "*.managed-mesh.features.svc.cluster.local",
        "managed.features.svc.cluster.local",
      ]),
      issuerRef: { name: "mesh-ca", kind: "ClusterIssuer", group: "cert-manager.io" },
      usages: ["digital signature", "server auth", "client auth"],
    });
    const sts = await eventually(() => cluster.mustGet("statefulset", "managed", ns));
    expect(sts.spec.template.spec.volumes).toContainEqual({
      name: "tls",
      secret: { secretName: "managed-mesh-tls", defaultMode: 0o440 },
    });
    expect(
      parse((await cluster.mustGet("configmap", "managed-config", ns)).data["config.yaml"]).mesh.tls,
    ).toEqual({
      cert: "/etc/hermes/tls/tls.crt",
      key: "/etc/hermes/tls/tls.key",
      ca: "/etc/hermes/tls/ca.crt",
    });
    expect(await cluster.get("secret", "managed-ca", ns)).toBeUndefined();
    await eventually(async () => {
      const h = await cluster.mustGet("hermesnode", "managed", ns);
      expect(condition(h, "CertificatesReady")).toMatchObject({
        status: "False",
        reason: "CertificateNotReady",
      });
      expect(condition(h, "Ready")).toMatchObject({ status: "False", reason: "CertificatesNotReady" });
    });
  });

  it("turns CertificatesReady once cert-manager reports the Certificate ready", async () => {
    const status = {
      conditions: [{ type: "Ready", status: "True", reason: "Ready", message: "issued" }],
      notAfter: "2030-01-01T00:00:00Z",
    };
    await cluster.patchStatus("certificate", "managed-mesh", ns, status);
    await eventually(async () => {
      const h = await cluster.mustGet("hermesnode", "managed", ns);
      expect(condition(h, "CertificatesReady")).toMatchObject({ status: "True", reason: "Issued" });
      expect(h.status.certificates.notAfter).toBe("2030-01-01T00:00:00.000Z");
    });
  });
});

describe("other modes", () => {
  it("runs a plain-text development mesh without certificates when TLS is Disabled", async () => {
    await cluster.apply(
      hermesNodeYaml("dev", { replicas: 1, tls: { mode: "Disabled" }, storage: { ephemeral: true } }),
      ns,
    );
    const sts = await eventually(() => cluster.mustGet("statefulset", "dev", ns));
    expect(sts.spec.volumeClaimTemplates).toBeUndefined();
    expect(sts.spec.template.spec.volumes.map((v: { name: string }) => v.name)).not.toContain("tls");
    expect(
      parse((await cluster.mustGet("configmap", "dev-config", ns)).data["config.yaml"]).mesh.insecure,
    ).toBe(true);
    await eventually(async () =>
      expect(condition(await cluster.mustGet("hermesnode", "dev", ns), "CertificatesReady")).toMatchObject({
        status: "True",
        reason: "TLSDisabled",
      }),
    );
  });

  it("trusts the CA of a peered HermesNode and seeds its headless Service", async () => {
    await cluster.apply(hermesNodeYaml("east", { replicas: 1 }), ns);
    const eastCa = await eventually(
      async () => secretData(await cluster.mustGet("secret", "east-ca", ns))["tls.crt"]!,
    );
    await cluster.apply(hermesNodeYaml("west", { replicas: 1, mesh: { peerNodes: [{ name: "east" }] } }), ns);
    await eventually(async () => {
      const bundle = secretData(await cluster.mustGet("secret", "west-tls", ns))["ca.crt"]!;
      const subjects = bundle
        .match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!
        .map((p) => new X509Certificate(p).subject);
      expect(subjects).toContain(new X509Certificate(eastCa).subject);
      expect(subjects).toHaveLength(2);
    });
    const config = parse((await cluster.mustGet("configmap", "west-config", ns)).data["config.yaml"]);
    expect(config.mesh.peers).toEqual(["east-mesh.features.svc.cluster.local:7401"]);
  });

  it("waits, Degraded, for a passphrase Secret the user names but has not made", async () => {
    await cluster.apply(
      hermesNodeYaml("byo", { replicas: 1, keystore: { passphraseSecretRef: { name: "vault-pass" } } }),
      ns,
    );
    await eventually(async () =>
      expect(condition(await cluster.mustGet("hermesnode", "byo", ns), "Degraded")).toMatchObject({
        status: "True",
        reason: "PassphraseSecretMissing",
        message: "spec.keystore.passphraseSecretRef: Secret features/vault-pass does not exist",
      }),
    );
    expect(await cluster.get("statefulset", "byo", ns)).toBeUndefined();
    await cluster.kubectl([
      "create",
      "secret",
      "generic",
      "vault-pass",
      "-n",
      ns,
      "--from-literal=passphrase=correct-horse",
    ]);
    const sts = await eventually(() => cluster.mustGet("statefulset", "byo", ns), 60_000);
    expect(sts.spec.template.spec.volumes).toContainEqual({
      name: "keystore-passphrase",
      secret: {
        secretName: "vault-pass",
        items: [{ key: "passphrase", path: "passphrase" }],
        defaultMode: 0o440,
      },
    });
    expect(await cluster.get("secret", "byo-keystore", ns)).toBeUndefined();
  });
});

describe("the operator", () => {
  it("made no API call the chart's RBAC forbids", () => {
    expect(op.forbidden()).toEqual([]);
  });
});
