import { nodemesh } from "@hermes/proto";
import { type Identity, idMatchesKey, sign, verify } from "../identity/index.js";

/**
 * Signed gossip envelopes. Every envelope names its sender (whose ID must derive from the key
 * it carries), its receiver, the sender's boot and a per-boot sequence number: a receiver
 * refuses anything unsigned, mis-signed, addressed elsewhere, stale or seen before.
 */
export type Refusal =
  | "malformed"
  | "bad_signature"
  | "id_mismatch"
  | "wrong_receiver"
  | "stale"
  | "replayed"
  | "rate_limited"
  | "oversize"
  /** A directory entry about an app this node acts on, without the app's proof (app-claims.ts). */
  | "unproven_claim";

export class MeshFrameError extends Error {
  constructor(
    readonly refusal: Refusal,
    message: string,
  ) {
    super(message);
    this.name = "MeshFrameError";
  }
}

type Body = nodemesh.GossipPayload["body"];

export class EnvelopeSealer {
  private seq = 0;

  constructor(
    private readonly identity: Identity,
    private readonly address: string,
    readonly bootId: number,
    private readonly now: () => number = Date.now,
  ) {}

  seal(receiverId: string, directoryVersion: number, body: Body): nodemesh.GossipEnvelope {
    const payload = nodemesh.GossipPayload.encode({
      senderId: this.identity.id,
      senderPublicKey: this.identity.publicKey,
      receiverId,
      bootId: this.bootId,
      seq: ++this.seq,
      timestampMs: this.now(),
      directoryVersion,
      senderAddress: this.address,
      body,
    }).finish();
    return { payload, signature: sign(this.identity, "hermes/node-gossip/v1", [payload]) };
  }
}

/** Remembers, per sender, the newest boot and sequence number seen. */
export class ReplayGuard {
  private readonly latest = new Map<string, { bootId: number; seq: number }>();

  check(senderId: string, bootId: number, seq: number): Refusal | undefined {
    const seen = this.latest.get(senderId);
    if (seen && (bootId < seen.bootId || (bootId === seen.bootId && seq <= seen.seq))) return "replayed";
    this.latest.set(senderId, { bootId, seq });
    return undefined;
  }

  forget(senderId: string): void {
    this.latest.delete(senderId);
  }
}

export interface OpenOptions {
  selfId: string;
  now: number;
  clockSkewMs: number;
  replay: ReplayGuard;
}

export function openEnvelope(envelope: nodemesh.GossipEnvelope, o: OpenOptions): nodemesh.GossipPayload {
  let payload: nodemesh.GossipPayload;
  try {
    payload = nodemesh.GossipPayload.decode(envelope.payload);
  } catch (error) {
    throw new MeshFrameError("malformed", `gossip payload does not decode: ${(error as Error).message}`);
  }
  if (!payload.body)
    throw new MeshFrameError("malformed", `gossip payload from ${payload.senderId || "?"} has no body`);
  if (!idMatchesKey(payload.senderId, payload.senderPublicKey)) {
    throw new MeshFrameError("id_mismatch", `sender ${payload.senderId} does not match its public key`);
  }
  if (!verify(payload.senderPublicKey, envelope.signature, "hermes/node-gossip/v1", [envelope.payload])) {
    throw new MeshFrameError("bad_signature", `envelope from ${payload.senderId} is not signed by it`);
  }
  if (payload.receiverId !== "" && payload.receiverId !== o.selfId) {
    throw new MeshFrameError(
      "wrong_receiver",
      `envelope from ${payload.senderId} for ${payload.receiverId} reached ${o.selfId}`,
    );
  }
  if (Math.abs(o.now - payload.timestampMs) > o.clockSkewMs) {
    throw new MeshFrameError(
      "stale",
      `envelope from ${payload.senderId} is ${o.now - payload.timestampMs} ms old`,
    );
  }
  const replayed = o.replay.check(payload.senderId, payload.bootId, payload.seq);
  if (replayed) {
    throw new MeshFrameError(
      "replayed",
      `envelope ${payload.bootId}/${payload.seq} from ${payload.senderId} was seen before`,
    );
  }
  return payload;
}
