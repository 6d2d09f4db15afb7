// The ratchet's cost: e2e v2 (the ratchet) against e2e v1 (fixed keys) in the same run. The
// relay of relay.mjs (app A → one node → app B in its own process, each send resolving on B's
// end-to-end ack) with one chat of each version from the same sending process to the same
// receiving one, rounds alternating (each version first in every other round); and, in this
// process alone, sealing and opening one message.
//
//   npm run bench -- --only ratchet [--window 64] [--messages 20000]
import { randomBytes } from "node:crypto";
import { spawnNode } from "../../node/dist/cli/spawn-node.js";
import { HermesClient, Identity } from "../../node/dist/index.js";
import { StaticCipher } from "../../node/dist/sdk/cipher.js";
import { deriveChatKeys, newEphemeral, withRatchetBit } from "../../node/dist/sdk/e2e.js";
import { DEFAULT_E2E } from "../../node/dist/sdk/ratchet/config.js";
import { Ratchet } from "../../node/dist/sdk/ratchet/ratchet.js";
import { initialState } from "../../node/dist/sdk/ratchet/state.js";
import { cpuTimes, medianRound, PAYLOAD } from "./relay.mjs";
import { pipeline, ratio } from "./stats.mjs";
import { firstLine, generous, log, spawnScript } from "./util.mjs";

const VERSIONS = { v1: "off", v2: "on" };
const WARMUP = 2000;
/** At least this many rounds: CPU time of the other processes is counted in 10 ms ticks. */
const MIN_ROUNDS = 6;

export async function ratchetCost({ messages, window, rounds: asked }) {
  const rounds = Math.max(asked + (asked % 2), MIN_ROUNDS); // even: each version leads as often
  log(`ratchet, window ${window}: e2e v2 vs v1 through one node, ${rounds} rounds ...`);
  const node = await spawnNode({ flags: generous });
  const receiver = spawnScript("receiver-app.mjs", [node.appEndpoint]);
  const clients = [];
  const runs = { v1: [], v2: [] };
  try {
    const { appId } = await firstLine(receiver);
    const setups = {};
    for (const [version, ratchet] of Object.entries(VERSIONS)) {
      const client = new HermesClient({
        endpoint: node.appEndpoint,
        identity: Identity.generate(),
        maxInFlight: window,
        e2e: { ratchet },
      });
      clients.push(client);
      await client.connect();
      const chat = await client.startChat(appId);
      if (`v${chat.e2eVersion}` !== version)
        throw new Error(`expected e2e ${version}, got v${chat.e2eVersion}`);
      const payload = new Uint8Array(PAYLOAD).fill(7);
      setups[version] = {
        run: (n) => pipeline(n, window, () => chat.send(payload)),
        processes: { self: "app A", children: { node: node.process.pid, "app B": receiver.pid } },
      };
    }
    for (const setup of Object.values(setups)) await setup.run(Math.min(WARMUP, messages));
    // Each version goes first in every other round: what a round leaves behind (garbage, the
    // last acks) lands on the round after it, which otherwise was always the other version's.
    for (let r = 0; r < rounds; r++) {
      for (const version of r % 2 === 0 ? ["v1", "v2"] : ["v2", "v1"])
        runs[version].push(await withCpu(setups[version], messages));
    }
  } finally {
    for (const client of clients) await client.close();
    receiver.kill("SIGTERM");
    await node.stop();
  }
  // Throughput and latency from the median round; CPU from all rounds together, so that the
  // 10 ms ticks of the other processes add up to a fine measure.
  const summary = (version) => ({
    ...medianRound(runs[version]),
    cpuUsPerMessage: cpuPerMessage(runs[version]),
  });
  const v1 = summary("v1");
  const v2 = summary("v2");
  const apps = (r) => r.cpuUsPerMessage["app A"] + r.cpuUsPerMessage["app B"];
  return {
    window,
    messages,
    rekeyAfterMessages: DEFAULT_E2E.rekeyAfterMessages,
    v1,
    v2,
    throughputRatio: ratio(v2.messagesPerSecond, v1.messagesPerSecond),
    appsCpuRatio: ratio(apps(v2), apps(v1)),
    cpuRatio: Object.fromEntries(
      Object.keys(v1.cpuUsPerMessage).map((name) => [
        name,
        ratio(v2.cpuUsPerMessage[name], v1.cpuUsPerMessage[name]),
      ]),
    ),
    sealAndOpen: sealAndOpen(),
    rounds: runs,
  };
}

/** One round: throughput, latency and the CPU time (µs) each process spent on it. */
async function withCpu(setup, messages) {
  const before = cpuTimes(setup.processes);
  const result = await setup.run(messages);
  const after = cpuTimes(setup.processes);
  const cpuUs = Object.fromEntries(
    Object.keys(after).map((name) => [name, Math.round(after[name] - before[name])]),
  );
  return { ...result, cpuUs };
}

/** µs per message by process (and their total), over all the rounds. */
function cpuPerMessage(rounds) {
  const messages = rounds.reduce((sum, r) => sum + r.messages, 0);
  const perMessage = {};
  for (const name of Object.keys(rounds[0].cpuUs)) {
    perMessage[name] = Math.round((rounds.reduce((sum, r) => sum + r.cpuUs[name], 0) / messages) * 10) / 10;
  }
  const total = Math.round(Object.values(perMessage).reduce((sum, us) => sum + us, 0) * 10) / 10;
  return { total, ...perMessage };
}

/** Seal + open of one 1 KiB message, CPU µs, alternating v1 and v2 over rounds in this process. */
function sealAndOpen(rounds = 9, perRound = 20_000) {
  const plaintext = randomBytes(PAYLOAD);
  const pair = {
    v1: () => {
      const [i, t] = [newEphemeral(), newEphemeral()];
      const transcript = chatTranscript(i.publicKey, t.publicKey);
      return [
        new StaticCipher(deriveChatKeys(transcript, "initiator", i.secretKey), transcript.chatId),
        new StaticCipher(deriveChatKeys(transcript, "target", t.secretKey), transcript.chatId),
      ];
    },
    v2: () => {
      const [i, t] = [newEphemeral(), newEphemeral()];
      const transcript = chatTranscript(withRatchetBit(i.publicKey), withRatchetBit(t.publicKey));
      const options = { chatId: transcript.chatId, config: DEFAULT_E2E, nowMs: 0 };
      return [
        new Ratchet(initialState(transcript, "initiator", i.secretKey, i.agree), options),
        new Ratchet(initialState(transcript, "target", t.secretKey, t.agree), options),
      ];
    },
  };
  const times = { v1: [], v2: [] };
  for (let r = 0; r < rounds; r++) {
    for (const version of r % 2 === 0 ? ["v1", "v2"] : ["v2", "v1"]) {
      const [sender, receiver] = pair[version]();
      const t0 = process.cpuUsage();
      for (let seq = 1; seq <= perRound; seq++) {
        const opened = receiver.open(seq, sender.seal(seq, plaintext, 0), 0);
        if (opened.kind !== "message") throw new Error(`${version} message ${seq}: ${opened.kind}`);
      }
      const { user, system } = process.cpuUsage(t0);
      times[version].push((user + system) / perRound);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const v1Us = Math.round(median(times.v1) * 100) / 100;
  const v2Us = Math.round(median(times.v2) * 100) / 100;
  return { v1Us, v2Us, ratio: ratio(v2Us, v1Us) };
}

function chatTranscript(initiatorEphemeralKey, targetEphemeralKey) {
  return {
    chatId: randomBytes(16).toString("hex"),
    initiatorAppId: "a".repeat(32),
    targetAppId: "b".repeat(32),
    initiatorEphemeralKey,
    targetEphemeralKey,
  };
}
