import { hostname } from "node:os";
import type { LogLevel } from "./telemetry/log.js";

export interface Options {
  kubeconfig?: string;
  /** Namespaces to watch; empty: all. */
  namespaces: string[];
  defaultNodeImage: string;
  clusterDomain: string;
  metricsBindAddress: string;
  healthProbeBindAddress: string;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  identity: string;
  workers: number;
  logLevel: LogLevel;
  /** Server-side watch timeout; 0: a random 5 to 10 minutes per watch. */
  watchTimeoutSeconds: number;
}

const LEVELS: LogLevel[] = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

interface Flag {
  help: string;
  default: (env: Record<string, string | undefined>) => string;
}

/** Every flag, also settable as HERMES_OPERATOR_<FLAG> (e.g. HERMES_OPERATOR_DEFAULT_NODE_IMAGE). */
export const FLAGS: Record<string, Flag> = {
  kubeconfig: { help: "kubeconfig file; in-cluster config or $KUBECONFIG when unset", default: () => "" },
  namespaces: { help: "comma-separated namespaces to watch; all when empty", default: () => "" },
  "default-node-image": { help: "node image for HermesNodes without spec.image", default: () => "" },
  "cluster-domain": { help: "the cluster's DNS domain", default: () => "cluster.local" },
  "metrics-bind-address": { help: "where /metrics is served", default: () => ":8080" },
  "health-probe-bind-address": { help: "where /healthz and /readyz are served", default: () => ":8081" },
  "leader-elect": { help: "elect a leader through a Lease (true|false)", default: () => "true" },
  "leader-election-namespace": {
    help: "namespace of the Lease; the pod's namespace in a cluster",
    default: (env) => env.POD_NAMESPACE ?? "default",
  },
  "leader-election-id": { help: "name of the Lease", default: () => "hermes-operator" },
  identity: {
    help: "this replica's name in the Lease and events",
    default: (env) => env.POD_NAME ?? `${hostname()}-${process.pid}`,
  },
  workers: { help: "HermesNodes reconciled in parallel", default: () => "2" },
  "log-level": { help: LEVELS.join("|"), default: () => "info" },
  "watch-timeout-seconds": {
    help: "how long each watch runs before it is resumed; 0: 5 to 10 minutes at random",
    default: () => "0",
  },
};

export class UsageError extends Error {}

export const envNameOf = (flag: string) => `HERMES_OPERATOR_${flag.toUpperCase().replace(/-/g, "_")}`;

export function usage(): string {
  const lines = Object.entries(FLAGS).map(
    ([name, f]) => `  --${name.padEnd(28)} ${f.help} (env ${envNameOf(name)})`,
  );
  return `hermes-operator: reconciles HermesNode resources\n\nflags:\n${lines.join("\n")}\n`;
}

/** Flags (--name value or --name=value) over environment over defaults. */
export function parseOptions(argv: string[], env: Record<string, string | undefined>): Options {
  const values = new Map<string, string>();
  for (const [name, flag] of Object.entries(FLAGS))
    values.set(name, env[envNameOf(name)] ?? flag.default(env));
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith("--")) throw new UsageError(`unexpected argument "${token}"`);
    const eq = token.indexOf("=");
    const name = token.slice(2, eq < 0 ? undefined : eq);
    if (!(name in FLAGS)) throw new UsageError(`unknown flag --${name}`);
    let value = eq < 0 ? argv[++i] : token.slice(eq + 1);
    if (value === undefined) throw new UsageError(`flag --${name} needs a value`);
    if (name === "leader-elect" && eq < 0 && value.startsWith("--")) {
      i--; // a bare --leader-elect means true
      value = "true";
    }
    values.set(name, value);
  }
  const get = (name: string) => values.get(name)!;
  const leaderElect = get("leader-elect");
  if (leaderElect !== "true" && leaderElect !== "false")
    throw new UsageError(`--leader-elect must be true or false, got "${leaderElect}"`);
  const workers = Number(get("workers"));
  if (!Number.isInteger(workers) || workers < 1 || workers > 32)
    throw new UsageError(`--workers must be an integer from 1 to 32, got "${get("workers")}"`);
  const watchTimeoutSeconds = Number(get("watch-timeout-seconds"));
  if (!Number.isInteger(watchTimeoutSeconds) || watchTimeoutSeconds < 0) {
    throw new UsageError(
      `--watch-timeout-seconds must be a non-negative integer, got "${get("watch-timeout-seconds")}"`,
    );
  }
  const logLevel = get("log-level") as LogLevel;
  if (!LEVELS.includes(logLevel))
    throw new UsageError(`--log-level must be one of ${LEVELS.join(", ")}, got "${logLevel}"`);
  return {
    ...(get("kubeconfig") ? { kubeconfig: get("kubeconfig") } : {}),
    namespaces: get("namespaces")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    defaultNodeImage: get("default-node-image"),
    clusterDomain: get("cluster-domain"),
    metricsBindAddress: get("metrics-bind-address"),
    healthProbeBindAddress: get("health-probe-bind-address"),
    leaderElect: leaderElect === "true",
    leaderElectionNamespace: get("leader-election-namespace"),
    leaderElectionId: get("leader-election-id"),
    identity: get("identity"),
    workers,
    logLevel,
    watchTimeoutSeconds,
  };
}
