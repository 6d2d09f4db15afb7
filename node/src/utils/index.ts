export { writeFileAtomic } from "./atomic-write.js";
export { type BackoffPolicy, backoffDelay } from "./backoff.js";
export { type Clock, systemClock } from "./clock.js";
export { type HostPort, parseHostPort } from "./host-port.js";
export { TokenBucket } from "./token-bucket.js";
