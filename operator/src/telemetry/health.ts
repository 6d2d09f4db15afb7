import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/** A check answers undefined when fine, or why not. */
export type Check = () => string | undefined;

export interface Response {
  status: number;
  contentType: string;
  body: string;
}

export type Route = () => Response | Promise<Response>;

/** Probe routes: /healthz (the process can make progress) and /readyz (it does its job). */
export function probeRoutes(checks: { live: Check; ready: Check }): Record<string, Route> {
  const answer = (check: Check): Response => {
    const problem = check();
    return problem === undefined
      ? { status: 200, contentType: "text/plain", body: "ok\n" }
      : { status: 503, contentType: "text/plain", body: `${problem}\n` };
  };
  return { "/healthz": () => answer(checks.live), "/readyz": () => answer(checks.ready) };
}

export function metricsRoutes(registry: Registry): Record<string, Route> {
  return {
    "/metrics": async () => ({
      status: 200,
      contentType: registry.contentType,
      body: await registry.metrics(),
    }),
  };
}

/** Parses ":8080" or "127.0.0.1:8080" into host and port (empty host: all interfaces). */
export function parseBind(bind: string): { host: string; port: number } {
  const at = bind.lastIndexOf(":");
  const port = Number(bind.slice(at + 1));
  if (at < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`invalid bind address "${bind}"`);
  return { host: bind.slice(0, at).replace(/^\[|\]$/g, ""), port };
}

/** A tiny GET-only HTTP server for probes and metrics. Resolves once listening. */
export async function serve(
  bind: string,
  routes: Record<string, Route>,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const route = req.method === "GET" ? routes[new URL(req.url ?? "/", "http://x").pathname] : undefined;
    if (!route) {
      res.writeHead(req.method === "GET" ? 404 : 405, { "Content-Type": "text/plain" }).end("not found\n");
      return;
    }
    Promise.resolve(route()).then(
      (r) => res.writeHead(r.status, { "Content-Type": r.contentType }).end(r.body),
      (err) => res.writeHead(500, { "Content-Type": "text/plain" }).end(`${String(err)}\n`),
    );
  });
  const { host, port } = parseBind(bind);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host || undefined, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
