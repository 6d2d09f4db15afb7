import type { nodemesh } from "@hermes/proto";
import { type ConnectProof, verifyConnectProof } from "../protocol/index.js";

/**
 * Claims in other nodes' directory entries. A node publishes where its apps are, and nothing
 * stops a member from claiming any app. Most claims only feed lookups and are taken as they
 * come: a directory holds thousands of entries, too many to check signatures of. A claim about
 * an app this node acts on when it moves, one connected here (its session would be closed) or
 * one its chats follow (they would be sent after it), changes nothing unless it carries the
 * app's own signed Connect to the claiming node, and for an app connected here, a Connect newer
 * than its connect here. A rogue member can then neither evict an app nor pull its chats; a
 * Connect the app once made to it is older than the app's connect here.
 */

/** What this node knows of the apps it acts on. */
export interface ClaimWatch {
  /** When the app connected here (its Connect's timestamp), while it is connected here. */
  localSince(appId: string): number | undefined;
  /** True while this node's chats follow the app (it takes part in one of them). */
  follows(appId: string): boolean;
}

export type ClaimVerdict =
  /** Nothing here acts on it, or it says nothing new: kept for lookups. */
  | { kind: "take" }
  /** A proven move: the app connected to the claiming node, after it connected here if it did. */
  | { kind: "moved"; proof: ConnectProof }
  | { kind: "refused"; reason: string };

/**
 * Judges one entry node `hostId` publishes. With `distrusted` (the sender already lied in this
 * message) a claim that would need its proof checked is refused unchecked.
 */
export function judgeClaim(
  hostId: string,
  entry: nodemesh.AppEntry,
  watch: ClaimWatch,
  distrusted = false,
): ClaimVerdict {
  const { appId } = entry;
  const here = watch.localSince(appId);
  if (here === undefined && !watch.follows(appId)) return { kind: "take" };
  // It was there before it connected here: likely true, and no news.
  if (here !== undefined && entry.connectedAtMs <= here) return { kind: "take" };
  const claim = `node ${hostId} claims app ${appId}`;
  if (distrusted) return { kind: "refused", reason: `${claim} (not checked: an earlier claim failed)` };
  if (entry.signature.length === 0) return { kind: "refused", reason: `${claim} without the app's Connect` };
  const proof = proofOf(hostId, entry);
  if (!verifyConnectProof(appId, proof))
    return { kind: "refused", reason: `${claim} with a Connect the app did not sign for that node` };
  return { kind: "moved", proof };
}

/**
 * The claims of one delta or snapshot from `hostId`, judged as the directory applies them
 * (`admit`). After the first refused claim the sender is known to lie: its later claims about
 * watched apps are refused unchecked, so one message costs at most one failed signature check.
 */
export class ClaimCheck {
  readonly moved: { appId: string; proof: ConnectProof }[] = [];
  readonly refusals: string[] = [];

  constructor(
    private readonly hostId: string,
    private readonly watch: ClaimWatch,
  ) {}

  readonly admit = (entry: nodemesh.AppEntry): boolean => {
    const verdict = judgeClaim(this.hostId, entry, this.watch, this.refusals.length > 0);
    if (verdict.kind === "refused") {
      this.refusals.push(verdict.reason);
      return false;
    }
    if (verdict.kind === "moved") this.moved.push({ appId: entry.appId, proof: verdict.proof });
    return true;
  };
}

/** This node's entry for an app that connected here with `proof`. */
export function entryOf(appId: string, proof: ConnectProof): nodemesh.AppEntry {
  return {
    appId,
    connectedAtMs: proof.timestampMs,
    publicKey: proof.publicKey,
    nonce: proof.nonce,
    signature: proof.signature,
  };
}

/** The Connect an entry of node `hostId` carries. */
export function proofOf(hostId: string, entry: nodemesh.AppEntry): ConnectProof {
  return {
    nodeId: hostId,
    publicKey: Uint8Array.from(entry.publicKey),
    nonce: Uint8Array.from(entry.nonce),
    timestampMs: entry.connectedAtMs,
    signature: Uint8Array.from(entry.signature),
  };
}
