// An app in its own process that keeps its chats in a file store (ChatStore), for the restart
// test: `node store-app.mjs <endpoint> <identity seed hex> <store path>`, the passphrase in
// HERMES_CHAT_STORE_PASSPHRASE. It prints JSON lines: {ready, restored} once connected, then
// {got, seq, chat, version} per message; it reads JSON lines: {start: appId} → {chat, version},
// {send: [texts]} → {sent} once the peer acknowledged them all.
import { createInterface } from "node:readline";
import { ChatStore, HermesClient, Identity } from "../../../node/dist/index.js";

const [endpoint, seed, path] = process.argv.slice(2);
const say = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
const store = await ChatStore.open(path, process.env.HERMES_CHAT_STORE_PASSPHRASE, {
  kdf: { memoryKiB: 256, iterations: 1, parallelism: 1 },
});
const client = new HermesClient({
  endpoint,
  identity: Identity.fromSecretKey(Buffer.from(seed, "hex")),
  store,
  reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
});
client.on("error", (error) => say({ error: error.message }));
client.on("chat", (chat) =>
  chat.on("message", (m) => say({ got: m.text(), seq: m.seq, chat: chat.id, version: chat.e2eVersion })),
);
await client.connect();
say({ ready: client.appId, restored: client.chats().map((c) => c.id) });
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line);
  if (command.start) {
    const chat = await client.startChat(command.start);
    say({ chat: chat.id, version: chat.e2eVersion });
  } else if (command.send) {
    const chat = client.chats()[0];
    await Promise.all(command.send.map((text) => chat.send(text)));
    say({ sent: command.send.length });
  }
}
