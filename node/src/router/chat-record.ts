import type { approuter } from "@hermes/proto";
import { offerOf } from "../protocol/index.js";
import { type Direction, localRoute, newDirection, type ReadyChat, remoteRoute } from "./chat.js";

/**
 * What a node keeps of a ready chat so it survives a restart: the signed transcript, each
 * direction's ack mark and, for a cross-node chat, where the other participant is. JSON, sealed
 * in the keystore (docs/keystore.md).
 */
interface ChatRecordJson {
  v: 1;
  ready: Record<string, string | number>;
  acked: Record<string, number>;
  lastActivity: number;
  createdAt: number;
  /** boundAtMs: when the remote app signed the resume that bound it to that node (0: from the start). */
  remote?: { app: string; node: string; boundAtMs?: number };
  /** A local chat: when each app last resumed it here (absent: since the start). */
  local?: { resumedAtMs: Record<string, number> };
}

const BYTES_FIELDS = [
  "initiatorPublicKey",
  "initiatorEphemeralKey",
  "offerSignature",
  "targetPublicKey",
  "targetEphemeralKey",
  "acceptSignature",
] as const;

export function encodeChatRecord(chat: ReadyChat): Uint8Array {
  const ready: Record<string, string | number> = {
    ...(chat.ready as unknown as Record<string, string | number>),
  };
  for (const field of BYTES_FIELDS) ready[field] = Buffer.from(chat.ready[field]).toString("base64");
  const json: ChatRecordJson = {
    v: 1,
    ready,
    acked: {
      [chat.offer.initiatorAppId]: chat.fromInitiator.acked,
      [chat.offer.targetAppId]: chat.fromTarget.acked,
    },
    lastActivity: chat.lastActivity,
    createdAt: chat.createdAt,
  };
  if (chat.route.kind === "remote")
    json.remote = { app: chat.route.app, node: chat.route.node, boundAtMs: chat.route.boundAtMs };
  else if (Object.keys(chat.route.resumedAtMs).length > 0)
    json.local = { resumedAtMs: chat.route.resumedAtMs };
  return new TextEncoder().encode(JSON.stringify(json));
}

/** Throws on a record that is not JSON or not a version this node reads. */
export function decodeChatRecord(bytes: Uint8Array): ReadyChat {
  const json = JSON.parse(new TextDecoder().decode(bytes)) as ChatRecordJson;
  if (json.v !== 1) throw new Error(`unsupported chat record version ${String(json.v)}`);
  const raw = json.ready;
  const bytesOf = (field: (typeof BYTES_FIELDS)[number]) =>
    new Uint8Array(Buffer.from(String(raw[field]), "base64"));
  const ready: approuter.ChatReady = {
    chatId: String(raw.chatId),
    initiatorAppId: String(raw.initiatorAppId),
    initiatorPublicKey: bytesOf("initiatorPublicKey"),
    initiatorEphemeralKey: bytesOf("initiatorEphemeralKey"),
    offerTimestampMs: Number(raw.offerTimestampMs),
    offerSignature: bytesOf("offerSignature"),
    targetAppId: String(raw.targetAppId),
    targetPublicKey: bytesOf("targetPublicKey"),
    targetEphemeralKey: bytesOf("targetEphemeralKey"),
    acceptTimestampMs: Number(raw.acceptTimestampMs),
    acceptSignature: bytesOf("acceptSignature"),
  };
  const restored = (appId: string): Direction => ({
    ...newDirection(json.acked[appId] ?? 0),
    restored: true,
  });
  return {
    id: ready.chatId,
    state: "ready",
    offer: offerOf(ready),
    ready,
    createdAt: json.createdAt,
    lastActivity: json.lastActivity,
    fromInitiator: restored(ready.initiatorAppId),
    fromTarget: restored(ready.targetAppId),
    // Until its tieline is up again and the two nodes have compared marks (ChatSync).
    route: json.remote
      ? { ...remoteRoute(json.remote.app, json.remote.node, json.remote.boundAtMs ?? 0), reachable: false }
      : localRoute({ ...json.local?.resumedAtMs }),
  };
}
