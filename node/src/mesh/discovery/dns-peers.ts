import type { SrvRecord } from "node:dns";
import { Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import { formatHostPort } from "./address.js";
import { type DnsSpec, parseDnsSpec } from "./dns-spec.js";
import { DiscoveryError, type PeerSource, type SourceResult } from "./types.js";

/** The part of `node:dns/promises` Resolver that discovery uses; tests pass a fake. */
export interface DnsResolver {
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  resolveSrv(name: string): Promise<SrvRecord[]>;
  getServers(): string[];
  /** Rejects every outstanding query (with ECANCELLED). */
  cancel(): void;
}

export interface DnsPeerSourceOptions {
  /** `mesh.dns`: "name:port" (A/AAAA) or "_service._proto.name" (SRV). */
  spec: string;
  /** `mesh.dnsServer`, an IP "host:port"; empty or absent means the system's resolvers. */
  server?: string;
  /** Bound on one whole resolution, SRV targets included (default 5000). */
  timeoutMs?: number;
  /** Attempts per query (default 2). */
  tries?: number;
  /** Makes a resolver per resolution; defaults to a c-ares Resolver set up from the options. */
  createResolver?: () => DnsResolver;
}

/** "No such name" and "no records of this type": an empty answer, not a failure. */
const EMPTY_ANSWER = new Set(["ENODATA", "ENOTFOUND"]);

const REASONS: Record<string, string> = {
  ETIMEOUT: "no answer",
  ECONNREFUSED: "connection refused",
  ESERVFAIL: "server failure",
  EREFUSED: "query refused",
  EBADRESP: "malformed answer",
};

/**
 * DNS discovery of a headless Service. Resolvers do not apply resolv.conf search domains, so
 * names should be fully qualified (hermes-mesh.<namespace>.svc.cluster.local).
 */
export class DnsPeerSource implements PeerSource {
  readonly name = "dns";
  readonly spec: DnsSpec;
  private readonly timeoutMs: number;
  private readonly server: string;
  private readonly createResolver: () => DnsResolver;

  /** Throws on a malformed spec or server, so configuration mistakes fail at start. */
  constructor(options: DnsPeerSourceOptions) {
    this.spec = parseDnsSpec(options.spec);
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.server = options.server ?? "";
    const tries = options.tries ?? 2;
    this.createResolver =
      options.createResolver ?? (() => systemResolver(this.server, this.timeoutMs, tries));
    this.createResolver(); // a server that is not an IP address throws here, at start
  }

  async resolve(): Promise<SourceResult> {
    const resolver = this.createResolver();
    const lookup = new Lookup(resolver, this.timeoutMs);
    try {
      const spec = this.spec;
      const { records, failures } =
        spec.kind === "srv" ? await lookup.srv(spec.name) : await lookup.addresses(spec.name);
      const peers = spec.kind === "srv" ? records : records.map((ip) => formatHostPort(ip, spec.port));
      const unique = [...new Set(peers)];
      if (failures.length === 0) return { peers: unique };
      const via =
        this.server || `the system resolver (${resolver.getServers().join(", ") || "none configured"})`;
      const spelled = spec.kind === "srv" ? spec.name : formatHostPort(spec.name, spec.port);
      const error = new DiscoveryError(
        `DNS discovery of "${spelled}" via ${via} failed: ${failures.join("; ")}`,
        this.name,
      );
      return { peers: unique, error };
    } finally {
      lookup.finish();
    }
  }
}

/** Records found, and the failures met on the way (in a stable order, for readable reports). */
interface Answer<T> {
  records: T[];
  failures: string[];
}

/** One resolution, under one deadline. */
class Lookup {
  private timedOut = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly resolver: DnsResolver,
    private readonly timeoutMs: number,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      resolver.cancel();
    }, timeoutMs);
    this.timer.unref();
  }

  finish(): void {
    clearTimeout(this.timer);
  }

  /** SRV targets in priority order (lower first), then by weight (heavier first). */
  async srv(name: string): Promise<Answer<string>> {
    const srv = await this.query("SRV", name, (r) => r.resolveSrv(name));
    const records = srv.records
      .filter((record) => record.name !== "" && record.name !== ".") // "." means "no service here"
      .sort((a, b) => a.priority - b.priority || b.weight - a.weight);
    const targets = await Promise.all(
      records.map(async (record) => {
        const found = await this.addresses(record.name);
        // A target without address records may still be dialable by name (e.g. from /etc/hosts).
        const hosts = found.records.length > 0 ? found.records : [record.name];
        return { records: hosts.map((host) => formatHostPort(host, record.port)), failures: found.failures };
      }),
    );
    return merge([{ records: [], failures: srv.failures }, ...targets]);
  }

  /** A and AAAA records, asked in parallel; an IP literal is its own answer. */
  async addresses(name: string): Promise<Answer<string>> {
    if (isIP(name) !== 0) return { records: [name], failures: [] };
    return merge(
      await Promise.all([
        this.query("A", name, (r) => r.resolve4(name)),
        this.query("AAAA", name, (r) => r.resolve6(name)),
      ]),
    );
  }

  private async query<T>(
    type: string,
    name: string,
    ask: (r: DnsResolver) => Promise<T[]>,
  ): Promise<Answer<T>> {
    try {
      return { records: await ask(this.resolver), failures: [] };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "";
      if (EMPTY_ANSWER.has(code)) return { records: [], failures: [] };
      const reason = this.timedOut
        ? `no answer within ${this.timeoutMs} ms`
        : REASONS[code]
          ? `${code} (${REASONS[code]})`
          : code || (err as Error).message;
      return { records: [], failures: [`${type} ${name}: ${reason}`] };
    }
  }
}

function merge<T>(answers: Answer<T>[]): Answer<T> {
  return { records: answers.flatMap((a) => a.records), failures: answers.flatMap((a) => a.failures) };
}

function systemResolver(server: string, timeoutMs: number, tries: number): DnsResolver {
  // c-ares doubles the wait on each retry; give the first try a share that lets a query and
  // its retries, then the SRV target lookups, fit inside timeoutMs. The deadline cancels the rest.
  const resolver = new Resolver({ timeout: Math.max(50, Math.floor(timeoutMs / 2 ** (tries + 1))), tries });
  if (server !== "") {
    try {
      resolver.setServers([server]);
    } catch (err) {
      throw new Error(
        `DNS server "${server}" must be an IP address and port, e.g. "10.96.0.10:53" or "[fd00::a]:53": ${(err as Error).message}`,
      );
    }
  }
  return resolver;
}
