import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { type Document, isAlias, isMap, isNode, isScalar, LineCounter, parseDocument } from "yaml";
import { parseDnsSpec } from "../mesh/discovery/dns-spec.js";
import { parseHostPort } from "../utils/host-port.js";
import { defaultConfig } from "./defaults.js";
import type { NodeConfig } from "./types.js";

/** A configuration problem; the message names the key and where its value came from. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly key?: string,
    readonly source?: string,
  ) {
    super(`invalid config: ${message}`);
    this.name = "ConfigError";
  }
}

export interface LoadConfigOptions {
  /** Flags after the subcommand. */
  argv: string[];
  env: Record<string, string | undefined>;
  /** Base for relative paths; defaults to process.cwd(). */
  cwd?: string;
}

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/** Keys where 0 is meaningless (a zero interval would spin a timer; Argon2 needs costs >= 1). */
const POSITIVE = new Set([
  "keystore.kdf.memoryKiB",
  "keystore.kdf.iterations",
  "keystore.kdf.parallelism",
  "keystore.flushIntervalMs",
  "limits.maxFrameBytes",
  "limits.messageBurst",
  "limits.messagesPerSecond",
  "limits.chatStartsPerMinute",
  "limits.maxChatsPerApp",
  "limits.maxSessions",
  "limits.framesPerSecond",
  "limits.maxInFlightPerChat",
  "limits.maxPendingOffersPerApp",
  "limits.maxQueuedBytesPerSession",
  "limits.maxQueuedBytes",
  "limits.maxUnauthenticatedSessions",
  "limits.connectsPerSecondPerAddress",
  "limits.connectFailuresPerMinutePerAddress",
  "limits.slowReaderCutsPerMinutePerAddress",
  "timeouts.authenticateWithinMs",
  "limits.maxConnections",
  "limits.maxConnectionsPerAddress",
  "mesh.peerFramesPerSecond",
  "mesh.maxFrameBytes",
  "mesh.maxConnections",
  "mesh.maxConnectionsPerAddress",
  "mesh.connectionIdleMs",
  "mesh.tlsHandshakeTimeoutMs",
  "mesh.discoveryIntervalMs",
  "timeouts.heartbeatIntervalMs",
  "timeouts.sweepIntervalMs",
  "timeouts.connectionIdleMs",
]);
const HOST_PORT_KEYS = [
  "listen.app",
  "listen.admin",
  "advertiseApp",
  "mesh.listen",
  "mesh.advertise",
  "mesh.dnsServer",
];
const POSITIVE_PREFIXES = ["mesh.membership."];
const NON_NEGATIVE_IN_SECTION = new Set(["mesh.membership.indirectProbes", "mesh.membership.gossipNodes"]);
/** Environment variables that share the prefix but are not config keys. */
const NOT_CONFIG_ENV = new Set(["HERMES_CONFIG", "HERMES_KEYSTORE_PASSPHRASE"]);

type Leaf = string | number | boolean | string[];
interface Raw {
  value: unknown;
  source: string;
}
interface Schema {
  leaves: Map<string, Leaf>;
  sections: Set<string>;
}

function schemaOf(config: NodeConfig): Schema {
  const schema: Schema = { leaves: new Map(), sections: new Set() };
  const walk = (obj: object, prefix: string) => {
    for (const [key, value] of Object.entries(obj)) {
      const path = prefix + key;
      if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        schema.sections.add(path);
        walk(value, `${path}.`);
      } else {
        schema.leaves.set(path, value as Leaf);
      }
    }
  };
  walk(config, "");
  return schema;
}

/** All dotted leaf paths, e.g. "limits.maxFrameBytes". */
export function configKeys(): string[] {
  return [...schemaOf(defaultConfig()).leaves.keys()];
}

/** The environment variable for a key path: limits.maxFrameBytes -> HERMES_LIMITS_MAX_FRAME_BYTES. */
export function envNameFor(path: string): string {
  const words = path.split(".").map((segment) =>
    segment
      .replace(/KiB/g, "Kib") // one unit, not two words: memoryKiB -> MEMORY_KIB
      .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
      .toUpperCase(),
  );
  return `HERMES_${words.join("_")}`;
}

/** Merges defaults < YAML file < HERMES_* environment < flags, then validates and resolves paths. */
export function loadConfig(options: LoadConfigOptions): NodeConfig {
  const { env } = options;
  const cwd = options.cwd ?? process.cwd();
  const defaults = defaultConfig();
  const schema = schemaOf(defaults);
  const raw = new Map<string, Raw>();
  for (const [path, value] of schema.leaves) raw.set(path, { value, source: "default" });

  const flags = parseFlags(options.argv, schema);
  const file =
    flags.configFile ??
    (env.HERMES_CONFIG ? { value: env.HERMES_CONFIG, source: "HERMES_CONFIG" } : undefined);
  if (file?.value) {
    for (const [path, r] of readYaml(resolve(cwd, String(file.value)), file.source, schema)) raw.set(path, r);
  }
  const unknownEnv = applyEnv(env, schema, raw);
  for (const [path, r] of flags.values) raw.set(path, r);
  // Checked after merging so a renamed passphrase variable (keystore.passphraseEnv) is not flagged.
  const passphraseEnv = String(raw.get("keystore.passphraseEnv")?.value);
  const unknown = unknownEnv.find((name) => name !== passphraseEnv);
  if (unknown) {
    throw new ConfigError(
      `unknown environment variable ${unknown}${hint(unknown, schema.leaves.keys(), envNameFor)}`,
      unknown,
      "environment",
    );
  }

  const config = structuredClone(defaults);
  for (const [path, def] of schema.leaves) setPath(config, path, coerce(path, def, raw.get(path)!));
  validate(config, raw);
  return derive(config, cwd);
}

function parseFlags(argv: string[], schema: Schema): { configFile?: Raw; values: [string, Raw][] } {
  const values: [string, Raw][] = [];
  let configFile: Raw | undefined;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith("--") || token === "--") {
      throw new ConfigError(`unexpected argument "${token}"`, token, "command line");
    }
    const eq = token.indexOf("=");
    const name = token.slice(2, eq < 0 ? undefined : eq);
    if (name !== "config" && name !== "set" && !schema.leaves.has(name)) {
      throw new ConfigError(
        `unknown flag --${name}${hint(name, schema.leaves.keys(), (k) => `--${k}`)}`,
        name,
        "--" + name,
      );
    }
    let value: string;
    if (eq >= 0) {
      value = token.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) {
        throw new ConfigError(`flag --${name} needs a value`, name, `--${name}`);
      }
      value = next;
      i++;
    }
    if (name === "config") {
      configFile = { value, source: "--config" };
    } else if (name === "set") {
      const at = value.indexOf("=");
      const path = value.slice(0, Math.max(at, 0));
      if (at < 0 || !schema.leaves.has(path)) {
        const what = at < 0 ? `expects path=value, got "${value}"` : `unknown key ${path}`;
        throw new ConfigError(`--set ${what}${hint(path, schema.leaves.keys())}`, path, "--set");
      }
      values.push([path, { value: value.slice(at + 1), source: `--set ${path}` }]);
    } else {
      values.push([name, { value, source: `--${name}` }]);
    }
  }
  return { configFile, values };
}

/** Applies known HERMES_* variables; returns unknown ones that sit under a known section. */
function applyEnv(env: LoadConfigOptions["env"], schema: Schema, raw: Map<string, Raw>): string[] {
  const byEnv = new Map([...schema.leaves.keys()].map((path) => [envNameFor(path), path]));
  const sectionPrefixes = [...schema.sections].map((s) => `${envNameFor(s)}_`);
  const unknown: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !name.startsWith("HERMES_") || NOT_CONFIG_ENV.has(name)) continue;
    const path = byEnv.get(name);
    if (path) raw.set(path, { value, source: name });
    else if (sectionPrefixes.some((p) => name.startsWith(p))) unknown.push(name);
  }
  return unknown.sort();
}

function readYaml(file: string, via: string, schema: Schema): [string, Raw][] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(
      `cannot read config file ${file} (from ${via}): ${(err as Error).message}`,
      via,
      via,
    );
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const bad = doc.errors[0];
  if (bad) {
    const pos = bad.linePos?.[0];
    const where = pos ? ` at line ${pos.line}, column ${pos.col}` : "";
    const what = bad.message.split("\n")[0]!.replace(/ at line \d+, column \d+:$/, "");
    throw new ConfigError(`cannot parse config file ${file}${where}: ${what}`, via, file);
  }
  const lineOf = (node: unknown) =>
    isNode(node) && node.range ? `${file}:${lines.linePos(node.range[0]).line}` : file;
  const out: [string, Raw][] = [];
  const walk = (node: unknown, prefix: string, source: string) => {
    const target = isAlias(node) ? node.resolve(doc) : node;
    if (target == null || (isScalar(target) && target.value == null)) return; // empty file or section
    if (!isMap(target)) {
      throw new ConfigError(`${prefix || "the top level"} in ${source} must be a mapping`, prefix, source);
    }
    for (const pair of target.items) {
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
      const path = prefix ? `${prefix}.${key}` : key;
      const at = lineOf(pair.key);
      if (schema.sections.has(path)) {
        walk(pair.value, path, at);
      } else if (schema.leaves.has(path)) {
        out.push([path, { value: toValue(pair.value, doc, path, at), source: at }]);
      } else {
        const known = [...schema.leaves.keys(), ...schema.sections];
        throw new ConfigError(`unknown key ${path} in ${at}${hint(path, known)}`, path, at);
      }
    }
  };
  walk(doc.contents, "", file);
  return out;
}

function toValue(node: unknown, doc: Document, path: string, source: string): unknown {
  if (!isNode(node)) return node;
  try {
    return node.toJS(doc);
  } catch (err) {
    throw new ConfigError(`${path} from ${source}: ${(err as Error).message}`, path, source);
  }
}

function coerce(path: string, def: Leaf, raw: Raw): Leaf {
  const { value, source } = raw;
  const fail = (expected: string) =>
    new ConfigError(
      `${path} from ${source}: expected ${expected}, got ${JSON.stringify(value)}`,
      path,
      source,
    );
  if (path === "log.level") {
    if (LOG_LEVELS.includes(value as (typeof LOG_LEVELS)[number])) return value as string;
    throw fail(`one of ${LOG_LEVELS.join(", ")}`);
  }
  if (typeof def === "boolean") {
    if (value === true || value === "true") return true;
    if (value === false || value === "false") return false;
    throw fail("true or false");
  }
  if (Array.isArray(def)) {
    // A YAML list, or a comma-separated string from the environment or a flag.
    const list = typeof value === "string" ? value.split(",").map((v) => v.trim()) : value;
    if (!Array.isArray(list) || list.some((v) => typeof v !== "string")) throw fail("a list of strings");
    return (list as string[]).filter((v) => v !== "");
  }
  if (typeof def === "number") {
    const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
    const min =
      POSITIVE.has(path) ||
      (POSITIVE_PREFIXES.some((p) => path.startsWith(p)) && !NON_NEGATIVE_IN_SECTION.has(path))
        ? 1
        : 0;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min) {
      throw fail(min ? "a positive integer" : "a non-negative integer");
    }
    return n;
  }
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value); // YAML `nodeName: 42`
  throw fail("a string");
}

function validate(config: NodeConfig, raw: Map<string, Raw>): void {
  const from = (path: string) => raw.get(path)!.source;
  for (const path of HOST_PORT_KEYS) {
    const value = getPath(config, path) as string;
    if (value === "" && path !== "listen.app" && path !== "listen.admin" && path !== "mesh.listen") continue;
    try {
      parseHostPort(value);
    } catch (err) {
      throw new ConfigError(`${path} from ${from(path)}: ${(err as Error).message}`, path, from(path));
    }
  }
  if (config.dataDir === "") {
    throw new ConfigError(
      `dataDir from ${from("dataDir")}: expected a non-empty path`,
      "dataDir",
      from("dataDir"),
    );
  }
  const lessThan = (a: string, b: string) => {
    const [va, vb] = [getPath(config, a) as number, getPath(config, b) as number];
    if (va < vb) return;
    throw new ConfigError(
      `${a} (${va}, from ${from(a)}) must be less than ${b} (${vb}, from ${from(b)})`,
      a,
      from(a),
    );
  };
  lessThan("limits.maxCiphertextBytes", "limits.maxFrameBytes");
  // Every message is a frame: a frame budget under the message budget would refuse honest senders.
  const [frames, messages] = [config.limits.framesPerSecond, config.limits.messagesPerSecond];
  if (frames < messages) {
    throw new ConfigError(
      `limits.framesPerSecond (${frames}, from ${from("limits.framesPerSecond")}) must be at least ` +
        `limits.messagesPerSecond (${messages}, from ${from("limits.messagesPerSecond")})`,
      "limits.framesPerSecond",
      from("limits.framesPerSecond"),
    );
  }
  lessThan("mesh.membership.probeTimeoutMs", "mesh.membership.probeIntervalMs");
  for (const peer of config.mesh.peers) {
    try {
      parseHostPort(peer);
    } catch (err) {
      throw new ConfigError(
        `mesh.peers from ${from("mesh.peers")}: ${(err as Error).message}`,
        "mesh.peers",
        from("mesh.peers"),
      );
    }
  }
  if (config.mesh.dns !== "") {
    try {
      parseDnsSpec(config.mesh.dns);
    } catch (err) {
      throw new ConfigError(
        `mesh.dns from ${from("mesh.dns")}: ${(err as Error).message}`,
        "mesh.dns",
        from("mesh.dns"),
      );
    }
  }
  const tls = config.mesh.tls;
  const tlsSet = [tls.cert, tls.key, tls.ca].filter((f) => f !== "").length;
  if (tlsSet !== 0 && tlsSet !== 3) {
    throw new ConfigError(
      `mesh.tls needs all of cert, key and ca (got ${tlsSet} of 3, from ${from("mesh.tls.cert")})`,
      "mesh.tls",
      from("mesh.tls.cert"),
    );
  }
  if (tlsSet === 3 && config.mesh.insecure) {
    throw new ConfigError(
      "mesh.insecure and mesh.tls are both set: choose one",
      "mesh.insecure",
      from("mesh.insecure"),
    );
  }
  if (tlsSet === 0 && !config.mesh.insecure && (config.mesh.peers.length > 0 || config.mesh.dns !== "")) {
    throw new ConfigError(
      "mesh peers or dns are set but the mesh has no TLS: set mesh.tls.cert, mesh.tls.key and mesh.tls.ca (see `hermes certs`), or mesh.insecure=true for local development",
      "mesh.tls",
      from("mesh.peers"),
    );
  }
  lessThan("timeouts.heartbeatIntervalMs", "timeouts.sessionIdleMs");
  lessThan("mesh.tlsHandshakeTimeoutMs", "mesh.connectionIdleMs");
  for (const section of ["limits", "mesh"]) {
    const [perAddress, total] = [`${section}.maxConnectionsPerAddress`, `${section}.maxConnections`];
    if ((getPath(config, perAddress) as number) > (getPath(config, total) as number)) {
      throw new ConfigError(
        `${perAddress} (${getPath(config, perAddress)}, from ${from(perAddress)}) must not exceed ${total} (${getPath(config, total)}, from ${from(total)})`,
        perAddress,
        from(perAddress),
      );
    }
  }
  // messageBurst >= 1 and sweepIntervalMs > 0 are enforced by POSITIVE during coercion.
}

function derive(config: NodeConfig, cwd: string): NodeConfig {
  config.dataDir = resolve(cwd, config.dataDir);
  const ks = config.keystore;
  ks.path = ks.path ? resolve(cwd, ks.path) : join(config.dataDir, "keystore.json");
  if (ks.passphraseFile) ks.passphraseFile = resolve(cwd, ks.passphraseFile);
  const tls = config.mesh.tls;
  for (const key of ["cert", "key", "ca"] as const) if (tls[key]) tls[key] = resolve(cwd, tls[key]);
  if (!config.advertiseApp) config.advertiseApp = advertised(config.listen.app);
  if (!config.mesh.advertise) config.mesh.advertise = advertised(config.mesh.listen);
  return config;
}

function getPath(obj: object, path: string): unknown {
  return path.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], obj);
}

function setPath(obj: object, path: string, value: unknown): void {
  const keys = path.split(".");
  const last = keys.pop()!;
  const parent = keys.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], obj);
  (parent as Record<string, unknown>)[last] = value;
}

/** " (did you mean X?)" when a known key is close enough to be a likely typo. */
function hint(name: string, known: Iterable<string>, show: (k: string) => string = (k) => k): string {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const lower = name.toLowerCase();
  for (const key of known) {
    const d = Math.min(distance(lower, key.toLowerCase()), distance(lower, show(key).toLowerCase()));
    if (d < bestDistance) [best, bestDistance] = [key, d];
  }
  const close = best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 4));
  return close ? ` (did you mean ${show(best!)}?)` : "";
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** What others should dial for a listen address: a wildcard host becomes this host's name. */
function advertised(listen: string): string {
  const { host, port } = parseHostPort(listen);
  if (host === "" || host === "0.0.0.0" || host === "::" || host === "[::]") return `${hostname()}:${port}`;
  return listen;
}
