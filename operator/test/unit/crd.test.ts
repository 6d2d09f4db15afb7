import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { defaultConfig } from "../../../node/src/config/defaults.js";
import { DEFAULTS } from "../../src/api/defaults.js";
import { NODE_DEFAULTS } from "../../src/api/validation.js";

interface Schema {
  type?: string;
  default?: unknown;
  properties?: Record<string, Schema>;
  required?: string[];
  minimum?: number;
  enum?: string[];
  "x-kubernetes-validations"?: { rule: string; message: string }[];
}

const crdText = readFileSync(new URL("../../../crds/hermes.io_hermesnodes.yaml", import.meta.url), "utf8");
const crd = parse(crdText);
const version = crd.spec.versions[0];
const root: Schema = version.schema.openAPIV3Schema;
const spec = root.properties!.spec!.properties!;

/** Dotted leaf paths of a schema or an object. */
function leaves(node: Schema | Record<string, unknown>, prefix = "", isSchema = true): string[] {
  const children = isSchema ? ((node as Schema).properties ?? {}) : (node as Record<string, unknown>);
  return Object.entries(children).flatMap(([key, child]) => {
    const path = prefix + key;
    const nested = isSchema
      ? (child as Schema).type === "object" && (child as Schema).properties
      : typeof child === "object" && child !== null && !Array.isArray(child);
    return nested ? leaves(child as Schema, `${path}.`, isSchema) : [path];
  });
}

describe("the HermesNode CRD", () => {
  it("is hermes.io/v1alpha1, namespaced, short name hn, with status and scale subresources", () => {
    expect(crd.metadata.name).toBe("hermesnodes.hermes.io");
    expect(crd.spec.group).toBe("hermes.io");
    expect(crd.spec.scope).toBe("Namespaced");
    expect(crd.spec.names).toMatchObject({ kind: "HermesNode", plural: "hermesnodes", shortNames: ["hn"] });
    expect(version).toMatchObject({ name: "v1alpha1", served: true, storage: true });
    expect(version.subresources).toEqual({
      status: {},
      scale: {
        specReplicasPath: ".spec.replicas",
        statusReplicasPath: ".status.replicas",
        labelSelectorPath: ".status.selector",
      },
    });
  });

  it("prints replicas, ready, members, phase, TLS mode and age (and more with -o wide)", () => {
    const cols = version.additionalPrinterColumns as { name: string; jsonPath: string; priority?: number }[];
    expect(cols.filter((c) => !c.priority).map((c) => [c.name, c.jsonPath])).toEqual([
      ["Replicas", ".spec.replicas"],
      ["Ready", ".status.readyReplicas"],
      ["Members", ".status.members"],
      ["Phase", ".status.phase"],
      ["TLS", ".spec.tls.mode"],
      ["Age", ".metadata.creationTimestamp"],
    ]);
    expect(cols.filter((c) => c.priority).map((c) => c.name)).toEqual(["Reason", "Image", "Bootstrap"]);
  });

  it("defaults every field the same way the operator does", () => {
    expect(spec.replicas!.default).toBe(DEFAULTS.replicas);
    expect(spec.imagePullPolicy!.default).toBe(DEFAULTS.imagePullPolicy);
    expect(spec.logLevel!.default).toBe(DEFAULTS.logLevel);
    expect(spec.resources!.default).toEqual(DEFAULTS.resources);
    expect(spec.storage!.properties!.size!.default).toBe(DEFAULTS.storageSize);
    expect(spec.tls!.default).toEqual({
      mode: DEFAULTS.tlsMode,
      certificateDuration: DEFAULTS.certificateDuration,
      renewBefore: DEFAULTS.renewBefore,
    });
    expect(spec.tls!.properties!.issuerRef!.properties!.kind!.default).toBe(DEFAULTS.issuerKind);
    expect(spec.tls!.properties!.issuerRef!.properties!.group!.default).toBe(DEFAULTS.issuerGroup);
    expect(spec.service!.properties!.type!.default).toBe(DEFAULTS.serviceType);
    expect(spec.service!.properties!.port!.default).toBe(DEFAULTS.servicePort);
    expect(spec.metrics!.properties!.serviceMonitor!.properties!.interval!.default).toBe(
      DEFAULTS.serviceMonitorInterval,
    );
    expect(spec.disruptionBudget!.default).toEqual({
      enabled: true,
      maxUnavailable: DEFAULTS.maxUnavailable,
    });
    expect(spec.keystore!.properties!.passphraseSecretRef!.properties!.key!.default).toBe(
      DEFAULTS.passphraseKey,
    );
    expect(spec.terminationGracePeriodSeconds!.default).toBe(DEFAULTS.terminationGracePeriodSeconds);
  });

  it("spec.config covers exactly the node's tunables; the rest is the operator's to set", () => {
    const operatorOwned = [
      "nodeName",
      "dataDir",
      "listen.app",
      "listen.admin",
      "advertiseApp",
      "keystore.path",
      "keystore.passphraseEnv",
      "keystore.passphraseFile",
      "log.level", // spec.logLevel
      "mesh.listen",
      "mesh.advertise",
      "mesh.peers", // spec.mesh.peers and peerNodes
      "mesh.dns",
      "mesh.dnsServer",
      "mesh.insecure", // spec.tls.mode
      "mesh.tls.cert",
      "mesh.tls.key",
      "mesh.tls.ca",
    ];
    const nodeKeys = leaves(defaultConfig() as unknown as Record<string, unknown>, "", false).sort();
    const covered = [...leaves(spec.config!), ...operatorOwned].sort();
    expect(covered).toEqual(nodeKeys);
  });

  it("keeps the operator's copy of node defaults equal to the node's", () => {
    const node = defaultConfig() as unknown as Record<string, unknown>;
    for (const [path, value] of Object.entries(NODE_DEFAULTS)) {
      const actual = path.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], node);
      expect([path, actual]).toEqual([path, value]);
    }
  });

  it("validates with CEL rules that carry a message", () => {
    const rules: { rule: string; message: string }[] = [];
    const walk = (s: Schema) => {
      rules.push(...(s["x-kubernetes-validations"] ?? []));
      for (const child of Object.values(s.properties ?? {})) walk(child);
    };
    walk(root);
    expect(rules.length).toBeGreaterThanOrEqual(9);
    for (const r of rules) expect(r.message.length).toBeGreaterThan(20);
  });
});

describe("the chart's copy of the CRD", () => {
  it("is byte for byte crds/hermes.io_hermesnodes.yaml (helm installs CRDs only from the chart's crds/)", () => {
    const copy = readFileSync(
      new URL("../../../charts/hermes/crds/hermes.io_hermesnodes.yaml", import.meta.url),
      "utf8",
    );
    expect(copy === crdText, "run: cp crds/hermes.io_hermesnodes.yaml charts/hermes/crds/").toBe(true);
  });
});
