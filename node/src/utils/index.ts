export { writeFileAtomic } from "../utils/atomic-write.js";
export { TokenBucket } from "../utils/token-bucket.js";
export { type BackoffPolicy, backoffDelay } from "./backoff.js";
export { type Clock, systemClock } from "./clock.js";
export { type HostPort, parseHostPort } from "./host-port.js";
