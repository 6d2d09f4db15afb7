// App B of the NATS anchor (nats.mjs), in its own process as Hermes's app B is: it subscribes to
// its chat's subject, opens every request with the SDK's AEAD and replies with the request's seq
// (the reply is the end-to-end ack). Usage, with the chat key in HERMES_BENCH_KEY (hex):
//   node nats-receiver.mjs <server url> <chat id>      prints {"subject": ...} once subscribed
import { connect } from "nats";
import { open } from "../../node/dist/index.js";

const [server, chatId] = process.argv.slice(2);
const key = Buffer.from(process.env.HERMES_BENCH_KEY ?? "", "hex");
const subject = `chat.${chatId}`;
const nc = await connect({ servers: server });
nc.subscribe(subject, {
  callback(error, msg) {
    try {
      if (error) throw error;
      const seq = Number(new DataView(msg.data.buffer, msg.data.byteOffset, 8).getBigUint64(0));
      open(key, chatId, seq, msg.data.subarray(8)); // throws when forged, damaged or misnumbered
      msg.respond(msg.data.subarray(0, 8));
    } catch (e) {
      process.stderr.write(`nats-receiver: ${e.stack ?? e}\n`);
      process.exit(1);
    }
  },
});
await nc.flush();
process.stdout.write(`${JSON.stringify({ subject })}\n`);
process.on("SIGTERM", () => void nc.close().then(() => process.exit(0)));
