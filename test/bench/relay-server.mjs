// Baseline middle hop: a raw @grpc/grpc-js server that relays every message of each incoming
// Echo stream over its own client stream to the echo server, and relays each echo back.
// Usage: node relay-server.mjs <echo port>; prints {"port": N} when serving.
import * as grpc from "@grpc/grpc-js";
import { echoService } from "./echo-server.mjs";

const [echoPort] = process.argv.slice(2);
const Client = grpc.makeGenericClientConstructor(echoService, "Echo");
const upstream = new Client(`127.0.0.1:${echoPort}`, grpc.credentials.createInsecure());
const server = new grpc.Server();
server.addService(echoService, {
  echo(call) {
    const next = upstream.echo();
    next.on("data", (message) => call.write(message));
    next.on("end", () => call.end());
    next.on("error", () => call.end());
    call.on("data", (message) => next.write(message));
    call.on("end", () => next.end());
    call.on("error", () => next.cancel());
  },
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on("SIGTERM", () => {
  server.forceShutdown();
  upstream.close();
});
