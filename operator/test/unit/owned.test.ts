import { describe, expect, it } from "vitest";
import { resolveSpec } from "../../src/api/defaults.js";
import type { HermesNodeSpec } from "../../src/api/types.js";
import { kindOf, OPTIONAL, OWNED, ownerKey, peersTrusting } from "../../src/controller/owned.js";
import { buildConfigMap } from "../../src/desired/configmap.js";
import { buildCaSecret, buildKeystoreSecret, buildTlsSecret } from "../../src/desired/secrets.js";
import { buildStatefulSet } from "../../src/desired/statefulset.js";
import { hermesNode, settings } from "./fixtures.js";

const pair = { certPem: "cert", keyPem: "key" };
const caOf = (name: string, namespace: string) =>
  buildCaSecret(hermesNode({}, name, namespace), pair, "bundle");
const peering = (
  name: string,
  namespace: string,
  peerNodes: NonNullable<HermesNodeSpec["mesh"]>["peerNodes"],
) => hermesNode({ mesh: { peerNodes } }, name, namespace);

describe("owned kinds", () => {
  it("names the owned kind of every object the builders make, and nothing else", () => {
    const hn = hermesNode();
    const spec = resolveSpec(hn, settings);
    expect(kindOf(buildStatefulSet(hn, spec, settings, { configHash: "h" }))).toBe("statefulSet");
    expect(kindOf(buildConfigMap(hn, spec, settings))).toBe("configMap");
    expect(kindOf(buildKeystoreSecret(hn, "p"))).toBe("secret");
    expect(kindOf({ apiVersion: "v1", kind: "Pod" })).toBeUndefined();
    expect(kindOf({ apiVersion: "v1", kind: "toString" })).toBeUndefined();
    expect(kindOf({})).toBeUndefined();
  });

  it("has an API resource for every kind, the optional ones from other projects' CRDs", () => {
    for (const [kind, resource] of Object.entries(OWNED)) {
      expect(kindOf({ kind: resource.kind })).toBe(kind);
    }
    expect(OPTIONAL.map((k) => OWNED[k].group)).toEqual(["monitoring.coreos.com", "cert-manager.io"]);
  });
});

describe("ownerKey", () => {
  it("maps an owned object to its HermesNode by controller reference, else by instance label", () => {
    const ref = {
      apiVersion: "hermes.io/v1alpha1",
      kind: "HermesNode",
      name: "mesh",
      uid: "u",
      controller: true,
    };
    expect(ownerKey({ metadata: { namespace: "chat", ownerReferences: [ref] } })).toBe("chat/mesh");
    expect(
      ownerKey({ metadata: { namespace: "chat", labels: { "app.kubernetes.io/instance": "cm" } } }),
    ).toBe("chat/cm");
    expect(
      ownerKey({ metadata: { namespace: "chat", ownerReferences: [{ ...ref, kind: "Deployment" }] } }),
    ).toBeUndefined();
  });
});

describe("peersTrusting", () => {
  const hermesNodes = [
    peering("east", "chat", [{ name: "west" }]), // same namespace by default
    peering("north", "ops", [{ name: "west", namespace: "chat" }, { name: "south" }]),
    peering("far", "ops", [{ name: "west" }]), // ops/west, not chat/west
    peering("west", "chat", [{ name: "east" }]),
    hermesNode({}, "alone", "chat"),
  ];

  it("maps a CA Secret to the HermesNodes that list its owner as a peer", () => {
    expect(peersTrusting(caOf("west", "chat"), hermesNodes)).toEqual(["chat/east", "ops/north"]);
    expect(peersTrusting(caOf("east", "chat"), hermesNodes)).toEqual(["chat/west"]);
    expect(peersTrusting(caOf("far", "ops"), hermesNodes)).toEqual([]);
  });

  it("maps a Secret that is not a CA to no HermesNode", () => {
    const west = hermesNode({}, "west", "chat");
    expect(
      peersTrusting(buildTlsSecret(west, new Map([["west-0", pair]]), "bundle", 1), hermesNodes),
    ).toEqual([]);
    expect(peersTrusting(buildKeystoreSecret(west, "p"), hermesNodes)).toEqual([]);
    const unowned = caOf("west", "chat");
    unowned.metadata = {
      ...unowned.metadata,
      ownerReferences: [],
      labels: { "app.kubernetes.io/component": "ca" },
    };
    expect(peersTrusting(unowned, hermesNodes)).toEqual([]);
  });
});
