import { describe, expect, it } from "vitest";
import { resolveSpec } from "../../src/api/defaults.js";
import {
  buildCertificate,
  CA_LIFETIME_MS,
  nodeSubjectNames,
  planCa,
  planNodeCerts,
  renewalTime,
  trustBundle,
} from "../../src/desired/certificates.js";
import { labelsFor, ownerReference } from "../../src/desired/meta.js";
import {
  type CertInfo,
  createCa,
  issueLeaf,
  parseCert,
  signedBy,
  splitPemBundle,
} from "../../src/desired/pki.js";
import { hermesNode, settings } from "./fixtures.js";

const DAY = 24 * 3600_000;
const now = new Date("2026-06-01T00:00:00Z");
const hn = hermesNode();
const names = (pod: string) => nodeSubjectNames(hn, settings, pod);
const ca: CertInfo = {
  subject: "CN=chat/mesh mesh CA, O=hermes",
  issuer: "CN=chat/mesh mesh CA, O=hermes",
  serialNumber: "01",
  notBefore: now,
  notAfter: new Date(now.getTime() + 3650 * DAY),
  dns: [],
  ips: [],
  subjectKeyId: "aa",
  isCa: true,
};
const leaf = (pod: string, daysLeft: number, over: Partial<CertInfo> = {}): CertInfo => ({
  subject: `CN=${pod}, O=hermes`,
  issuer: ca.subject,
  serialNumber: "02",
  notBefore: now,
  notAfter: new Date(now.getTime() + daysLeft * DAY),
  ...names(pod),
  authorityKeyId: "aa",
  isCa: false,
  ...over,
});
const plan = (current: [string, CertInfo][], replicas = 3, existingPods = 3) =>
  planNodeCerts({
    replicas,
    existingPods,
    podName: (i) => `mesh-${i}`,
    current: new Map(current),
    ca,
    expectedNames: names,
    now,
    renewBeforeMs: 30 * DAY,
  });

describe("nodeSubjectNames", () => {
  it("covers the pod's DNS name, both Services in short and long form, and loopback", () => {
    expect(names("mesh-2")).toEqual({
      dns: [
        "mesh-2.mesh-mesh.chat.svc.cluster.local",
        "mesh-2.mesh-mesh.chat.svc",
        "mesh-mesh.chat.svc.cluster.local",
        "mesh-mesh.chat.svc",
        "mesh.chat.svc.cluster.local",
        "mesh.chat.svc",
        "localhost",
      ],
      ips: ["127.0.0.1", "::1"],
    });
  });
});

describe("planCa", () => {
  it("creates a missing CA, keeps a young one and renews one near its end", () => {
    const leafLife = 90 * DAY;
    expect(planCa(undefined, now, leafLife)).toBe("create");
    expect(planCa({ ...ca, isCa: false }, now, leafLife)).toBe("create");
    expect(planCa(ca, now, leafLife)).toBe("keep");
    expect(planCa({ ...ca, notAfter: new Date(now.getTime() + 179 * DAY) }, now, leafLife)).toBe("renew");
  });
});

describe("planNodeCerts", () => {
  it("issues for every wanted pod that has none", () => {
    expect(plan([])).toEqual({
      issue: [
        { pod: "mesh-0", reason: "missing" },
        { pod: "mesh-1", reason: "missing" },
        { pod: "mesh-2", reason: "missing" },
      ],
      keep: [],
      replacesInUse: false,
    });
  });

  it("keeps good certificates and adds new pods without rolling the running ones", () => {
    const p = plan(
      [
        ["mesh-0", leaf("mesh-0", 80)],
        ["mesh-1", leaf("mesh-1", 80)],
        ["mesh-2", leaf("mesh-2", 80)],
      ],
      5,
      3,
    );
    expect(p.keep).toEqual(["mesh-0", "mesh-1", "mesh-2"]);
    expect(p.issue).toEqual([
      { pod: "mesh-3", reason: "missing" },
      { pod: "mesh-4", reason: "missing" },
    ]);
    expect(p.replacesInUse).toBe(false);
  });

  it("renews expiring, foreign or misnamed certificates of running pods, which rolls them", () => {
    const p = plan([
      ["mesh-0", leaf("mesh-0", 29)],
      ["mesh-1", leaf("mesh-1", 80, { authorityKeyId: "bb" })],
      ["mesh-2", leaf("mesh-2", 80, { dns: ["mesh-2.old.example"] })],
    ]);
    expect(p.issue).toEqual([
      { pod: "mesh-0", reason: "expiring" },
      { pod: "mesh-1", reason: "wrong-issuer" },
      { pod: "mesh-2", reason: "names-changed" },
    ]);
    expect(p.replacesInUse).toBe(true);
  });

  it("lets pods being scaled away keep their certificates until they are gone, then drops them", () => {
    const current: [string, CertInfo][] = [0, 1, 2, 3, 4].map((i) => [`mesh-${i}`, leaf(`mesh-${i}`, 10)]);
    const draining = plan(current, 3, 5);
    expect(draining.issue.map((i) => i.pod)).toEqual(["mesh-0", "mesh-1", "mesh-2"]);
    expect(draining.keep).toEqual(["mesh-3", "mesh-4"]);
    const gone = plan(
      current.slice(0, 3).map(([p]) => [p, leaf(p, 80)]),
      3,
      3,
    );
    expect(gone.keep).toEqual(["mesh-0", "mesh-1", "mesh-2"]);
  });
});

describe("renewalTime and trustBundle", () => {
  it("renews at the earliest expiry minus renewBefore", () => {
    expect(renewalTime([], DAY)).toBeUndefined();
    expect(renewalTime([leaf("a", 50), leaf("b", 40)], 30 * DAY)).toEqual(new Date(now.getTime() + 10 * DAY));
  });

  it("keeps valid CAs once each, current first, dropping expired and unreadable ones", () => {
    const old = { ...ca, serialNumber: "00", notAfter: new Date(now.getTime() + DAY) };
    const expired = { ...ca, serialNumber: "ff", notAfter: new Date(now.getTime() - 1) };
    const bundle = trustBundle(
      [
        { pem: "NEW", info: ca },
        { pem: "OLD\n", info: old },
        { pem: "NEW", info: ca },
        { pem: "EXPIRED", info: expired },
        { pem: "JUNK", info: undefined },
      ],
      now,
    );
    expect(bundle).toBe("NEW\nOLD\n");
    expect(trustBundle([], now)).toBe("");
  });
});

describe("PKI round trip", () => {
  it("makes a CA and a leaf that parse back with the planned names, issuer and lifetimes", async () => {
    const caPair = await createCa("chat/mesh mesh CA", now, CA_LIFETIME_MS);
    const caInfo = parseCert(caPair.certPem)!;
    expect(caInfo.isCa).toBe(true);
    expect(caInfo.subject).toBe("CN=chat/mesh mesh CA, O=hermes");
    expect(caInfo.notAfter.getTime()).toBe(now.getTime() + CA_LIFETIME_MS);
    expect(caPair.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);

    const pair = await issueLeaf(caPair, "mesh-0", names("mesh-0"), now, 90 * DAY);
    const info = parseCert(pair.certPem)!;
    expect(info.isCa).toBe(false);
    expect(info.issuer).toBe(caInfo.subject);
    expect(info.authorityKeyId).toBe(caInfo.subjectKeyId);
    expect(info.notAfter.getTime()).toBe(now.getTime() + 90 * DAY);
    expect(info.notBefore.getTime()).toBe(now.getTime() - 5 * 60_000);
    expect(await signedBy(pair.certPem, caPair.certPem)).toBe(true);
    const stranger = await createCa("other", now, DAY * 10);
    expect(await signedBy(pair.certPem, stranger.certPem)).toBe(false);

    // A freshly issued certificate must satisfy the planner, or every reconcile would reissue it.
    const p = planNodeCerts({
      replicas: 1,
      existingPods: 1,
      podName: (i) => `mesh-${i}`,
      current: new Map([["mesh-0", info]]),
      ca: caInfo,
      expectedNames: names,
      now,
      renewBeforeMs: 30 * DAY,
    });
    expect(p).toEqual({ issue: [], keep: ["mesh-0"], replacesInUse: false });
  });

  it("never issues a leaf that outlives its CA", async () => {
    const shortCa = await createCa("short", now, 10 * DAY);
    const info = parseCert((await issueLeaf(shortCa, "x", { dns: ["x"], ips: [] }, now, 90 * DAY)).certPem)!;
    expect(info.notAfter.getTime()).toBe(now.getTime() + 10 * DAY);
  });

  it("parses nothing from junk and splits bundles", async () => {
    expect(parseCert("not a certificate")).toBeUndefined();
    expect(parseCert(undefined)).toBeUndefined();
    const a = (await createCa("a", now, DAY)).certPem;
    const b = (await createCa("b", now, DAY)).certPem;
    expect(splitPemBundle(`${a}\n${b}`).map((p) => parseCert(p)!.subject)).toEqual([
      "CN=a, O=hermes",
      "CN=b, O=hermes",
    ]);
    expect(splitPemBundle(undefined)).toEqual([]);
  });
});

describe("cert-manager Certificate", () => {
  it("asks the issuer for one wildcard certificate over the headless Service", () => {
    const cmHn = hermesNode({
      tls: { mode: "CertManager", issuerRef: { name: "mesh-ca", kind: "ClusterIssuer" } },
    });
    expect(buildCertificate(cmHn, resolveSpec(cmHn, settings), settings)).toEqual({
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: {
        name: "mesh-mesh",
        namespace: "chat",
        labels: labelsFor("mesh", "tls"),
        ownerReferences: [ownerReference(cmHn)],
      },
      spec: {
        secretName: "mesh-mesh-tls",
        commonName: "mesh",
        dnsNames: [
          "*.mesh-mesh.chat.svc.cluster.local",
          "mesh-mesh.chat.svc.cluster.local",
          "mesh.chat.svc.cluster.local",
          "mesh.chat.svc",
          "localhost",
        ],
        ipAddresses: ["127.0.0.1", "::1"],
        duration: "2160h",
        renewBefore: "720h",
        issuerRef: { name: "mesh-ca", kind: "ClusterIssuer", group: "cert-manager.io" },
        privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
        usages: ["digital signature", "server auth", "client auth"],
        secretTemplate: { labels: labelsFor("mesh", "tls") },
      },
    });
    expect(buildCertificate(hn, resolveSpec(hn, settings), settings)).toBeUndefined();
  });
});
