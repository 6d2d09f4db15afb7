import { approuter } from "@hermes/proto";
import { Identity } from "../identity/index.js";
import { type Chat, endReasonName, HermesClient } from "../sdk/index.js";
import { intFlag, parseArgs, rejectUnknown, UsageError } from "./args.js";
import { killAndDetect, type LocalCluster, members, startLocalCluster, waitFor } from "./local-cluster.js";
import { type SpawnedNode, spawnNode } from "./spawn-node.js";

interface DirectionResult {
  sent: number;
  delivered: number;
  acked: number;
  inOrder: boolean;
  duplicates: number;
}

/**
 * `hermes demo`: nodes as real processes and two apps. With one node both apps share it; with
 * more, the nodes form a mutual-TLS mesh and the apps sit on different nodes. The apps open a
 * chat, send M messages each way with end-to-end acks and delete the chat. With a mesh, a churn
 * step follows: kill -9 of a node hosting neither app (when there are three or more), then of the
 * node hosting bob, timing how long until every node holds it dead and checking that the chat
 * goes on (bob fails over and resumes it).
 * Exits non-zero if anything was lost, duplicated, reordered or left unacked.
 */
export async function demoCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["json"]);
  rejectUnknown(args, ["nodes", "messages", "json"]);
  const nodes = intFlag(args, "nodes", 1, 1);
  const messages = intFlag(args, "messages", 100, 1);
  const json = args.flags.has("json");
  if (nodes > 9) throw new UsageError(`--nodes ${nodes}: a local demo runs at most 9 nodes`);
  const say = (line: string) => {
    if (!json) process.stdout.write(`${line}\n`);
  };

  const started = performance.now();
  say(nodes === 1 ? "starting a node ..." : `starting ${nodes} nodes with a mutual-TLS mesh ...`);
  const cluster = await startCluster(nodes);
  const [first, second = first] = cluster.nodes as [SpawnedNode, ...SpawnedNode[]];
  for (const n of cluster.nodes) say(`node ${n.nodeId} serving apps on ${n.appEndpoint}`);
  const alice = new HermesClient({ endpoint: first.appEndpoint, identity: Identity.generate() });
  const bob = new HermesClient({ endpoint: second.appEndpoint, identity: Identity.generate() });
  try {
    await Promise.all([alice.connect(), bob.connect()]);
    bob.on("offer", (offer) => void offer.accept());
    say(`alice ${alice.appId} on node ${alice.nodeId}, bob ${bob.appId} on node ${bob.nodeId}`);
    const crossNode = alice.nodeId !== bob.nodeId;
    await waitFor(
      async () => (await alice.findApp(bob.appId)).online,
      15_000,
      "alice's node to learn where bob is",
    );
    const membersSeen = nodes === 1 ? 1 : (await members(first)).filter((m) => m.state === "alive").length;

    const [aliceChat, bobSide] = await openChat(alice, bob);
    say(`chat ${aliceChat.id} ready: keys agreed end to end${nodes > 1 ? ", across nodes" : ""}`);
    const relayStart = performance.now();
    const [toBob, toAlice] = await Promise.all([
      exchange(aliceChat, bobSide, messages, "alice", (n) => progress(say, "alice → bob", n, messages)),
      exchange(bobSide, aliceChat, messages, "bob", (n) => progress(say, "bob → alice", n, messages)),
    ]);
    const relayMs = performance.now() - relayStart;
    const ended = Promise.all([once(aliceChat), once(bobSide)]);
    aliceChat.delete();
    const reasons = await withTimeout(ended, 5000, "chat deletion was not confirmed");
    say(`chat deleted (alice: ${endReasonName(reasons[0])}, bob: ${endReasonName(reasons[1])})`);
    const chatDeleted =
      reasons[0] === approuter.ChatEndReason.CHAT_END_REASON_DELETED &&
      reasons[1] === approuter.ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER;

    const churn = nodes > 1 ? await churnStep(cluster, alice, bob, Math.min(messages, 50), say) : undefined;
    await Promise.all([alice.close(), bob.close()]);
    const exits = await Promise.all(cluster.nodes.filter(running).map((n) => n.stop()));
    const result = {
      ...summarize(toBob, toAlice, {
        nodes,
        chatDeleted,
        nodeExitCode: exits.find((code) => code !== 0) ?? 0,
        relayMs,
        elapsedMs: performance.now() - started,
      }),
      members: membersSeen,
      crossNode,
      ...churn,
    };
    result.ok &&= !churn || (churn.chatSurvived && churn.detectionMs !== null);
    if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      say(
        `${result.messagesDelivered}/${result.messagesSent} delivered, ${result.messagesAcked} acked, ` +
          `in order: ${result.inOrder}, lost: ${result.lost}, ${result.messagesPerSecond} msg/s`,
      );
      say(result.ok ? "OK" : "FAILED");
    }
    return result.ok ? 0 : 1;
  } finally {
    await Promise.all([alice.close(), bob.close()]);
    await cluster.stop();
  }
}

async function startCluster(size: number): Promise<LocalCluster> {
  // Generous rate limits: the demo measures relaying, not the per-app budget.
  const flags = [
    "--limits.messagesPerSecond=100000",
    "--limits.messageBurst=100000",
    "--limits.framesPerSecond=200000",
  ];
  if (size > 1) return startLocalCluster({ size, flags });
  const node = await spawnNode({ flags });
  return {
    nodes: [node],
    certDir: "",
    stop: async () => void (await node.stop(2000).catch(() => node.kill())),
  };
}

async function openChat(alice: HermesClient, bob: HermesClient): Promise<[Chat, Chat]> {
  const bobChat = new Promise<Chat>((resolve) => bob.once("chat", resolve));
  const aliceChat = await alice.startChat(bob.appId);
  return [aliceChat, await bobChat];
}

/**
 * Churn: kill -9 of a node hosting neither app (with three or more nodes), then of the node
 * hosting bob while alice and bob chat. How long until every node holds it dead, and whether the
 * chat outlives the node: bob fails over to a node he was told of and resumes the same chat,
 * and a round of messages each way arrives whole, once and in order.
 */
async function churnStep(
  cluster: LocalCluster,
  alice: HermesClient,
  bob: HermesClient,
  rounds: number,
  say: (line: string) => void,
) {
  const detections: number[] = [];
  const bystander = cluster.nodes.find((n) => n.nodeId !== alice.nodeId && n.nodeId !== bob.nodeId);
  if (bystander) {
    say(`churn: kill -9 of node ${bystander.nodeId} (hosts neither app) ...`);
    detections.push(await killAndDetect(cluster, bystander));
    say(`  every node holds it dead after ${detections[0]} ms`);
  }
  const [aliceChat, bobSide] = await openChat(alice, bob);
  const bobsNode = cluster.nodes.find((n) => n.nodeId === bob.nodeId)!;
  say(`churn: kill -9 of node ${bobsNode.nodeId} (hosts bob, who chats with alice) ...`);
  const killedAt = performance.now();
  let doneAt = 0;
  const sent = Promise.all([
    exchange(aliceChat, bobSide, rounds, "alice", () => undefined),
    exchange(bobSide, aliceChat, rounds, "bob", () => undefined),
  ]).then((result) => {
    doneAt = performance.now();
    return result;
  });
  detections.push(await killAndDetect(cluster, bobsNode));
  const [toBob, toAlice] = await withTimeout(sent, 30_000, "the chat did not resume after the node died");
  const resumedMs = Math.round(doneAt - killedAt);
  const whole = [toBob, toAlice].every(
    (d) => d.delivered === rounds && d.acked === rounds && d.inOrder && d.duplicates === 0,
  );
  const chatSurvived = whole && !aliceChat.ended && !bobSide.ended && bob.nodeId !== bobsNode.nodeId;
  say(
    `  every node holds it dead after ${detections.at(-1)} ms; bob resumed the chat on node ${bob.nodeId}; ` +
      `${rounds} messages each way sent across the kill arrived ${whole ? "whole, once and in order" : "INCOMPLETE"}, all acked ${resumedMs} ms after it`,
  );
  return {
    detectionMs: detections[0] ?? null,
    detectionsMs: detections,
    chatSurvived,
    resumedMs,
  };
}

function running(node: SpawnedNode): boolean {
  return node.process.exitCode === null && node.process.signalCode === null;
}

/** Sends `count` numbered messages from one chat end and collects them at the other. */
async function exchange(
  from: Chat,
  to: Chat,
  count: number,
  who: string,
  onAcked: (n: number) => void,
): Promise<DirectionResult> {
  const result: DirectionResult = { sent: 0, delivered: 0, acked: 0, inOrder: true, duplicates: 0 };
  const seen = new Set<number>();
  let expected = 1;
  const received = new Promise<void>((resolve) => {
    to.on("message", (message) => {
      const n = Number(message.text().split(" ")[1]);
      if (seen.has(n)) result.duplicates++;
      seen.add(n);
      if (n !== expected) result.inOrder = false;
      expected = n + 1;
      result.delivered++;
      if (result.delivered === count) resolve();
    });
  });
  const sends: Promise<void>[] = [];
  for (let i = 1; i <= count; i++) {
    sends.push(
      from.send(`${who} ${i} ${"x".repeat(64)}`).then(() => {
        result.acked++;
        onAcked(result.acked);
      }),
    );
    result.sent++;
  }
  await withTimeout(
    Promise.all([Promise.all(sends), received]),
    60_000 + count * 10,
    `${who}'s messages did not all arrive`,
  ).catch(() => undefined);
  return result;
}

function summarize(
  a: DirectionResult,
  b: DirectionResult,
  extra: {
    nodes: number;
    chatDeleted: boolean;
    nodeExitCode: number | null;
    relayMs: number;
    elapsedMs: number;
  },
) {
  const sent = a.sent + b.sent;
  const delivered = a.delivered + b.delivered;
  const acked = a.acked + b.acked;
  const inOrder = a.inOrder && b.inOrder;
  const duplicates = a.duplicates + b.duplicates;
  const lost = sent - (delivered - duplicates);
  const ok =
    lost === 0 &&
    duplicates === 0 &&
    inOrder &&
    acked === sent &&
    extra.chatDeleted &&
    extra.nodeExitCode === 0;
  return {
    ok,
    nodes: extra.nodes,
    messagesSent: sent,
    messagesDelivered: delivered,
    messagesAcked: acked,
    inOrder,
    lost,
    duplicates,
    chatDeleted: extra.chatDeleted,
    nodeExitCode: extra.nodeExitCode,
    messagesPerSecond: Math.round((sent / extra.relayMs) * 1000),
    elapsedMs: Math.round(extra.elapsedMs),
  };
}

function progress(say: (line: string) => void, label: string, n: number, total: number): void {
  const step = Math.max(1, Math.floor(total / 4));
  if (n % step === 0 || n === total) say(`  ${label}: ${n}/${total} acked`);
}

function once(chat: Chat): Promise<approuter.ChatEndReason> {
  return new Promise((resolve) => chat.once("ended", resolve));
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
