import { nodemesh } from "@hermes/proto";
import { type Identity, idMatchesKey, sign, verify } from "../identity/index.js";
import { parseHostPort } from "../utils/host-port.js";
import { MeshFrameError } from "./envelope.js";

/** Signed node descriptors (Join) and tieline hellos (RouteChat): who is on the other end. */

export function signDescriptor(
  identity: Identity,
  d: Omit<nodemesh.NodeDescriptor, "nodeId" | "publicKey" | "timestampMs">,
  timestampMs: number = Date.now(),
): nodemesh.SignedDescriptor {
  const descriptor = nodemesh.NodeDescriptor.encode({
    ...d,
    nodeId: identity.id,
    publicKey: identity.publicKey,
    timestampMs,
  }).finish();
  return { descriptor, signature: sign(identity, "hermes/node-join/v1", [descriptor]) };
}

export function openDescriptor(
  signed: nodemesh.SignedDescriptor | undefined,
  now: number,
  skewMs: number,
): nodemesh.NodeDescriptor {
  if (!signed) throw new MeshFrameError("malformed", "join carries no descriptor");
  let d: nodemesh.NodeDescriptor;
  try {
    d = nodemesh.NodeDescriptor.decode(signed.descriptor);
  } catch (error) {
    throw new MeshFrameError("malformed", `descriptor does not decode: ${(error as Error).message}`);
  }
  if (!idMatchesKey(d.nodeId, d.publicKey))
    throw new MeshFrameError("id_mismatch", `node ID ${d.nodeId} does not match its key`);
  if (!verify(d.publicKey, signed.signature, "hermes/node-join/v1", [signed.descriptor])) {
    throw new MeshFrameError("bad_signature", `descriptor of ${d.nodeId} is not signed by its key`);
  }
  if (Math.abs(now - d.timestampMs) > skewMs) {
    throw new MeshFrameError("stale", `descriptor of ${d.nodeId} is ${now - d.timestampMs} ms old`);
  }
  try {
    if (parseHostPort(d.meshEndpoint).port === 0) throw new Error("port 0");
  } catch (error) {
    throw new MeshFrameError(
      "malformed",
      `descriptor of ${d.nodeId} has no usable mesh endpoint (${(error as Error).message})`,
    );
  }
  return d;
}

export function routeHello(
  identity: Identity,
  receiverId: string,
  timestampMs: number = Date.now(),
): nodemesh.RouteHello {
  return {
    nodeId: identity.id,
    publicKey: identity.publicKey,
    receiverId,
    timestampMs,
    signature: sign(identity, "hermes/node-route/v1", [identity.id, receiverId, timestampMs]),
    // This node reads RelayBatch frames: the peer may batch what it writes to it on this stream.
    takesBatches: true,
  };
}

/** Checks a hello addressed to `selfId`; returns the sender's node ID. */
export function checkRouteHello(h: nodemesh.RouteHello, selfId: string, now: number, skewMs: number): string {
  if (!idMatchesKey(h.nodeId, h.publicKey))
    throw new MeshFrameError("id_mismatch", `node ID ${h.nodeId} does not match its key`);
  if (h.receiverId !== selfId)
    throw new MeshFrameError("wrong_receiver", `hello of ${h.nodeId} for ${h.receiverId} reached ${selfId}`);
  if (!verify(h.publicKey, h.signature, "hermes/node-route/v1", [h.nodeId, h.receiverId, h.timestampMs])) {
    throw new MeshFrameError("bad_signature", `hello of ${h.nodeId} is not signed by its key`);
  }
  if (Math.abs(now - h.timestampMs) > skewMs)
    throw new MeshFrameError("stale", `hello of ${h.nodeId} is ${now - h.timestampMs} ms old`);
  return h.nodeId;
}
