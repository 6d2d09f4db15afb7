import { chmod, mkdir, readFile, stat } from "node:fs/promises";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { type CertificateInfo, certificateInfo, createCa, isDnsName, issueCert } from "../transport/certs.js";
import { writeFileAtomic } from "../utils/atomic-write.js";
import { intFlag, type ParsedArgs, parseArgs, rejectUnknown, stringFlag, UsageError } from "./args.js";

const KNOWN = ["out", "node", "ca-days", "days", "dns", "ip", "force"];
/** Names every node certificate carries, so local tools and same-host peers can dial it. */
const LOCAL_DNS = ["localhost"];
const LOCAL_IPS = ["127.0.0.1", "::1"];

/**
 * `hermes certs --out <dir> --node <name>[,<name>...] [--ca-days 3650] [--days 365]
 *  [--dns extra.name,...] [--ip 10.0.0.5,...] [--force]`
 *
 * Makes a mesh CA in <dir> unless one is there (so more nodes can be added later), then a
 * certificate and key per node. Keys are written 0600 through a temp file and rename. Prints a
 * JSON summary. All expected failures are `UsageError`s.
 */
export async function certsCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["force"]);
  rejectUnknown(args, KNOWN);
  if (args.positional.length > 0) throw new UsageError(`unexpected argument "${args.positional[0]}"`);
  const outFlag = stringFlag(args, "out", "");
  if (!outFlag) throw new UsageError("--out <dir> is required");
  const nodes = listFlag(args, "node");
  if (nodes.length === 0) throw new UsageError("--node <name>[,<name>...] is required");
  const caDays = intFlag(args, "ca-days", 3650, 1);
  const days = intFlag(args, "days", 365, 1);
  const extraDns = listFlag(args, "dns");
  const extraIps = listFlag(args, "ip");
  const force = args.flags.get("force") === true;
  if (args.flags.has("force") && !force) throw new UsageError("--force takes no value");

  for (const name of [...nodes, ...extraDns]) {
    if (!isDnsName(name))
      throw new UsageError(`"${name}" is not a valid DNS name (letters, digits, "-", ".")`);
  }
  for (const ip of extraIps) {
    if (isIP(ip) === 0) throw new UsageError(`--ip: "${ip}" is not an IP address`);
  }

  const out = resolve(outFlag);
  const caFiles = { cert: join(out, "ca.pem"), key: join(out, "ca-key.pem") };
  const nodeFiles = nodes.map((name) => ({
    name,
    cert: join(out, `${name}.pem`),
    key: join(out, `${name}-key.pem`),
  }));
  // Node names become file names: "ca", or "a" next to "a-key", would overwrite another file.
  const seen = new Set([caFiles.cert, caFiles.key]);
  for (const f of nodeFiles) {
    for (const path of [f.cert, f.key]) {
      if (seen.has(path))
        throw new UsageError(`node "${f.name}" would write ${path}, which another file uses`);
      seen.add(path);
    }
  }

  // Check everything before writing anything, so a refusal leaves the directory as it was.
  await mkdir(out, { recursive: true, mode: 0o700 });
  const [caCertExists, caKeyExists] = [await exists(caFiles.cert), await exists(caFiles.key)];
  if (caCertExists !== caKeyExists) {
    const [present, missing] = caCertExists ? [caFiles.cert, caFiles.key] : [caFiles.key, caFiles.cert];
    throw new UsageError(
      `found ${present} but not ${missing}: restore it, or move both away to make a new CA`,
    );
  }
  if (!force) {
    for (const f of nodeFiles) {
      for (const path of [f.cert, f.key]) {
        if (await exists(path)) throw new UsageError(`${path} exists: pass --force to replace it`);
      }
    }
  }

  let ca: { certPem: string; keyPem: string };
  const caCreated = !caCertExists;
  if (caCertExists) {
    ca = { certPem: await readFile(caFiles.cert, "utf8"), keyPem: await readFile(caFiles.key, "utf8") };
    const info = readCaInfo(ca.certPem, caFiles.cert);
    if (!info.isCa) throw new UsageError(`${caFiles.cert} is not a CA certificate`);
    if (info.notAfter.getTime() <= Date.now()) {
      throw new UsageError(`the CA in ${caFiles.cert} expired on ${info.notAfter.toISOString()}`);
    }
  } else {
    ca = await createCa({ commonName: "Hermes mesh CA", validityDays: caDays });
    // Key first: a crash in between leaves a key without a certificate, which the check above reports.
    // Exclusive, so two concurrent runs cannot each install a different CA.
    await writeFileAtomic(caFiles.key, ca.keyPem, true).catch(refuseExisting(caFiles.key));
    await writeFileAtomic(caFiles.cert, ca.certPem, true).catch(refuseExisting(caFiles.cert));
    await chmod(caFiles.cert, 0o644);
  }

  const issued = [];
  for (const f of nodeFiles) {
    let pair: { certPem: string; keyPem: string };
    try {
      pair = await issueCert({
        ca,
        commonName: f.name,
        dnsNames: [f.name, ...LOCAL_DNS, ...extraDns],
        ipAddresses: [...LOCAL_IPS, ...extraIps],
        validityDays: days,
        usage: "server+client",
      });
    } catch (error) {
      // Mostly an unusable existing CA (wrong key type, key not matching the certificate).
      throw new UsageError(
        `${f.name}: ${error instanceof Error ? error.message : String(error)} (CA in ${out})`,
      );
    }
    // Key before certificate: a node reloading these files mid-way sees a mismatched pair, which
    // its reload rejects, and picks the complete pair up on the next read.
    await writeFileAtomic(f.key, pair.keyPem, !force).catch(refuseExisting(f.key));
    await writeFileAtomic(f.cert, pair.certPem, !force).catch(refuseExisting(f.cert));
    await chmod(f.cert, 0o644);
    const info = certificateInfo(pair.certPem);
    issued.push({
      name: f.name,
      cert: f.cert,
      key: f.key,
      dnsNames: info.dnsNames,
      ipAddresses: info.ipAddresses,
      serialNumber: info.serialNumber,
      fingerprint256: info.fingerprint256,
      notAfter: info.notAfter.toISOString(),
    });
  }

  const caInfo = certificateInfo(ca.certPem);
  const summary = {
    out,
    ca: {
      cert: caFiles.cert,
      key: caFiles.key,
      created: caCreated,
      fingerprint256: caInfo.fingerprint256,
      notAfter: caInfo.notAfter.toISOString(),
    },
    nodes: issued,
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  return 0;
}

/** A comma-separated flag; repeated flags are not supported by parseArgs, so commas carry lists. */
function listFlag(args: ParsedArgs, name: string): string[] {
  const values = stringFlag(args, name, "")
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");
  return [...new Set(values)];
}

function readCaInfo(pem: string, path: string): CertificateInfo {
  try {
    return certificateInfo(pem);
  } catch (error) {
    throw new UsageError(`${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

/** Exclusive writes fail with EEXIST when another run created the file after our check. */
function refuseExisting(path: string): (error: unknown) => never {
  return (error) => {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new UsageError(`${path} appeared while writing: pass --force to replace it`);
    }
    throw error;
  };
}
