import { approuter } from "@hermes/proto";
import { Identity } from "../identity/index.js";
import { type Chat, endReasonName, HermesClient } from "../sdk/index.js";
import { intFlag, parseArgs, rejectUnknown, UsageError } from "./args.js";
import { type SpawnedNode, spawnNode } from "./spawn-node.js";

interface DirectionResult {
  sent: number;
  delivered: number;
  acked: number;
  inOrder: boolean;
  duplicates: number;
}

/**
 * `hermes demo`: a node as a real process and two apps. The apps open a chat, send M messages
 * each way with end-to-end acks, then delete the chat. Exits non-zero if anything was lost,
 * duplicated, reordered or left unacked.
 */
export async function demoCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["json"]);
  rejectUnknown(args, ["nodes", "messages", "json"]);
  const nodes = intFlag(args, "nodes", 1, 1);
  const messages = intFlag(args, "messages", 100, 1);
  const json = args.flags.has("json");
  if (nodes !== 1)
    throw new UsageError(`--nodes ${nodes}: this build runs single-node demos only (--nodes 1)`);
  const say = (line: string) => {
    if (!json) process.stdout.write(`${line}\n`);
  };

  const started = performance.now();
  say("starting a node ...");
  // Generous rate limits: the demo measures relaying, not the per-app budget.
  const node = await spawnNode({
    flags: ["--limits.messagesPerSecond=100000", "--limits.messageBurst=100000"],
  });
  say(`node ${node.nodeId} serving apps on ${node.appEndpoint}`);
  const alice = new HermesClient({ endpoint: node.appEndpoint, identity: Identity.generate() });
  const bob = new HermesClient({ endpoint: node.appEndpoint, identity: Identity.generate() });
  let nodeExit: number | null = null;
  try {
    await Promise.all([alice.connect(), bob.connect()]);
    say(`alice ${alice.appId} and bob ${bob.appId} connected`);
    bob.on("offer", (offer) => void offer.accept());
    const bobChat = new Promise<Chat>((resolve) => bob.once("chat", resolve));
    const aliceChat = await alice.startChat(bob.appId);
    const bobSide = await bobChat;
    say(`chat ${aliceChat.id} ready: keys agreed end to end`);

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

    await Promise.all([alice.close(), bob.close()]);
    nodeExit = await node.stop();
    const result = summarize(toBob, toAlice, {
      nodes,
      chatDeleted:
        reasons[0] === approuter.ChatEndReason.CHAT_END_REASON_DELETED &&
        reasons[1] === approuter.ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER,
      nodeExitCode: nodeExit,
      relayMs,
      elapsedMs: performance.now() - started,
    });
    if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      say(
        `${result.messagesDelivered}/${result.messagesSent} delivered, ${result.messagesAcked} acked, ` +
          `in order: ${result.inOrder}, lost: ${result.lost}, ${result.messagesPerSecond} msg/s; node exited with ${nodeExit}`,
      );
      say(result.ok ? "OK" : "FAILED");
    }
    return result.ok ? 0 : 1;
  } finally {
    await Promise.all([alice.close(), bob.close()]);
    if (nodeExit === null) await stopQuietly(node);
  }
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

async function stopQuietly(node: SpawnedNode): Promise<void> {
  try {
    await node.stop(2000);
  } catch {
    node.kill();
  }
}
