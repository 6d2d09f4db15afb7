import { beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "./support/cluster.js";
import { hermesNodeYaml } from "./support/hermesnode.js";

const cluster = new Cluster();
const ns = "schema";

/** Applies a HermesNode as users do (kubectl apply) and returns the refusal (empty when accepted). */
async function refusal(name: string, spec: Record<string, unknown>): Promise<string> {
  const r = await cluster.kubectl(["apply", "-n", ns, "-f", "-"], {
    input: hermesNodeYaml(name, spec),
    allowFail: true,
  });
  return r.code === 0 ? "" : r.stderr;
}

describe("the HermesNode schema", () => {
  beforeAll(() => cluster.createNamespace(ns));

  it("fills in defaults for an empty spec", async () => {
    expect(await refusal("minimal", {})).toBe("");
    const hn = await cluster.mustGet("hermesnode", "minimal", ns);
    expect(hn.spec).toEqual({
      replicas: 3,
      imagePullPolicy: "IfNotPresent",
      logLevel: "info",
      resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
      storage: { ephemeral: false, size: "1Gi" },
      mesh: {},
      tls: { mode: "Operator", certificateDuration: "2160h", renewBefore: "720h" },
      service: { type: "ClusterIP", port: 7400 },
      metrics: { serviceMonitor: { enabled: true, interval: "30s" } },
      disruptionBudget: { enabled: true, maxUnavailable: 1 },
      keystore: {},
      config: {},
      terminationGracePeriodSeconds: 30,
    });
  });

  it.each([
    ["replicas below 1", "r0", { replicas: 0 }, "spec.replicas in body should be greater than or equal to 1"],
    [
      "replicas above 100",
      "r101",
      { replicas: 101 },
      "spec.replicas in body should be less than or equal to 100",
    ],
    ["an unknown TLS mode", "tls1", { tls: { mode: "Maybe" } }, 'spec.tls.mode: Unsupported value: "Maybe"'],
    [
      "CertManager without an issuer",
      "tls2",
      { tls: { mode: "CertManager" } },
      "spec.tls.issuerRef is required when spec.tls.mode is CertManager",
    ],
    [
      "renewal after expiry",
      "tls3",
      { tls: { certificateDuration: "24h", renewBefore: "48h" } },
      "spec.tls.renewBefore must be shorter than spec.tls.certificateDuration",
    ],
    [
      "a duration in days",
      "tls4",
      { tls: { certificateDuration: "90d" } },
      "spec.tls.certificateDuration in body should match",
    ],
    [
      "a peer that is not host:port",
      "peer",
      { mesh: { peers: ["no-port"] } },
      "spec.mesh.peers[0] in body should match",
    ],
    [
      "a bad service type",
      "svc",
      { service: { type: "ExternalName" } },
      'spec.service.type: Unsupported value: "ExternalName"',
    ],
    [
      "a zero disruption budget",
      "pdb",
      { disruptionBudget: { maxUnavailable: 0 } },
      "spec.disruptionBudget.maxUnavailable must be an integer >= 1 or a percentage from 1% to 100%",
    ],
    [
      "pod labels that steal the selector",
      "labels",
      { podLabels: { "app.kubernetes.io/instance": "x" } },
      "spec.podLabels must not set app.kubernetes.io/name or app.kubernetes.io/instance",
    ],
    [
      "a ciphertext limit above the frame limit",
      "limits",
      { config: { limits: { maxFrameBytes: 1000, maxCiphertextBytes: 2000 } } },
      "spec.config.limits.maxCiphertextBytes must be less than spec.config.limits.maxFrameBytes",
    ],
    [
      "a negative tunable",
      "neg",
      { config: { timeouts: { chatIdleMs: -1 } } },
      "spec.config.timeouts.chatIdleMs in body should be greater than or equal to 0",
    ],
    [
      "a quantity that is not one",
      "qty",
      { resources: { requests: { memory: "lots" } } },
      "spec.resources.requests.memory in body should match",
    ],
  ])("rejects %s", async (_what, name, spec, message) => {
    expect(await refusal(name, spec)).toContain(message);
  });

  it("rejects unknown fields, including node settings the operator owns", async () => {
    expect(await refusal("unknown", { replica: 3 })).toContain('unknown field "spec.replica"');
    expect(await refusal("unknown2", { config: { mesh: { dns: "x" } } })).toContain(
      'unknown field "spec.config.mesh.dns"',
    );
    const ssa = await cluster.apply(hermesNodeYaml("unknown3", { replica: 3 }), ns, { allowFail: true });
    expect(ssa.stderr).toContain(".spec.replica: field not declared in schema");
  });

  it("rejects names that cannot name a StatefulSet and its Services", async () => {
    expect(await refusal("9lives", {})).toContain(
      "metadata.name must be a lowercase DNS label that starts with a letter",
    );
    expect(await refusal("a".repeat(41), {})).toContain("has at most 40 characters");
  });

  it("refuses to change storage after creation", async () => {
    expect(await refusal("store", { storage: { size: "1Gi" } })).toBe("");
    const patch = await cluster.kubectl(
      ["patch", "hn", "store", "-n", ns, "--type=merge", "-p", '{"spec":{"storage":{"size":"2Gi"}}}'],
      {
        allowFail: true,
      },
    );
    expect(patch.stderr).toContain("spec.storage is immutable");
  });

  it("reports every problem at once", async () => {
    const message = await refusal("many", {
      replicas: 0,
      tls: { mode: "CertManager" },
      service: { port: 70000 },
    });
    expect(message).toContain("spec.replicas");
    expect(message).toContain("spec.tls.issuerRef is required");
    expect(message).toContain("spec.service.port");
  });
});
