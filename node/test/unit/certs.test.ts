import { createPrivateKey, X509Certificate as NodeX509 } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { UsageError } from "../../src/cli/args.js";
import { certsCommand } from "../../src/cli/certs-command.js";
import {
  certificateInfo,
  createCa,
  isSignedBy,
  issueCert,
  type PemPair,
  x509,
} from "../../src/transport/certs.js";

const DAY = 86_400_000;

describe("certificates", () => {
  let ca: PemPair;
  let node: PemPair;
  beforeAll(async () => {
    ca = await createCa({ commonName: "Test CA", validityDays: 30 });
    node = await issueCert({
      ca,
      commonName: "hermes-0",
      dnsNames: ["hermes-0", "localhost", "hermes-0"],
      ipAddresses: ["127.0.0.1", "::1", "10.0.0.5"],
      validityDays: 7,
      usage: "server+client",
    });
  });

  it("makes a self-signed P-256 CA that may sign certificates", () => {
    const cert = new x509.X509Certificate(ca.certPem);
    expect(cert.subject).toBe("CN=Test CA");
    expect(cert.issuer).toBe("CN=Test CA");
    expect(cert.signatureAlgorithm).toMatchObject({ name: "ECDSA", hash: { name: "SHA-256" } });
    expect(cert.getExtension(x509.BasicConstraintsExtension)).toMatchObject({ ca: true, critical: true });
    const usage = cert.getExtension(x509.KeyUsagesExtension)!;
    expect(usage.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(ca.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(new NodeX509(ca.certPem).ca).toBe(true);
  });

  it("issues a node certificate with SANs, both TLS usages and a chain to the CA", async () => {
    const cert = new x509.X509Certificate(node.certPem);
    const caCert = new x509.X509Certificate(ca.certPem);
    expect(cert.subject).toBe("CN=hermes-0");
    expect(cert.issuer).toBe("CN=Test CA");
    expect(await cert.verify({ publicKey: caCert.publicKey, signatureOnly: true })).toBe(true);
    expect(await cert.verify({ publicKey: await caCert.publicKey.export() })).toBe(true);
    expect(await isSignedBy(node.certPem, ca.certPem)).toBe(true);
    expect(await isSignedBy(ca.certPem, node.certPem)).toBe(false);
    expect(cert.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([
      x509.ExtendedKeyUsage.serverAuth,
      x509.ExtendedKeyUsage.clientAuth,
    ]);
    const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
    expect(aki).toBe(caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
    // Node's own parser agrees (this is what TLS verification uses).
    const native = new NodeX509(node.certPem);
    expect(native.verify(new NodeX509(ca.certPem).publicKey)).toBe(true);
    expect(native.checkHost("hermes-0")).toBe("hermes-0");
    expect(native.checkIP("10.0.0.5")).toBe("10.0.0.5");
    expect(native.checkIP("::1")).toBe("::1");
    expect(native.checkHost("other")).toBeUndefined();
    expect(native.checkPrivateKey(createPrivateKey(node.keyPem))).toBe(true);
  });

  it("describes a certificate", () => {
    const info = certificateInfo(node.certPem);
    expect(info).toMatchObject({
      subject: "CN=hermes-0",
      issuer: "CN=Test CA",
      dnsNames: ["hermes-0", "localhost"],
      ipAddresses: ["127.0.0.1", "::1", "10.0.0.5"],
      isCa: false,
    });
    const native = new NodeX509(node.certPem);
    expect(info.fingerprint256).toBe(native.fingerprint256);
    expect(info.serialNumber).toBe(native.serialNumber.toLowerCase());
    expect(info.serialNumber).toMatch(/^[4-7][0-9a-f]{31}$/);
    expect(info.notAfter.getTime() - info.notBefore.getTime()).toBeGreaterThanOrEqual(7 * DAY);
    expect(Math.abs(info.notAfter.getTime() - (Date.now() + 7 * DAY))).toBeLessThan(60_000);
    expect(info.notBefore.getTime()).toBeLessThan(Date.now());
    expect(certificateInfo(ca.certPem).isCa).toBe(true);
  });

  it("gives every certificate a fresh key and a random serial", async () => {
    const again = await issueCert({
      ca,
      commonName: "hermes-0",
      dnsNames: ["hermes-0"],
      ipAddresses: [],
      validityDays: 7,
      usage: "server+client",
    });
    expect(again.keyPem).not.toBe(node.keyPem);
    expect(certificateInfo(again.certPem).serialNumber).not.toBe(certificateInfo(node.certPem).serialNumber);
  });

  it("does not let a certificate outlive its CA", async () => {
    const long = await issueCert({
      ca,
      commonName: "n",
      dnsNames: ["n"],
      ipAddresses: [],
      validityDays: 365,
      usage: "server+client",
    });
    expect(certificateInfo(long.certPem).notAfter).toEqual(certificateInfo(ca.certPem).notAfter);
  });

  it("refuses bad input", async () => {
    const base = {
      ca,
      commonName: "n",
      dnsNames: ["n"],
      ipAddresses: [],
      validityDays: 1,
      usage: "server+client" as const,
    };
    await expect(issueCert({ ...base, dnsNames: ["bad name"] })).rejects.toThrow(/not a valid DNS name/);
    await expect(issueCert({ ...base, ipAddresses: ["300.1.1.1"] })).rejects.toThrow(/not an IP address/);
    await expect(issueCert({ ...base, validityDays: 0 })).rejects.toThrow(/validity/);
    await expect(issueCert({ ...base, ca: { certPem: node.certPem, keyPem: node.keyPem } })).rejects.toThrow(
      /not a CA certificate/,
    );
    const other = await createCa({ commonName: "Other", validityDays: 1 });
    await expect(issueCert({ ...base, ca: { certPem: ca.certPem, keyPem: other.keyPem } })).rejects.toThrow(
      /does not belong/,
    );
    expect(() => certificateInfo("not a certificate")).toThrow(/not a PEM X.509 certificate/);
  });
});

describe("hermes certs", () => {
  let dir: string;
  let stdout: string[];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "hermes-certs-"));
    stdout = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  const mode = async (path: string) => (await stat(path)).mode & 0o777;
  interface Summary {
    ca: { created: boolean; fingerprint256: string };
    nodes: { name: string; fingerprint256: string; notAfter: string; key: string }[];
  }
  const summary = () => JSON.parse(stdout.join("")) as Summary;

  it("makes a CA and node certificates with private keys", async () => {
    const code = await certsCommand([
      "--out",
      dir,
      "--node",
      "node-a,node-b",
      "--dns",
      "hermes.example.org",
      "--ip",
      "10.0.0.5,fd00::5",
      "--days",
      "10",
    ]);
    expect(code).toBe(0);
    const caPem = await readFile(join(dir, "ca.pem"), "utf8");
    expect(certificateInfo(caPem).isCa).toBe(true);
    expect(await mode(join(dir, "ca-key.pem"))).toBe(0o600);
    expect(await mode(join(dir, "ca.pem"))).toBe(0o644);
    for (const name of ["node-a", "node-b"]) {
      const certPem = await readFile(join(dir, `${name}.pem`), "utf8");
      expect(await mode(join(dir, `${name}-key.pem`))).toBe(0o600);
      const info = certificateInfo(certPem);
      expect(info.subject).toBe(`CN=${name}`);
      expect(info.dnsNames).toEqual([name, "localhost", "hermes.example.org"]);
      expect(info.ipAddresses).toEqual(["127.0.0.1", "::1", "10.0.0.5", "fd00::5"]);
      expect(await isSignedBy(certPem, caPem)).toBe(true);
      expect(Math.round((info.notAfter.getTime() - Date.now()) / DAY)).toBe(10);
    }
    const out = summary();
    expect(out.ca.created).toBe(true);
    expect(out.ca.fingerprint256).toBe(certificateInfo(caPem).fingerprint256);
    expect(out.nodes.map((n) => n.name)).toEqual(["node-a", "node-b"]);
    expect(out.nodes[0]!.key).toBe(join(dir, "node-a-key.pem"));
    expect(Date.parse(out.nodes[0]!.notAfter)).toBeGreaterThan(Date.now());
    // No temp files left behind.
    expect((await readdir(dir)).sort()).toEqual([
      "ca-key.pem",
      "ca.pem",
      "node-a-key.pem",
      "node-a.pem",
      "node-b-key.pem",
      "node-b.pem",
    ]);
  });

  it("reuses an existing CA for later nodes", async () => {
    expect(await certsCommand(["--out", dir, "--node", "node-a"])).toBe(0);
    const caPem = await readFile(join(dir, "ca.pem"), "utf8");
    const caKey = await readFile(join(dir, "ca-key.pem"), "utf8");
    stdout.length = 0;
    expect(await certsCommand(["--out", dir, "--node", "node-b"])).toBe(0);
    expect(summary().ca.created).toBe(false);
    expect(await readFile(join(dir, "ca.pem"), "utf8")).toBe(caPem);
    expect(await readFile(join(dir, "ca-key.pem"), "utf8")).toBe(caKey);
    expect(await isSignedBy(await readFile(join(dir, "node-b.pem"), "utf8"), caPem)).toBe(true);
  });

  it("refuses to overwrite a node certificate unless --force", async () => {
    expect(await certsCommand(["--out", dir, "--node", "node-a"])).toBe(0);
    const first = await readFile(join(dir, "node-a.pem"), "utf8");
    await expect(certsCommand(["--out", dir, "--node", "node-b,node-a"])).rejects.toThrow(
      /node-a\.pem exists: pass --force/,
    );
    // Nothing was written for node-b either: the check comes before any write.
    await expect(stat(join(dir, "node-b.pem"))).rejects.toThrow(/ENOENT/);
    expect(await readFile(join(dir, "node-a.pem"), "utf8")).toBe(first);

    expect(await certsCommand(["--out", dir, "--node", "node-a", "--force"])).toBe(0);
    const second = await readFile(join(dir, "node-a.pem"), "utf8");
    expect(second).not.toBe(first);
    expect(await mode(join(dir, "node-a-key.pem"))).toBe(0o600);
  });

  it("reports usage errors", async () => {
    const usage = (argv: string[]) => expect(certsCommand(argv)).rejects.toBeInstanceOf(UsageError);
    await usage(["--node", "a"]);
    await expect(certsCommand(["--node", "a"])).rejects.toThrow(/--out <dir> is required/);
    await expect(certsCommand(["--out", dir])).rejects.toThrow(/--node .* is required/);
    await expect(certsCommand(["--out", dir, "--node"])).rejects.toThrow(/--node needs a value/);
    await expect(certsCommand(["--out", dir, "--node", "a", "--days", "0"])).rejects.toThrow(/--days/);
    await expect(certsCommand(["--out", dir, "--node", "a", "--bogus", "1"])).rejects.toThrow(/unknown flag/);
    await expect(certsCommand(["--out", dir, "--node", "../evil"])).rejects.toThrow(/not a valid DNS name/);
    await expect(certsCommand(["--out", dir, "--node", "ca"])).rejects.toThrow(/another file uses/);
    await expect(certsCommand(["--out", dir, "--node", "a,a-key"])).rejects.toThrow(/another file uses/);
    await expect(certsCommand(["--out", dir, "--node", "a", "--ip", "10.0.0"])).rejects.toThrow(
      /not an IP address/,
    );
    await expect(certsCommand(["--out", dir, "--node", "a", "extra"])).rejects.toThrow(/unexpected argument/);
    await usage(["--out", dir, "--node", "a", "--force=yes"]);
  });

  it("refuses a half-present CA rather than replacing it", async () => {
    await writeFile(join(dir, "ca.pem"), "x");
    await expect(certsCommand(["--out", dir, "--node", "a"])).rejects.toThrow(
      /found .*ca\.pem but not .*ca-key\.pem/,
    );
    await expect(certsCommand(["--out", dir, "--node", "a"])).rejects.toBeInstanceOf(UsageError);
  });

  it("reports an unusable existing CA clearly", async () => {
    expect(await certsCommand(["--out", dir, "--node", "node-a"])).toBe(0);
    const other = await createCa({ commonName: "Other", validityDays: 1 });
    await writeFile(join(dir, "ca-key.pem"), other.keyPem);
    await expect(certsCommand(["--out", dir, "--node", "node-b"])).rejects.toThrow(
      /node-b: CA key does not belong to the CA certificate/,
    );
    await writeFile(join(dir, "ca.pem"), "garbage");
    await expect(certsCommand(["--out", dir, "--node", "node-c"])).rejects.toThrow(
      /ca\.pem: certificate is not/,
    );
  });
});
