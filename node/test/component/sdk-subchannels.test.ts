// Apps of one process behind one address (a Kubernetes Service) must each get their own
// connection, or a second app can never land on another node: grpc-js pools subchannels
// globally and insecure credentials compare equal, so without a local pool every HermesClient to
// the same address rides one TCP connection.
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { HermesClient } from "../../src/sdk/index.js";
import { newApp, startTestNode } from "./harness.js";

/** A TCP proxy on loopback that sends each new connection to the next target in turn, like kube-proxy. */
async function roundRobinProxy(
  targets: number[],
): Promise<{ endpoint: string; server: Server; accepted: () => number }> {
  let next = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const port = targets[next++ % targets.length] as number;
    const upstream = createConnection({ host: "127.0.0.1", port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  server.on("close", () => {
    for (const s of sockets) s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("proxy has no port");
  return { endpoint: `127.0.0.1:${address.port}`, server, accepted: () => next };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("HermesClient connections", () => {
  it("two apps behind one address reach two different nodes (one connection each)", async () => {
    const [a, b] = [await startTestNode(), await startTestNode()];
    cleanups.push(a.cleanup, b.cleanup);
    const proxy = await roundRobinProxy([a.appPort, b.appPort]);
    cleanups.push(() => new Promise((resolve) => proxy.server.close(() => resolve())));

    const apps: HermesClient[] = [newApp(proxy.endpoint), newApp(proxy.endpoint)];
    cleanups.push(async () => {
      for (const app of apps) await app.close();
    });
    for (const app of apps) await app.connect();

    expect(proxy.accepted()).toBe(2);
    expect(new Set(apps.map((app) => app.nodeId))).toEqual(new Set([a.nodeId, b.nodeId]));
  });
});
