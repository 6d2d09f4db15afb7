// The receiving app of the relay benchmark, in its own process as a real peer app would be:
// it accepts chats and takes every message (the SDK acks them end to end). Given an app ID, it
// accepts offers from that app only and leaves the others unanswered.
import { HermesClient, Identity } from "../../node/dist/index.js";

const [endpoint, onlyFrom] = process.argv.slice(2);
const app = new HermesClient({ endpoint, identity: Identity.generate() });
app.on("offer", (offer) => {
  if (!onlyFrom || offer.fromAppId === onlyFrom) void offer.accept();
});
app.on("chat", (chat) => chat.on("message", () => {}));
await app.connect();
process.stdout.write(`${JSON.stringify({ appId: app.appId })}\n`);
process.on("SIGTERM", () => void app.close().then(() => process.exit(0)));
