// Baseline peer: a raw @grpc/grpc-js bidirectional stream that echoes every message unchanged.
import * as grpc from "@grpc/grpc-js";

const identity = (b) => b;
export const echoService = {
  echo: {
    path: "/bench.Echo/Echo",
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = new grpc.Server();
  server.addService(echoService, {
    echo(call) {
      call.on("data", (message) => call.write(message));
      call.on("end", () => call.end());
    },
  });
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) throw error;
    process.stdout.write(`${JSON.stringify({ port })}\n`);
  });
  process.on("SIGTERM", () => server.forceShutdown());
}
