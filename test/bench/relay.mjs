// Relay throughput and latency: Hermes against raw grpc-js baselines and NATS request-reply
// (nats.mjs) measured in the same run. The machine is shared, so each comparison alternates the
// setups over a few rounds on the same processes and reports the median round of each.
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import * as grpc from "@grpc/grpc-js";
import { startLocalCluster } from "../../node/dist/cli/local-cluster.js";
import { spawnNode } from "../../node/dist/cli/spawn-node.js";
import { HermesClient, Identity } from "../../node/dist/index.js";
import { echoService } from "./echo-server.mjs";
import { natsRequestReply } from "./nats.mjs";
import { pipeline, ratio } from "./stats.mjs";
import { firstLine, generous, log, spawnScript, until } from "./util.mjs";

export const PAYLOAD = 1024;
const WARMUP = 2000;

/** Messages for a window: fewer at window 1, where each one is a full round trip. */
const countFor = (messages, window) => (window === 1 ? Math.min(messages, 3000) : messages);

/**
 * Single node: app A → node → app B against a raw grpc-js bidirectional echo in another process
 * and against NATS request-reply through one server. Returns one scenario per window.
 */
export async function singleNodeRelay({ messages, windows, rounds }) {
  const scenarios = {};
  for (const window of windows) {
    log(`relay, window ${window}: hermes on one node vs grpc-js echo and NATS, ${rounds} rounds ...`);
    scenarios[`relay-window-${window}`] = await compare(
      {
        baseline: () => echoBaseline(window),
        nats: () => natsRequestReply(1, window, PAYLOAD, "inbox"),
        natsRequest: () => natsRequestReply(1, window, PAYLOAD, "request"),
        hermes: () => hermesRelay(1, window),
      },
      countFor(messages, window),
      rounds,
    );
  }
  return scenarios;
}

/**
 * Two nodes: app A → node A → node B → app B (mutual TLS between the nodes) against a raw
 * grpc-js two-hop relay (client → relay process → echo process and back) and against NATS
 * request-reply across a two-server cluster.
 */
export async function crossNodeRelay({ messages, windows, rounds }) {
  const scenarios = {};
  for (const window of windows) {
    log(
      `cross-node relay, window ${window}: hermes on two nodes vs grpc-js two-hop relay and a NATS cluster, ${rounds} rounds ...`,
    );
    scenarios[`cross-node-window-${window}`] = await compare(
      {
        baseline: () => twoHopBaseline(window),
        nats: () => natsRequestReply(2, window, PAYLOAD, "inbox"),
        natsRequest: () => natsRequestReply(2, window, PAYLOAD, "request"),
        hermes: () => hermesRelay(2, window),
      },
      countFor(messages, window),
      rounds,
    );
  }
  return scenarios;
}

/**
 * Alternates the setups round by round; the median round of each (by throughput), and Hermes's
 * ratios to the baseline and to each NATS way.
 */
async function compare(setups, messages, rounds) {
  const open = {};
  const runs = Object.fromEntries(Object.keys(setups).map((name) => [name, []]));
  try {
    for (const [name, start] of Object.entries(setups)) open[name] = await start();
    for (const setup of Object.values(open)) await setup.run(Math.min(WARMUP, messages));
    for (let r = 0; r < rounds; r++) {
      for (const [name, setup] of Object.entries(open)) runs[name].push(await withCpu(setup, messages));
    }
  } finally {
    await Promise.all(Object.values(open).map((setup) => setup.close()));
  }
  const b = medianRound(runs.baseline);
  const h = medianRound(runs.hermes);
  // Each NATS way with Hermes's ratios to it.
  const anchor = (name) => {
    const n = medianRound(runs[name]);
    return {
      ...n,
      about: open[name].about,
      throughputRatio: ratio(h.messagesPerSecond, n.messagesPerSecond),
      p99Ratio: ratio(h.p99Ms, n.p99Ms),
    };
  };
  return {
    baseline: b,
    hermes: h,
    throughputRatio: ratio(h.messagesPerSecond, b.messagesPerSecond),
    p99Ratio: ratio(h.p99Ms, b.p99Ms),
    nats: anchor("nats"),
    natsRequest: anchor("natsRequest"),
    rounds: runs,
    loadAverage: Math.round(loadavg()[0] * 100) / 100,
  };
}

/**
 * One round, with the CPU time each process of the setup spent per message (µs): where the
 * time goes. This process is the sending app or client; the others are read from /proc.
 */
async function withCpu(setup, messages) {
  const before = cpuTimes(setup.processes);
  const result = await setup.run(messages);
  const after = cpuTimes(setup.processes);
  const perMessage = {};
  for (const name of Object.keys(after)) {
    perMessage[name] = Math.round((after[name] - before[name]) / messages);
  }
  const total = Object.values(perMessage).reduce((sum, us) => sum + us, 0);
  return { ...result, cpuUsPerMessage: { total, ...perMessage } };
}

/** CPU time (user + system, µs) of this process and of each named child, from /proc (Linux). */
function cpuTimes(processes) {
  const { user, system } = process.cpuUsage();
  const times = { [processes.self]: user + system };
  for (const [name, pid] of Object.entries(processes.children)) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      times[name] = ((Number(fields[11]) + Number(fields[12])) / TICKS) * 1e6;
    } catch {
      times[name] = Number.NaN; // no /proc: not Linux
    }
  }
  return times;
}
const TICKS = 100; // USER_HZ, 100 on every mainstream Linux

function medianRound(runs) {
  const sorted = [...runs].sort((x, y) => x.messagesPerSecond - y.messagesPerSecond);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** A raw grpc-js bidirectional stream to `port`, each message echoed back. */
function echoClient(port, window) {
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
  return {
    run: (n) => pipeline(n, window, op),
    close() {
      stream.end();
      client.close();
    },
  };
}

/** Baseline: a raw grpc-js bidi echo in another process, same payload and window. */
async function echoBaseline(window) {
  const echo = spawnScript("echo-server.mjs");
  try {
    const { port } = await firstLine(echo);
    const client = echoClient(port, window);
    return {
      run: client.run,
      processes: { self: "client", children: { echo: echo.pid } },
      async close() {
        client.close();
        echo.kill("SIGTERM");
      },
    };
  } catch (error) {
    echo.kill("SIGTERM");
    throw error;
  }
}

/** Baseline: client → relay process → echo process, each hop a raw grpc-js stream. */
async function twoHopBaseline(window) {
  const echo = spawnScript("echo-server.mjs");
  let relay;
  const kill = () => {
    relay?.kill("SIGTERM");
    echo.kill("SIGTERM");
  };
  try {
    const { port: echoPort } = await firstLine(echo);
    relay = spawnScript("relay-server.mjs", [String(echoPort)]);
    const { port } = await firstLine(relay);
    const client = echoClient(port, window);
    return {
      run: client.run,
      processes: { self: "client", children: { relay: relay.pid, echo: echo.pid } },
      async close() {
        client.close();
        kill();
      },
    };
  } catch (error) {
    kill();
    throw error;
  }
}

/**
 * Hermes: app A on the first node → app B on the last (one node, or two in a mutual-TLS mesh),
 * B in its own process; encrypted end to end, each send resolving on B's end-to-end ack.
 */
async function hermesRelay(nodeCount, window) {
  let nodes;
  let stopNodes;
  if (nodeCount === 1) {
    const node = await spawnNode({ flags: generous });
    nodes = [node];
    stopNodes = () => node.stop();
  } else {
    const cluster = await startLocalCluster({ size: nodeCount, flags: generous });
    nodes = cluster.nodes;
    stopNodes = () => cluster.stop();
  }
  const [from, to] = [nodes[0], nodes.at(-1)];
  const receiver = spawnScript("receiver-app.mjs", [to.appEndpoint]);
  const a = new HermesClient({
    endpoint: from.appEndpoint,
    identity: Identity.generate(),
    maxInFlight: window,
  });
  const close = async () => {
    await a.close();
    receiver.kill("SIGTERM");
    await stopNodes();
  };
  try {
    const { appId } = await firstLine(receiver);
    await a.connect();
    if (from !== to) await until(async () => (await a.findApp(appId)).online, 15_000, "A's node to find B");
    const chat = await a.startChat(appId);
    const payload = new Uint8Array(PAYLOAD).fill(7);
    const children =
      from === to
        ? { node: from.process.pid, "app B": receiver.pid }
        : { "node A": from.process.pid, "node B": to.process.pid, "app B": receiver.pid };
    return {
      run: (n) => pipeline(n, window, () => chat.send(payload)),
      processes: { self: "app A", children },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
