import type { approuter, nodemesh } from "@hermes/proto";

/**
 * Which frames may travel in a batch (a message, delivery or relay, or an ack, that answers no
 * request), what each adds to it, and the batch frames themselves (approuter.proto
 * MessageBatch and DeliveryBatch, nodemesh.proto RelayBatch).
 */

/** Bytes an item adds to a batch beyond its ciphertext, at most: ids, seq, tags and lengths. */
const ITEM_OVERHEAD = 128;

export function appFrameBatchSize(frame: approuter.AppFrame): number | undefined {
  if (frame.correlationId !== "") return undefined;
  const body = frame.body;
  if (body?.$case === "message") return body.value.ciphertext.length + ITEM_OVERHEAD;
  if (body?.$case === "ack") return ITEM_OVERHEAD;
  return undefined;
}

export function combineAppFrames(frames: approuter.AppFrame[]): approuter.AppFrame {
  const batch: approuter.MessageBatch = { messages: [], acks: [] };
  for (const { body } of frames) {
    if (body?.$case === "message") batch.messages.push(body.value);
    else if (body?.$case === "ack") batch.acks.push(body.value);
  }
  return { correlationId: "", body: { $case: "batch", value: batch } };
}

export function nodeFrameBatchSize(frame: approuter.NodeFrame): number | undefined {
  if (frame.correlationId !== "") return undefined;
  const body = frame.body;
  if (body?.$case === "delivery") return body.value.ciphertext.length + ITEM_OVERHEAD;
  if (body?.$case === "ack") return ITEM_OVERHEAD;
  return undefined;
}

export function combineNodeFrames(frames: approuter.NodeFrame[]): approuter.NodeFrame {
  const batch: approuter.DeliveryBatch = { deliveries: [], acks: [] };
  for (const { body } of frames) {
    if (body?.$case === "delivery") batch.deliveries.push(body.value);
    else if (body?.$case === "ack") batch.acks.push(body.value);
  }
  return { correlationId: "", body: { $case: "batch", value: batch } };
}

export function routeFrameBatchSize(frame: nodemesh.RouteFrame): number | undefined {
  const body = frame.body;
  if (body?.$case === "relay") return body.value.ciphertext.length + ITEM_OVERHEAD;
  if (body?.$case === "relayAck") return ITEM_OVERHEAD;
  return undefined;
}

export function combineRouteFrames(frames: nodemesh.RouteFrame[]): nodemesh.RouteFrame {
  const batch: nodemesh.RelayBatch = { relays: [], acks: [] };
  for (const { body } of frames) {
    if (body?.$case === "relay") batch.relays.push(body.value);
    else if (body?.$case === "relayAck") batch.acks.push(body.value);
  }
  return { body: { $case: "batch", value: batch } };
}
