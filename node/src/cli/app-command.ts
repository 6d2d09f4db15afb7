import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { Identity } from "../identity/index.js";
import { FileKeyBackend, readPassphrase } from "../keystore/index.js";
import { type Chat, endReasonName, HermesClient } from "../sdk/index.js";
import { parseArgs, rejectUnknown, stringFlag } from "./args.js";

const HELP = `commands: /chat <app-id>  /find <app-id>  /delete  /who  /quit   (any other line is sent to the open chat)`;
const APP_IDENTITY = "app/identity";

/**
 * `hermes app`: a terminal chat. Lines typed are sent to the open chat; incoming offers are
 * accepted; messages and acks are printed as they arrive.
 */
export async function appCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  rejectUnknown(args, ["endpoint", "chat", "keystore", "passphrase-env"]);
  const endpoint = stringFlag(args, "endpoint", "127.0.0.1:7400");
  const identity = await loadIdentity(
    stringFlag(args, "keystore", ""),
    stringFlag(args, "passphrase-env", "HERMES_APP_PASSPHRASE"),
  );
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const client = new HermesClient({ endpoint, identity });
  let current: Chat | undefined;
  const watch = (chat: Chat) => {
    current = chat;
    out(`* chat ${chat.id} with ${chat.peerAppId} is ready`);
    chat.on("message", (m) => out(`<${chat.peerAppId.slice(0, 8)}> ${m.text()}`));
    chat.on("ended", (reason) => {
      out(`* chat ${chat.id} ended: ${endReasonName(reason)}`);
      if (current === chat) current = undefined;
    });
  };
  client.on("offer", (offer) => {
    out(`* ${offer.fromAppId} offers a chat; accepting`);
    offer.accept().then(watch, (e: Error) => out(`! ${e.message}`));
  });
  client.on("disconnected", (why) => out(`* disconnected (${why}); reconnecting`));
  client.on("error", (e) => out(`! ${e.message}`));

  await client.connect();
  out(`your app ID: ${client.appId}  (node ${client.nodeId} at ${endpoint})`);
  out(HELP);
  const first = stringFlag(args, "chat", "");
  if (first) await client.startChat(first).then(watch, (e: Error) => out(`! ${e.message}`));

  const input = createInterface({ input: process.stdin });
  for await (const line of input) {
    const [command, arg = ""] = line.trim().split(/\s+/, 2);
    if (command === "/quit") break;
    if (command === "/who") out(`app ${client.appId}, chat ${current?.id ?? "none"}`);
    else if (command === "/chat")
      await client.startChat(arg).then(watch, (e: Error) => out(`! ${e.message}`));
    else if (command === "/find")
      await client.findApp(arg).then(
        (r) => out(r.online ? `* ${arg} is online on node ${r.nodeId}` : `* ${arg} is offline`),
        (e: Error) => out(`! ${e.message}`),
      );
    else if (command === "/delete") current?.delete();
    else if (command?.startsWith("/")) out(HELP);
    else if (line.length > 0) {
      if (!current) out("! no open chat: /chat <app-id> first");
      else {
        const chat = current;
        chat.send(line).then(
          () => out(`  ✓ acked by ${chat.peerAppId.slice(0, 8)}`),
          (e: Error) => out(`! not delivered: ${e.message}`),
        );
      }
    }
  }
  await client.close();
  identity.destroy();
  return 0;
}

/** The app's identity lives in a keystore file of the node's format; without one it is ephemeral. */
async function loadIdentity(path: string, passphraseEnv: string): Promise<Identity> {
  if (!path) return Identity.generate();
  const passphrase = readPassphrase({ env: passphraseEnv, file: "" });
  if (!passphrase) throw new Error(`--keystore needs a passphrase in ${passphraseEnv}`);
  const backend = existsSync(path)
    ? await FileKeyBackend.open(path, passphrase)
    : await FileKeyBackend.create(path, passphrase);
  passphrase.fill(0);
  try {
    let secret = backend.get(APP_IDENTITY);
    if (!secret) {
      const fresh = Identity.generate();
      secret = fresh.exportSecretKey();
      backend.put(APP_IDENTITY, secret);
      fresh.destroy();
    }
    const identity = Identity.fromSecretKey(secret);
    secret.fill(0);
    return identity;
  } finally {
    await backend.close();
  }
}
