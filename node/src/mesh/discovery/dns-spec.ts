import { parseHostPort } from "../../utils/host-port.js";

/**
 * A parsed `mesh.dns` value:
 * - "name:port": the A and AAAA records of `name` (a headless Service), each dialled at `port`;
 * - "_service._proto.name": SRV records, whose targets and ports say where to dial.
 */
export type DnsSpec = { kind: "address"; name: string; port: number } | { kind: "srv"; name: string };

const SRV_NAME = /^_[A-Za-z0-9-]+\._[A-Za-z0-9-]+(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)+\.?$/;

/** Throws an Error that quotes the spec and says which form was expected. */
export function parseDnsSpec(spec: string): DnsSpec {
  const value = spec.trim();
  if (value === "") throw new Error("DNS discovery spec is empty");
  if (value.startsWith("_")) {
    if (!SRV_NAME.test(value)) {
      throw new Error(
        `"${spec}" is not an SRV name: expected "_service._proto.name" (no port), e.g. "_mesh._tcp.hermes-mesh.hermes.svc.cluster.local"`,
      );
    }
    return { kind: "srv", name: value };
  }
  let parsed: { host: string; port: number };
  try {
    parsed = parseHostPort(value);
  } catch (err) {
    throw new Error(
      `DNS discovery spec: ${(err as Error).message} (expected "name:port" or "_service._proto.name")`,
    );
  }
  if (parsed.host === "" || parsed.port === 0) {
    throw new Error(
      `"${spec}" needs both a name and a port 1-65535, e.g. "hermes-mesh.hermes.svc.cluster.local:7401"`,
    );
  }
  return { kind: "address", name: parsed.host, port: parsed.port };
}
