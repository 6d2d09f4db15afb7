import { isIP } from "node:net";

export interface HostPort {
  /** Empty means all interfaces. IPv6 addresses come without brackets. */
  host: string;
  port: number;
}

const HOST_NAME =
  /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

/** Parses "host:port", ":port" or "[v6]:port"; throws an Error saying what is wrong. */
export function parseHostPort(value: string): HostPort {
  const colon = value.lastIndexOf(":");
  if (colon < 0) throw new Error(`expected host:port, got "${value}"`);
  let host = value.slice(0, colon);
  const portText = value.slice(colon + 1);
  if (host.startsWith("[") && host.endsWith("]")) {
    host = host.slice(1, -1);
    if (isIP(host) !== 6) throw new Error(`"${host}" in "${value}" is not an IPv6 address`);
  } else if (host.includes(":")) {
    throw new Error(`IPv6 addresses need brackets, e.g. "[::1]:7400", got "${value}"`);
  } else if (host !== "" && !HOST_NAME.test(host)) {
    throw new Error(`"${host}" in "${value}" is not a valid host name or IP address`);
  } else if (/^[\d.]+$/.test(host) && isIP(host) !== 4) {
    // All digits and dots reads as an IPv4 address, so it must be a valid one.
    throw new Error(`"${host}" in "${value}" is not a valid IPv4 address`);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new Error(`port must be 0-65535, got "${portText}" in "${value}"`);
  }
  return { host, port: Number(portText) };
}
