import {
  createHash,
  createPrivateKey,
  X509Certificate as NodeX509,
  randomBytes,
  type webcrypto,
} from "node:crypto";
import { createRequire } from "node:module";
import { isIP } from "node:net";
import type * as X509 from "@peculiar/x509";

/**
 * X.509 for the mesh: a private CA and node certificates (ECDSA P-256 / SHA-256) that serve both
 * ends of mutual TLS. Generation uses @peculiar/x509 on Node's WebCrypto.
 */

/**
 * The @peculiar/x509 module, loaded the only way that works here (see loadX509). Import it from
 * this module rather than from the package.
 */
export const x509 = loadX509();
x509.cryptoProvider.set(globalThis.crypto);

const EC = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
/** Backdating notBefore tolerates modest clock skew between the issuing machine and the nodes. */
const BACKDATE_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

export interface PemPair {
  certPem: string;
  keyPem: string;
}

export interface CreateCaOptions {
  commonName: string;
  validityDays: number;
}

export interface IssueCertOptions {
  ca: PemPair;
  commonName: string;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  validityDays: number;
  /** Every mesh node is both a TLS server and a TLS client, so one certificate covers both. */
  usage: "server+client";
}

export interface CertificateInfo {
  /** Distinguished name, e.g. "CN=hermes-0". */
  subject: string;
  issuer: string;
  dnsNames: string[];
  ipAddresses: string[];
  notBefore: Date;
  notAfter: Date;
  /** Lower-case hex, as X.509 tools print it without separators. */
  serialNumber: string;
  /** SHA-256 of the DER encoding, upper-case hex pairs joined by ":" (the `openssl x509 -fingerprint` form). */
  fingerprint256: string;
  isCa: boolean;
}

/** A self-signed CA that may sign node certificates (and nothing below them: pathLength 0). */
export async function createCa(options: CreateCaOptions): Promise<PemPair> {
  checkCommonName(options.commonName);
  const days = checkDays(options.validityDays);
  const keys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [options.commonName] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + days * DAY_MS),
    signingAlgorithm: EC,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKeyPem(keys.privateKey) };
}

/** A node certificate signed by `ca`, with a fresh key pair. */
export async function issueCert(options: IssueCertOptions): Promise<PemPair> {
  checkCommonName(options.commonName);
  const days = checkDays(options.validityDays);
  if (options.usage !== "server+client") throw new Error(`unsupported certificate usage "${options.usage}"`);
  for (const name of options.dnsNames) {
    if (!isDnsName(name)) throw new Error(`"${name}" is not a valid DNS name`);
  }
  for (const ip of options.ipAddresses) {
    if (isIP(ip) === 0) throw new Error(`"${ip}" is not an IP address`);
  }
  const caCert = parseCertificate(options.ca.certPem, "CA certificate");
  const caKey = await importCaKey(options.ca);
  const basic = caCert.getExtension(x509.BasicConstraintsExtension);
  if (!basic?.ca)
    throw new Error(`"${caCert.subject}" is not a CA certificate (basicConstraints CA is not set)`);

  const keys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]);
  const now = Date.now();
  // A certificate that outlives its CA would fail verification anyway once the CA expires.
  const notAfter = new Date(Math.min(now + days * DAY_MS, caCert.notAfter.getTime()));
  const names: X509.JsonGeneralNames = [
    ...unique(options.dnsNames).map((value) => ({ type: "dns" as const, value })),
    ...unique(options.ipAddresses).map((value) => ({ type: "ip" as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [options.commonName] }],
    issuer: caCert.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter,
    signingAlgorithm: EC,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      // Subject alternative names are what TLS hostname checks use; the CN is informational.
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKeyPem(keys.privateKey) };
}

/** What a PEM certificate says, for diagnostics, `hermes certs` output and tests. Reads the first certificate. */
export function certificateInfo(pem: string): CertificateInfo {
  const cert = parseCertificate(pem, "certificate");
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const items = san?.names.items ?? [];
  const digest = createHash("sha256").update(new Uint8Array(cert.rawData)).digest("hex").toUpperCase();
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    dnsNames: items.filter((n) => n.type === "dns").map((n) => n.value),
    ipAddresses: items.filter((n) => n.type === "ip").map((n) => n.value),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serialNumber: cert.serialNumber.toLowerCase(),
    fingerprint256: digest.match(/../g)!.join(":"),
    isCa: cert.getExtension(x509.BasicConstraintsExtension)?.ca === true,
  };
}

/** Checks that `certPem` carries a signature by the CA's key (chain of one; no validity or name checks). */
export async function isSignedBy(certPem: string, caCertPem: string): Promise<boolean> {
  const cert = parseCertificate(certPem, "certificate");
  const ca = parseCertificate(caCertPem, "CA certificate");
  return cert.verify({ publicKey: ca.publicKey, signatureOnly: true });
}

function parseCertificate(pem: string, what: string): X509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch (error) {
    throw new Error(`${what} is not a PEM X.509 certificate: ${errorMessage(error)}`);
  }
}

/**
 * Accepts any PEM private key encoding (PKCS#8, or SEC1 "EC PRIVATE KEY" from openssl) by going
 * through Node's parser, then hands WebCrypto the PKCS#8 form it requires.
 */
async function importCaKey(ca: PemPair): Promise<webcrypto.CryptoKey> {
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(ca.keyPem);
  } catch (error) {
    throw new Error(`CA key is not a PEM private key: ${errorMessage(error)}`);
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== "ec" || curve !== "prime256v1") {
    throw new Error(
      `CA key must be an ECDSA P-256 key, got ${key.asymmetricKeyType ?? "unknown"} ${curve ?? ""}`,
    );
  }
  if (!new NodeX509(ca.certPem).checkPrivateKey(key)) {
    throw new Error("CA key does not belong to the CA certificate");
  }
  const der = key.export({ type: "pkcs8", format: "der" });
  return crypto.subtle.importKey("pkcs8", new Uint8Array(der), EC, false, ["sign"]);
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

/** 128 random bits; the top bit is cleared (serials are positive) and the next one set (fixed length). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString("hex");
}

function checkDays(days: number): number {
  if (!Number.isInteger(days) || days < 1)
    throw new Error(`validity must be a whole number of days ≥ 1, got ${days}`);
  return days;
}

function checkCommonName(name: string): void {
  if (name.length === 0 || name.length > 64) throw new Error("common name must be 1 to 64 characters");
}

/** Host names, dot-separated labels of letters, digits and inner hyphens. No wildcards: nodes get exact names. */
export function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((label) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * @peculiar/x509 pulls in tsyringe, which refuses to load without the reflect-metadata polyfill.
 * It only reads and writes metadata while x509's modules initialise (its classes take no
 * constructor parameters), so a tiny stand-in is installed for the synchronous load and removed
 * right after, leaving the global `Reflect` as it was. A real polyfill, if one is loaded, is used.
 */
function loadX509(): typeof X509 {
  const require = createRequire(import.meta.url);
  const reflect = Reflect as unknown as Record<string, unknown>;
  if (typeof reflect.getMetadata === "function") return require("@peculiar/x509") as typeof X509;
  const store = new WeakMap<object, Map<unknown, unknown>>();
  const shim: Record<string, unknown> = {
    getOwnMetadata: (key: unknown, target: object) => store.get(target)?.get(key),
    getMetadata: (key: unknown, target: object) => {
      for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t)) {
        const value = store.get(t)?.get(key);
        if (value !== undefined) return value;
      }
      return undefined;
    },
    defineMetadata: (key: unknown, value: unknown, target: object) => {
      const map = store.get(target) ?? new Map<unknown, unknown>();
      map.set(key, value);
      store.set(target, map);
    },
  };
  Object.assign(reflect, shim);
  try {
    return require("@peculiar/x509") as typeof X509;
  } finally {
    for (const name of Object.keys(shim)) delete reflect[name];
  }
}
