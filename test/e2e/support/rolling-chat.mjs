// A chat that runs while the mesh changes under it (the rolling image change of the e2e suite).
// Runs in the node image next to the SDK. Two apps connect through the client Service until they
// sit on different nodes; A sends "m <i>" to B one message at a time, each waiting for B's
// end-to-end ack. When a chat ends, A starts a new one and sends again from the first message
// that was not acknowledged, so nothing is dropped at the app level: what B receives shows what
// the mesh did. HTTP on :8080 (read through the API server's pod proxy):
//   GET /report   what happened so far
//   GET /stop     stop sending, give the last message time to arrive, then the final report
//   rolling-chat.mjs <endpoint> [messagesPerSecond]
import { createServer } from "node:http";

const { HermesClient, Identity, endReasonName } = await import(
  process.env.HERMES_SDK ?? "/app/node/dist/sdk/index.js"
);
const [endpoint, rate = "20"] = process.argv.slice(2);
const PAUSE_MS = 1000 / Number(rate);
/** Pause before A tries again to start a chat (the peer's node may be restarting). */
const RETRY_MS = 1000;
/** A message unacknowledged this long counts as stalled: A gives up on its chat and starts another. */
const STALL_MS = 30_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (step, fields = {}) =>
  console.log(JSON.stringify({ at: new Date().toISOString(), step, ...fields }));

/** What each app was told and how it came back: the "how were the apps told" part of the report. */
function watch(name, app) {
  const seen = { name, nodes: [app.nodeId], disconnects: [], resumedChats: 0, chatsEnded: {}, errors: [] };
  app.on("connected", (c) => {
    seen.nodes.push(c.nodeId);
    seen.resumedChats += c.resumedChats ?? 0;
    log("connected", { app: name, node: c.nodeId, resumedChats: c.resumedChats });
  });
  app.on("disconnected", (why) => {
    seen.disconnects.push(why);
    log("disconnected", { app: name, why });
  });
  app.on("chatEnded", (chat, reason) => {
    const why = endReasonName(reason);
    seen.chatsEnded[why] = (seen.chatsEnded[why] ?? 0) + 1;
    log("chatEnded", { app: name, chat: chat.id, reason: why });
  });
  app.on("error", (e) => {
    seen.errors.push(e.message);
    log("error", { app: name, message: e.message });
  });
  return seen;
}

async function connect(avoidNode) {
  for (let attempt = 1; attempt <= 60; attempt++) {
    const app = new HermesClient({ endpoint, identity: Identity.generate() });
    app.on("error", () => {});
    try {
      await app.connect();
      if (!avoidNode || app.nodeId !== avoidNode) return app;
    } catch (e) {
      log("retry", { attempt, message: e.message });
      await sleep(RETRY_MS);
    }
    await app.close();
  }
  throw new Error(`no node${avoidNode ? ` other than ${avoidNode}` : ""} reachable at ${endpoint}`);
}

const a = await connect();
const b = await connect(a.nodeId);
const told = { a: watch("a", a), b: watch("b", b) };
log("connected both", { a: a.nodeId, b: b.nodeId });

// B: every message number as it arrives, across however many chats.
const received = [];
b.on("offer", async (offer) => {
  const chat = await offer.accept().catch((e) => log("accept failed", { message: e.message }));
  if (!chat) return;
  chat.on("message", (m) => received.push(Number(m.text().slice(2))));
});

// A: sends in order; a chat that ends is replaced and the unacknowledged message is sent again.
let acked = 0;
let chatsStarted = 0;
let sendFailures = 0;
let stalls = 0;
let stopping = false;
const sender = (async () => {
  let chat;
  while (!stopping) {
    if (!chat || chat.ended) {
      chat = await a.startChat(b.appId).catch((e) => {
        log("startChat failed", { message: e.message });
        return undefined;
      });
      if (!chat) {
        await sleep(RETRY_MS);
        continue;
      }
      chatsStarted++;
    }
    const stalled = sleep(STALL_MS).then(() => "stalled");
    const outcome = await Promise.race([chat.send(`m ${acked}`).then(() => "acked"), stalled]).catch(
      (e) => e,
    );
    if (outcome === "acked") acked++;
    else if (outcome === "stalled") {
      stalls++;
      log("send stalled", { message: acked });
      chat.delete();
      chat = undefined;
      continue;
    } else {
      sendFailures++;
      log("send failed", { message: acked, error: outcome.message });
      continue;
    }
    await sleep(PAUSE_MS);
  }
})();

function report() {
  const count = new Map();
  let reordered = 0;
  let highest = -1;
  for (const i of received) {
    count.set(i, (count.get(i) ?? 0) + 1);
    if (count.get(i) === 1 && i < highest) reordered++;
    highest = Math.max(highest, i);
  }
  let lost = 0;
  for (let i = 0; i < acked; i++) if (!count.has(i)) lost++;
  const duplicated = received.length - count.size;
  return {
    acked,
    received: received.length,
    lost,
    duplicated,
    reordered,
    chatsStarted,
    sendFailures,
    stalls,
    told,
  };
}

createServer(async (req, res) => {
  if (req.url === "/stop" && !stopping) {
    stopping = true;
    await sender;
    await sleep(2000); // the last acknowledged message is delivered before its ack, but let it land
    log("stopped", report());
  }
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify(report()));
}).listen(8080);
