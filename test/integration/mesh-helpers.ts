import { randomBytes } from "node:crypto";
import type { SpawnedNode } from "../../node/dist/cli/spawn-node.js";
import { approuter, type Chat, HermesClient, Identity } from "../../node/dist/index.js";

/** What the mesh-*.test.ts files share: reading a node's admin surface and driving chats. */

/** Timers for tests: failures detected in a few seconds instead of tens. */
export const FAST_MESH = [
  "--mesh.membership.probeIntervalMs=300",
  "--mesh.membership.probeTimeoutMs=150",
  "--mesh.membership.suspicionMult=2",
  "--mesh.membership.pushPullIntervalMs=2000",
  "--mesh.tielineGraceMs=1000",
  "--mesh.discoveryIntervalMs=1000",
  // The tests measure routing, not the per-app budget.
  "--limits.messagesPerSecond=100000",
  "--limits.framesPerSecond=200000",
  "--limits.messageBurst=100000",
];

export const ROUTE_UNAVAILABLE = approuter.ChatEndReason.CHAT_END_REASON_ROUTE_UNAVAILABLE;

/** Anything with an admin URL: a SpawnedNode, or a node in a network namespace. */
export type AdminTarget = Pick<SpawnedNode, "adminUrl">;

export interface Member {
  nodeId: string;
  self: boolean;
  address: string;
  appEndpoint: string;
  state: "alive" | "suspect" | "dead" | "left";
  incarnation: number;
  apps: number;
  tieline: boolean | null;
}

export interface Routes {
  nodeId: string;
  nodes: { nodeId: string; version: number; apps: { appId: string }[] }[];
}

async function getJson<T>(node: AdminTarget, path: string): Promise<T> {
  const response = await fetch(`${node.adminUrl}${path}`, { signal: AbortSignal.timeout(3000) });
  if (!response.ok) throw new Error(`GET ${node.adminUrl}${path}: ${response.status}`);
  return (await response.json()) as T;
}

export const membersOf = (node: AdminTarget) => getJson<Member[]>(node, "/mesh/members");
export const routesOf = (node: AdminTarget) => getJson<Routes>(node, "/mesh/routes");

/** The state `node` holds for `nodeId`, or "absent". */
export async function stateOf(node: AdminTarget, nodeId: string): Promise<string> {
  return (await membersOf(node)).find((m) => m.nodeId === nodeId)?.state ?? "absent";
}

/** Every node holds every one of `ids` (itself included) alive. */
export async function allAlive(nodes: AdminTarget[], ids: string[]): Promise<boolean> {
  const views = await Promise.all(nodes.map((n) => membersOf(n)));
  return views.every((view) => ids.every((id) => view.some((m) => m.nodeId === id && m.state === "alive")));
}

/** The app IDs each node's routing table places on each hosting node. */
export async function appsByNode(node: AdminTarget): Promise<Map<string, Set<string>>> {
  const routes = await routesOf(node);
  return new Map(routes.nodes.map((n) => [n.nodeId, new Set(n.apps.map((a) => a.appId))]));
}

export async function readyzStatus(node: AdminTarget): Promise<number> {
  const response = await fetch(`${node.adminUrl}/readyz`, { signal: AbortSignal.timeout(3000) });
  await response.arrayBuffer();
  return response.status;
}

/**
 * One sample from /metrics: the value of `name` whose labels include `labels`, summed over the
 * samples that match (0 when none does).
 */
export async function metric(
  node: AdminTarget,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const response = await fetch(`${node.adminUrl}/metrics`, { signal: AbortSignal.timeout(3000) });
  const text = await response.text();
  let sum = 0;
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = new Map(
      [...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(match[3]);
  }
  return sum;
}

/** An app that accepts every chat offered to it. `close()` it when done. */
export async function connectApp(endpoint: string, identity = Identity.generate()): Promise<HermesClient> {
  const app = new HermesClient({
    endpoint,
    identity,
    // Quick to come back after a node restart, without hammering a node that is gone.
    reconnect: { initialDelayMs: 200, maxDelayMs: 1000 },
    retransmitAfterMs: 2000,
    timeoutMs: 10_000,
  });
  app.on("offer", (offer) => void offer.accept().catch(() => undefined));
  app.on("error", () => undefined);
  try {
    await app.connect();
  } catch (error) {
    await app.close(); // or it keeps reconnecting after the test
    throw error;
  }
  return app;
}

/** `from` starts a chat with `to`; both ends once ready. */
export async function openChat(from: HermesClient, to: HermesClient): Promise<[Chat, Chat]> {
  const incoming = new Promise<Chat>((resolve) => {
    const onChat = (chat: Chat) => {
      if (chat.peerAppId !== from.appId) return;
      to.off("chat", onChat);
      resolve(chat);
    };
    to.on("chat", onChat);
  });
  const mine = await from.startChat(to.appId);
  return [mine, await withTimeout(incoming, 10_000, `${to.appId} never saw the chat from ${from.appId}`)];
}

export interface Exchange {
  sent: number;
  delivered: number;
  acked: number;
  inOrder: boolean;
}

/**
 * Sends `count` numbered messages each way between the two ends of a chat, and waits until every
 * one is delivered and acked end to end (or `timeoutMs`). Returns what happened per direction.
 */
export async function exchange(
  a: Chat,
  b: Chat,
  count: number,
  timeoutMs = 30_000,
): Promise<{ ab: Exchange; ba: Exchange }> {
  const [ab, ba] = await Promise.all([oneWay(a, b, count, timeoutMs), oneWay(b, a, count, timeoutMs)]);
  return { ab, ba };
}

async function oneWay(from: Chat, to: Chat, count: number, timeoutMs: number): Promise<Exchange> {
  const result: Exchange = { sent: 0, delivered: 0, acked: 0, inOrder: true };
  const tag = `${from.role}-${randomBytes(4).toString("hex")}`;
  let expected = 1;
  let onMessage: ((m: { text(): string }) => void) | undefined;
  const received = new Promise<void>((resolve) => {
    onMessage = (message) => {
      const [who, n] = message.text().split(" ");
      if (who !== tag) return; // from an earlier exchange on the same chat
      if (Number(n) !== expected) result.inOrder = false;
      expected = Number(n) + 1;
      if (++result.delivered === count) resolve();
    };
    to.on("message", onMessage);
  });
  const sends: Promise<void>[] = [];
  for (let i = 1; i <= count; i++) {
    result.sent++;
    sends.push(from.send(`${tag} ${i}`).then(() => void result.acked++));
  }
  try {
    await withTimeout(Promise.all([Promise.all(sends), received]), timeoutMs, "exchange timed out");
  } catch {
    // reported through the counts
  } finally {
    to.off("message", onMessage!);
  }
  return result;
}

/** The reason a chat ends with, or a timeout error. */
export function ended(chat: Chat, timeoutMs: number): Promise<approuter.ChatEndReason> {
  if (chat.endedWith !== undefined) return Promise.resolve(chat.endedWith);
  return withTimeout(
    new Promise((resolve) => chat.once("ended", resolve)),
    timeoutMs,
    `chat ${chat.id} did not end within ${timeoutMs} ms`,
  );
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Membership state changes a node logged about `peerId`, in order (from its JSON logs). */
export function stateChanges(node: Pick<SpawnedNode, "logs">, peerId: string): string[] {
  return node.logs
    .filter((l) => l.msg === "membership change" && l.peer === peerId)
    .map((l) => String(l.state));
}
