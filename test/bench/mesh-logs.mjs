// What each node believed and when, from its own log: the mesh logs one JSON line per membership
// change (msg "membership change": event, peer, state, and pino's ISO `time`). Reading the logs
// that spawnNode collects is cheaper than polling /mesh/members on every node, and exact to the
// millisecond on the node's own clock (the same clock as ours: one machine).

/** A node's membership changes in log order: { at (epoch ms), event, peer, state }. */
export function changes(node) {
  const out = [];
  for (const entry of node.logs) {
    if (entry.msg !== "membership change") continue;
    out.push({ at: Date.parse(entry.time), event: entry.event, peer: entry.peer, state: entry.state });
  }
  return out;
}

/** Epoch ms of the first log line with this message, or undefined. */
export function logTime(node, msg) {
  const entry = node.logs.find((e) => e.msg === msg);
  return entry ? Date.parse(entry.time) : undefined;
}

/** The node's current view: peer ID → state (reaped members are gone). */
export function view(node) {
  const states = new Map();
  for (const c of changes(node)) apply(states, c);
  return states;
}

/**
 * The first time at or after `since` at which `node` held every one of `peers` in one of
 * `states`, or null if it has not (yet).
 */
export function firstHeld(node, peers, states, since) {
  const current = new Map();
  const holds = () => peers.every((p) => states.includes(current.get(p)));
  let checkedSince = false;
  for (const c of changes(node)) {
    if (!checkedSince && c.at >= since) {
      checkedSince = true;
      if (holds()) return since;
    }
    apply(current, c);
    if (c.at >= since && holds()) return c.at;
  }
  return !checkedSince && holds() ? since : null;
}

/** Dead declarations a node logged in [from, to], except about the IDs in `expected`. */
export function deaths(node, from, to, expected = []) {
  return changes(node).filter(
    (c) => c.event === "memberDead" && c.at >= from && c.at <= to && !expected.includes(c.peer),
  );
}

function apply(states, c) {
  if (c.event === "memberReaped") states.delete(c.peer);
  else states.set(c.peer, c.state);
}
