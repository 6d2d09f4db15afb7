import { randomBytes, webcrypto } from "node:crypto";
// @peculiar/x509 uses tsyringe, which needs the Reflect metadata polyfill loaded first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

// WebCrypto ECDSA P-256, the same as `hermes certs` in the node package.
type X509Crypto = NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
x509.cryptoProvider.set(webcrypto as unknown as X509Crypto);
const subtle = webcrypto.subtle;
const KEY_ALG = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN_ALG = { name: "ECDSA", hash: "SHA-256" } as const;
/** Tolerates clocks of other machines that run a little behind. */
const BACKDATE_MS = 5 * 60_000;

export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

export interface SubjectNames {
  dns: string[];
  ips: string[];
}

/** What the operator needs to know about a certificate, parsed from PEM. */
export interface CertInfo {
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  dns: string[];
  ips: string[];
  subjectKeyId?: string;
  authorityKeyId?: string;
  isCa: boolean;
}

/** Parses the first certificate of a PEM text; undefined when it is not one. */
export function parseCert(pem: string | undefined): CertInfo | undefined {
  if (!pem) return undefined;
  try {
    const cert = new x509.X509Certificate(pem);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const names = san?.names.items ?? [];
    const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
    const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    return {
      subject: cert.subject,
      issuer: cert.issuer,
      serialNumber: cert.serialNumber,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      dns: names.filter((n) => n.type === "dns").map((n) => n.value),
      ips: names.filter((n) => n.type === "ip").map((n) => n.value),
      ...(ski ? { subjectKeyId: ski.keyId } : {}),
      ...(aki?.keyId ? { authorityKeyId: aki.keyId } : {}),
      isCa: bc?.ca ?? false,
    };
  } catch {
    return undefined;
  }
}

/** Every certificate in a PEM bundle, in order. */
export function splitPemBundle(bundle: string | undefined): string[] {
  return bundle?.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // a positive INTEGER
  return bytes.toString("hex");
}

async function exportKey(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

async function importSigningKey(pem: string): Promise<webcrypto.CryptoKey> {
  return subtle.importKey("pkcs8", x509.PemConverter.decodeFirst(pem), KEY_ALG, false, ["sign"]);
}

async function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return subtle.generateKey(KEY_ALG, true, ["sign", "verify"]) as Promise<webcrypto.CryptoKeyPair>;
}

/** A self-signed CA that may only sign leaf certificates (path length 0). */
export async function createCa(commonName: string, now: Date, lifetimeMs: number): Promise<CertAndKey> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}, O=hermes`,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + lifetimeMs),
    keys,
    signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKey(keys.privateKey) };
}

/** A node certificate for both ends of mutual TLS, signed by the CA. */
export async function issueLeaf(
  ca: CertAndKey,
  commonName: string,
  names: SubjectNames,
  now: Date,
  lifetimeMs: number,
): Promise<CertAndKey> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const keys = await newKeys();
  // Never outlive the CA: a chain is only as valid as its shortest link.
  const notAfter = Math.min(now.getTime() + lifetimeMs, caCert.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${commonName}, O=hermes`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: await importSigningKey(ca.keyPem),
    signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension([
        ...names.dns.map((value) => ({ type: "dns" as const, value })),
        ...names.ips.map((value) => ({ type: "ip" as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKey(keys.privateKey) };
}

/** True when the certificate's signature checks out against the CA's key. */
export async function signedBy(certPem: string, caPem: string): Promise<boolean> {
  try {
    const cert = new x509.X509Certificate(certPem);
    const ca = new x509.X509Certificate(caPem);
    return await cert.verify({ publicKey: ca.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}
