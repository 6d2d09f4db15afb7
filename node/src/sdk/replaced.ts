import type { approuter } from "@hermes/proto";
import type { Identity } from "../identity/index.js";
import { verifyConnectProof } from "../protocol/index.js";

/** A Connect this process signed: its signature and timestamp. */
export interface OwnConnect {
  signature: Uint8Array;
  timestampMs: number;
}

export type ReplacedVerdict =
  /** Another holder of the app's key connected after this session did: stop, do not fight it. */
  | { kind: "taken_over"; nodeId: string }
  /** No reason to stop: reconnect as after any lost session. */
  | { kind: "reconnect"; why: string };

/**
 * What a `SessionClosed{REPLACED}` means to the app. Only another holder of the app's key can
 * take its identity over, and that is proven by `replaced_by`: a Connect signed with the app's
 * key, newer than this session's, and not one this process made (an attempt it gave up on, which
 * a node took late). Anything else is no reason to give up: no proof (an older node), a proof that
 * does not verify (a node that was lied to), or an old Connect replayed.
 *
 * `own` lists the Connects this process made lately, the current session's last.
 */
export function judgeReplaced(
  replacedBy: approuter.ConnectProof | undefined,
  identity: Pick<Identity, "id" | "publicKey">,
  own: readonly OwnConnect[],
): ReplacedVerdict {
  if (!replacedBy) return { kind: "reconnect", why: "replaced without proof" };
  const proof = { ...replacedBy, publicKey: identity.publicKey };
  if (!verifyConnectProof(identity.id, proof))
    return { kind: "reconnect", why: "replaced by a Connect this app did not sign" };
  const signature = Buffer.from(replacedBy.signature);
  if (own.some((c) => signature.equals(c.signature)))
    return { kind: "reconnect", why: "replaced by a Connect this process made earlier" };
  const session = own.at(-1);
  if (session && replacedBy.timestampMs < session.timestampMs)
    return { kind: "reconnect", why: "replaced by a Connect older than this session" };
  return { kind: "taken_over", nodeId: replacedBy.nodeId };
}
