// `npm run bench`: Hermes against baselines measured in the same run, on the same machine.
// Results: docs/benchmarks/results.json and docs/benchmarks/README.md.
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { spawnNode } from "../../node/dist/cli/spawn-node.js";
import { HermesClient, Identity } from "../../node/dist/index.js";
import { echoService } from "./echo-server.mjs";
import { pipeline, ratio } from "./stats.mjs";

const { values: opts } = parseArgs({
  options: {
    messages: { type: "string", default: "20000" },
    window: { type: "string", default: "64" },
    sessions: { type: "string", default: "1000" },
    chats: { type: "string", default: "2000" },
    out: { type: "string", default: fileURLToPath(new URL("../../docs/benchmarks/", import.meta.url)) },
  },
});
const MESSAGES = Number(opts.messages);
const WINDOW = Number(opts.window);
const PAYLOAD = 1024;
const log = (line) => process.stderr.write(`${line}\n`);
const generous = [
  "--limits.messagesPerSecond=1000000",
  "--limits.messageBurst=1000000",
  "--limits.chatStartsPerMinute=1000000",
  "--limits.maxChatsPerApp=100000",
];

/** Baseline: a raw grpc-js bidi echo in another process, same payload and window. */
async function echoBaseline(messages, window) {
  const child = spawn(process.execPath, [fileURLToPath(new URL("./echo-server.mjs", import.meta.url))], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const { port } = await firstLine(child);
    const Client = grpc.makeGenericClientConstructor(echoService, "Echo");
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const stream = client.echo();
    const waiting = [];
    stream.on("data", () => waiting.shift()());
    stream.on("error", () => {}); // cancelled by client.close() at the end
    const payload = Buffer.alloc(PAYLOAD, 7);
    const op = () =>
      new Promise((resolve) => {
        waiting.push(resolve);
        stream.write(payload);
      });
    await pipeline(Math.min(2000, messages), window, op); // warm-up
    const result = await pipeline(messages, window, op);
    stream.end();
    client.close();
    return result;
  } finally {
    child.kill("SIGTERM");
  }
}

/** Hermes: app A → node → app B, three processes, encrypted, each send resolving on B's end-to-end ack. */
async function relay(messages, window) {
  const node = await spawnNode({ flags: generous });
  const receiver = spawn(
    process.execPath,
    [fileURLToPath(new URL("./receiver-app.mjs", import.meta.url)), node.appEndpoint],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const a = new HermesClient({
    endpoint: node.appEndpoint,
    identity: Identity.generate(),
    maxInFlight: window,
  });
  try {
    const { appId } = await firstLine(receiver);
    await a.connect();
    const chat = await a.startChat(appId);
    const payload = new Uint8Array(PAYLOAD).fill(7);
    const op = () => chat.send(payload);
    await pipeline(Math.min(2000, messages), window, op);
    return await pipeline(messages, window, op);
  } finally {
    await a.close();
    receiver.kill("SIGTERM");
    await node.stop();
  }
}

function firstLine(child) {
  return new Promise((resolve) =>
    createInterface({ input: child.stdout }).once("line", (l) => resolve(JSON.parse(l))),
  );
}

/** Node memory per idle session and per idle chat, from the heap after a full GC. */
async function memory(sessions, chats) {
  const node = await spawnNode({
    flags: [...generous, "--limits.maxSessions=1000000"],
    nodeArgs: ["--expose-gc"],
  });
  const heap = async () => {
    const samples = [];
    for (let i = 0; i < 3; i++) {
      samples.push((await (await fetch(`${node.adminUrl}/debug/gc`)).json()).heapUsed);
      await new Promise((r) => setTimeout(r, 200));
    }
    return Math.min(...samples);
  };
  const apps = [];
  try {
    const base = await heap();
    for (let i = 0; i < sessions; i += 100) {
      const batch = Array.from(
        { length: Math.min(100, sessions - i) },
        () =>
          new HermesClient({ endpoint: node.appEndpoint, identity: Identity.generate(), timeoutMs: 60_000 }),
      );
      for (const app of batch) app.on("offer", (offer) => void offer.accept());
      await Promise.all(batch.map((app) => app.connect()));
      apps.push(...batch);
    }
    const withSessions = await heap();
    log(`  ${sessions} sessions up`);
    for (let i = 0; i < chats; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, chats - i) }, (_, k) => {
          const n = i + k;
          const from = apps[n % sessions];
          const to = apps[(n + 1 + Math.floor(n / sessions)) % sessions];
          return from.startChat(to.appId);
        }),
      );
    }
    const withChats = await heap();
    log(`  ${chats} chats up`);
    return {
      sessions,
      chats,
      bytesPerSession: Math.round((withSessions - base) / sessions),
      bytesPerChat: Math.round((withChats - withSessions) / chats),
      heapBaseBytes: base,
    };
  } finally {
    await Promise.all(apps.map((app) => app.close()));
    await node.stop();
  }
}

const results = {
  date: new Date().toISOString(),
  node: process.version,
  payloadBytes: PAYLOAD,
  scenarios: {},
};
for (const window of [WINDOW, 1]) {
  const n = window === 1 ? Math.min(MESSAGES, 3000) : MESSAGES;
  log(`window ${window}: grpc-js echo baseline ...`);
  const baseline = await echoBaseline(n, window);
  log(`window ${window}: hermes relay ...`);
  const hermes = await relay(n, window);
  results.scenarios[`relay-window-${window}`] = {
    baseline,
    hermes,
    throughputRatio: ratio(hermes.messagesPerSecond, baseline.messagesPerSecond),
    p99Ratio: ratio(hermes.p99Ms, baseline.p99Ms),
  };
}
log("memory ...");
results.memory = await memory(Number(opts.sessions), Number(opts.chats));

await mkdir(opts.out, { recursive: true });
await writeFile(`${opts.out}/results.json`, `${JSON.stringify(results, null, 2)}\n`);
await writeFile(`${opts.out}/README.md`, report(results));
process.stdout.write(report(results));

function report(r) {
  const rows = Object.entries(r.scenarios).map(
    ([name, s]) =>
      `| ${name} | ${s.hermes.messagesPerSecond} | ${s.baseline.messagesPerSecond} | **${s.throughputRatio}** | ${s.hermes.p50Ms} / ${s.hermes.p99Ms} | ${s.baseline.p50Ms} / ${s.baseline.p99Ms} | **${s.p99Ratio}** |`,
  );
  const m = r.memory;
  return `# Benchmarks

Measured by \`npm run bench\` on ${r.date.slice(0, 10)} (Node.js ${r.node}); every ratio compares
against a baseline measured in the same run on the same machine. ${r.payloadBytes}-byte messages.

**Relay**: app A → node (separate process) → app B, end-to-end encrypted, each message counted
when B's end-to-end ack is back at A. **Baseline**: a raw @grpc/grpc-js bidirectional echo in a
separate process, same payload, same window of messages in flight.

| scenario | hermes msg/s | baseline msg/s | throughput ratio (target ≥ 0.5) | hermes p50 / p99 ms | baseline p50 / p99 ms | p99 ratio (target ≤ 3) |
|---|---|---|---|---|---|---|
${rows.join("\n")}

**Memory** (node heap after a full GC): ${m.bytesPerSession} bytes per idle session
(${m.sessions} sessions), ${m.bytesPerChat} bytes per idle chat (${m.chats} chats).

Where the time goes: every relayed message crosses four gRPC hops (A → node → B, and B's ack
back) where the echo crosses two, and each end seals or opens it with ChaCha20-Poly1305 in
JavaScript (@noble/ciphers); the three processes share the machine's cores. \`hermes_ack_latency_seconds\`
on a node shows its share of the latency in production.

Raw numbers: [results.json](results.json). The machine is shared and noisy: compare ratios, not
absolute values, and expect a few percent of variation between runs.
`;
}
