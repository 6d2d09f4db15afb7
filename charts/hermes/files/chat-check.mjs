// Smoke check of a running mesh: apps exchange end-to-end encrypted messages across nodes.
// Runs in the node image (it uses the app SDK there): `helm test`, hack/kind-e2e.sh and
// docker-compose.yaml all use this one file.
//   pair   <endpoint> [count]           two apps on two different nodes behind one endpoint
//                                      (a Service: app B reconnects until it lands elsewhere)
//   listen <endpoint> <id-file> [count] an app that writes its ID, accepts a chat, expects count messages
//   talk   <endpoint> <id-file> [count] an app that chats with the ID in id-file and sends count messages
// Prints JSON lines; exits 0 only if every message arrived once, in order, and was acknowledged.
import { readFile, writeFile } from "node:fs/promises";

const { HermesClient, Identity } = await import(process.env.HERMES_SDK ?? "/app/node/dist/sdk/index.js");
const [mode, endpoint, third, fourth] = process.argv.slice(2);
const log = (step, fields = {}) => console.log(JSON.stringify({ step, ...fields }));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const deadline = (ms, what) => sleep(ms).then(() => Promise.reject(new Error(`timed out: ${what}`)));

async function connect(at, avoidNode) {
  for (let attempt = 1; attempt <= 30; attempt++) {
    const app = new HermesClient({ endpoint: at, identity: Identity.generate() });
    app.on("error", (e) => log("error", { message: e.message }));
    try {
      await app.connect();
      if (!avoidNode || app.nodeId !== avoidNode) return app;
    } catch (e) {
      log("retry", { endpoint: at, attempt, message: e.message });
      await sleep(1000);
    }
    await app.close();
  }
  throw new Error(`no node${avoidNode ? ` other than ${avoidNode}` : ""} reachable at ${at}`);
}

async function receive(app, count) {
  const chat = await Promise.race([
    new Promise((r) => app.once("offer", (o) => r(o.accept()))),
    deadline(120_000, "chat offer"),
  ]);
  const got = [];
  const all = (async () => {
    for await (const m of chat.messages()) if (got.push(m.text()) === count) return;
  })();
  await Promise.race([all, deadline(60_000, `${count} messages`)]);
  const inOrder = got.every((text, i) => text === `message ${i}`);
  if (!inOrder) throw new Error(`out of order or changed: ${JSON.stringify(got.slice(0, 5))}...`);
  return chat;
}

async function send(app, peer, count) {
  let chat;
  // The peer's node announces it by gossip: until then this node may not know where it is.
  for (let attempt = 1; !chat; attempt++) {
    chat = await app.startChat(peer).catch(async (e) => {
      if (attempt >= 60) throw e;
      log("retry", { attempt, message: e.message });
      await sleep(1000);
    });
  }
  for (let i = 0; i < count; i++)
    await Promise.race([chat.send(`message ${i}`), deadline(30_000, `ack of message ${i}`)]);
  return chat;
}

try {
  if (mode === "pair") {
    const count = Number(third ?? 20);
    const a = await connect(endpoint);
    const b = await connect(endpoint, a.nodeId);
    log("connected", { a: a.nodeId, b: b.nodeId });
    const received = receive(b, count);
    const chat = await send(a, b.appId, count);
    await received;
    chat.delete();
    log("done", { messages: count, crossNode: a.nodeId !== b.nodeId });
    await Promise.all([a.close(), b.close()]);
  } else if (mode === "listen") {
    const app = await connect(endpoint);
    await writeFile(third, app.appId);
    log("listening", { app: app.appId, node: app.nodeId });
    await receive(app, Number(fourth ?? 20));
    log("received", { messages: Number(fourth ?? 20) });
    await sleep(1000); // let the last acknowledgement leave
    await app.close();
  } else if (mode === "talk") {
    let peer = "";
    for (let i = 0; i < 120 && !peer; i++)
      peer = await readFile(third, "utf8").catch(() => sleep(1000).then(() => ""));
    const app = await connect(endpoint);
    log("talking", { app: app.appId, node: app.nodeId, to: peer });
    const chat = await send(app, peer.trim(), Number(fourth ?? 20));
    log("sent", { messages: Number(fourth ?? 20), acknowledged: true });
    chat.delete();
    await app.close();
  } else {
    throw new Error(
      "usage: chat-check.mjs pair <endpoint> [count] | listen|talk <endpoint> <id-file> [count]",
    );
  }
  process.exit(0);
} catch (e) {
  log("failed", { message: e.message });
  process.exit(1);
}
