// The NATS anchors of the relay benchmarks: what a user would pick instead for moving messages
// between servers. App A (this process) requests, app B (nats-receiver.mjs, its own process)
// replies; every request carries the message sealed with the Hermes SDK's own seal() and B opens
// it before replying, so the reply is the end-to-end ack. One nats-server, or two in a cluster
// (routes between them) with A on the first and B on the second; requests published to a reply
// inbox, or through the client's request().
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { connect, createInbox, ErrorCode } from "nats";
import { seal } from "../../node/dist/index.js";
import { pipeline } from "./stats.mjs";
import { firstLine, until } from "./util.mjs";

const NATS_CLIENT = createRequire(import.meta.url)("nats/package.json").version;
const REPLY_TIMEOUT_MS = 30_000; // a lost reply fails the run; the latencies say how long they took

/** The nats-server binary (hack/nats-server.sh finds or builds it); throws saying how to get one. */
export function natsServerBinary() {
  const script = fileURLToPath(new URL("../../hack/nats-server.sh", import.meta.url));
  const found = spawnSync("bash", [script, "--check"], { encoding: "utf8" });
  if (found.status !== 0)
    throw new Error(`the NATS anchors: ${found.stderr.trim() || `${script} --check failed`}`);
  return found.stdout.trim();
}

/**
 * Request-reply through `serverCount` nats-servers, `window` requests in flight, each a
 * `payloadBytes` message sealed as a Hermes chat seals it. The same shape as relay.mjs's setups.
 * `api`: "inbox" publishes each request with a reply subject and takes the replies on one inbox
 * subscription, matched by seq (the lean way); "request" calls the client's request(), which adds
 * a timer and a few objects per request.
 */
export async function natsRequestReply(serverCount, window, payloadBytes, api) {
  const binary = natsServerBinary();
  const servers = [];
  let receiver;
  let nc;
  let watchdog;
  const close = async () => {
    clearInterval(watchdog);
    await nc?.close();
    receiver?.kill("SIGTERM");
    for (const server of servers) server.child.kill("SIGTERM");
  };
  try {
    servers.push(await startServer(binary, serverCount > 1));
    while (servers.length < serverCount) servers.push(await startServer(binary, true, servers[0].routePort));
    const chatId = randomBytes(16).toString("hex"); // shaped as a Hermes chat id
    const key = randomBytes(32);
    receiver = spawn(
      process.execPath,
      [fileURLToPath(new URL("./nats-receiver.mjs", import.meta.url)), servers.at(-1).url, chatId],
      {
        stdio: ["ignore", "pipe", "inherit"],
        env: { ...process.env, HERMES_BENCH_KEY: key.toString("hex") },
      },
    );
    const { subject } = await firstLine(receiver);
    // Without a stack trace captured per request: what a user tuning for throughput would set.
    nc = await connect({ servers: servers[0].url, noAsyncTraces: true });

    const plaintext = new Uint8Array(payloadBytes).fill(7);
    let seq = 0; // the AEAD nonce: never repeats under this key, across every round
    const sealed = () => {
      const s = ++seq;
      const frame = new Uint8Array(8 + payloadBytes + 16);
      new DataView(frame.buffer).setBigUint64(0, BigInt(s));
      frame.set(seal(key, chatId, s, plaintext), 8);
      return { s, frame };
    };
    const request = async () => {
      const { s, frame } = sealed();
      const reply = await nc.request(subject, frame, { timeout: REPLY_TIMEOUT_MS });
      if (seqOf(reply.data) !== s)
        throw new Error(`NATS reply acked seq ${seqOf(reply.data)}, expected ${s}`);
    };
    // Across servers B's subscription reaches the first server over the route a moment later;
    // until then a request finds no responders.
    await until(
      () =>
        request().then(
          () => true,
          (error) => {
            if (error.code === ErrorCode.NoResponders) return false;
            throw error;
          },
        ),
      15_000,
      "B's subscription to reach A's server",
    );
    let op = request;
    if (api === "inbox") {
      const inbox = createInbox();
      const waiting = new Map(); // seq → { resolve, reject, at }, oldest first
      const failAll = (error) => {
        for (const w of waiting.values()) w.reject(error);
        waiting.clear();
      };
      nc.subscribe(inbox, {
        callback(error, msg) {
          if (error) return failAll(error);
          const w = waiting.get(seqOf(msg.data));
          if (!w)
            return failAll(
              new Error(`NATS reply for seq ${seqOf(msg.data)}, which was not sent or already acked`),
            );
          waiting.delete(seqOf(msg.data));
          w.resolve();
        },
      });
      await nc.flush();
      // Core NATS delivers at most once: a lost reply fails the run rather than stalling it.
      watchdog = setInterval(() => {
        const oldest = waiting.values().next().value;
        if (oldest && performance.now() - oldest.at > REPLY_TIMEOUT_MS)
          failAll(new Error(`no NATS reply in ${REPLY_TIMEOUT_MS} ms`));
      }, 1000);
      op = () =>
        new Promise((resolve, reject) => {
          const { s, frame } = sealed();
          waiting.set(s, { resolve, reject, at: performance.now() });
          nc.publish(subject, frame, { reply: inbox });
        });
    }
    const names = serverCount === 1 ? ["server"] : servers.map((_, i) => `server ${"AB"[i] ?? i}`);
    return {
      run: (n) => pipeline(n, window, op),
      processes: {
        self: "app A",
        children: {
          ...Object.fromEntries(servers.map((s, i) => [names[i], s.child.pid])),
          "app B": receiver.pid,
        },
      },
      about: `nats-server ${nc.info?.version}, nats.js ${NATS_CLIENT}`,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

const seqOf = (data) => Number(new DataView(data.buffer, data.byteOffset, 8).getBigUint64(0));

/** One nats-server on loopback ports of its choosing; with `cluster`, listening for routes too. */
function startServer(binary, cluster, routeTo) {
  const args = ["-a", "127.0.0.1", "-p", "-1"];
  if (cluster) args.push("--cluster_name", "bench", "--cluster", "nats://127.0.0.1:-1");
  if (routeTo) args.push("--routes", `nats://127.0.0.1:${routeTo}`);
  const child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    const seen = [];
    let port;
    let routePort;
    createInterface({ input: child.stderr }).on("line", (line) => {
      if (seen.length < 50) seen.push(line);
      port ??= /client connections on [\d.]+:(\d+)/.exec(line)?.[1];
      routePort ??= /route connections on [\d.]+:(\d+)/.exec(line)?.[1];
      if (port && (routePort || !cluster)) resolve({ child, url: `nats://127.0.0.1:${port}`, routePort });
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      reject(new Error(`${binary} ${args.join(" ")} exited with ${code}:\n${seen.join("\n")}`)),
    );
  });
}
