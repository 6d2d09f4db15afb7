import { isIP } from "node:net";
import { parseHostPort } from "../../utils/host-port.js";

/** "host:port", with brackets around IPv6 addresses. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The one spelling of a peer endpoint used for comparisons: host names lower-cased without a
 * trailing dot, IPv6 in its compressed form. Throws when the value is not a dialable host:port.
 */
export function canonicalAddress(address: string): string {
  const { host, port } = parseHostPort(address.trim());
  if (host === "" || port === 0) throw new Error(`"${address}" is not a dialable host:port`);
  return formatHostPort(canonicalHost(host), port);
}

function canonicalHost(host: string): string {
  const lower = host.toLowerCase().replace(/\.$/, "");
  if (isIP(lower) !== 6) return lower;
  try {
    // The URL parser prints IPv6 in RFC 5952 form, so "0:0::1" and "::1" compare equal.
    return new URL(`http://[${lower}]/`).hostname.slice(1, -1);
  } catch {
    return lower; // zone IDs ("fe80::1%eth0") are not valid in URLs; keep them as written
  }
}
