import type { ClientOptions, Identity } from "../../../node/dist/index.js";

/**
 * How every chaos app configures its SDK client: the one place to change when the SDK gains
 * failover options (a list of endpoints, ConnectAck.endpoints, a bounded reconnect backoff, a
 * "node unreachable" bound). Everything not set here is the SDK's default, what an app gets.
 *
 * `home` is the node the app connects to first; `appEndpoints` lists every node's app endpoint
 * (home included), in node order.
 */
export function clientOptions(o: {
  identity: Identity;
  home: number;
  appEndpoints: readonly string[];
  maxInFlight: number;
}): ClientOptions {
  return {
    endpoint: o.appEndpoints[o.home]!,
    identity: o.identity,
    maxInFlight: o.maxInFlight,
  };
}
