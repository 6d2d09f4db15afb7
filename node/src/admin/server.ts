import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Metrics } from "../telemetry/metrics.js";

export interface HealthReport {
  /** The process works; false asks the kubelet to restart it. */
  live: boolean;
  /** The node should receive traffic. */
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export interface AdminServerOptions {
  /** Empty means all interfaces. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  metrics: Metrics;
  health: () => HealthReport;
  /** Extra GET routes answering with JSON, e.g. "/mesh/members". */
  routes?: Record<string, () => unknown | Promise<unknown>>;
  logger: Logger;
}

export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

interface Reply {
  status: number;
  body: string;
  type: string;
}

const JSON_TYPE = "application/json; charset=utf-8";
const json = (status: number, value: unknown): Reply => ({
  status,
  body: JSON.stringify(value),
  type: JSON_TYPE,
});

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { metrics, health, logger } = options;
  const routes = new Map(Object.entries(options.routes ?? {}));

  const route = async (path: string): Promise<Reply> => {
    switch (path) {
      case "/healthz": {
        const report = health();
        return report.live
          ? json(200, { status: "ok" })
          : json(503, { status: "not_live", checks: report.checks });
      }
      case "/readyz": {
        const report = health();
        const ready = report.live && report.ready;
        return json(ready ? 200 : 503, { status: ready ? "ready" : "not_ready", checks: report.checks });
      }
      case "/metrics":
        return { status: 200, body: await metrics.text(), type: metrics.contentType };
    }
    const handler = routes.get(path);
    return handler ? json(200, await handler()) : json(404, { error: "not found", path });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://admin").pathname;
    let reply: Reply;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      reply = json(405, { error: "method not allowed", method: req.method });
    } else {
      try {
        reply = await route(path);
      } catch (err) {
        logger.error({ err, path }, "admin request failed");
        reply = json(500, { error: "internal error" }); // no stack traces to clients
      }
    }
    res.writeHead(reply.status, {
      "Content-Type": reply.type,
      "Content-Length": Buffer.byteLength(reply.body),
      "Cache-Control": "no-store",
    });
    res.end(req.method === "HEAD" ? undefined : reply.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      logger.error({ err }, "admin response failed");
      res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host || undefined, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ host: options.host, port }, "admin server listening");

  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        // Without this, idle keep-alive connections hold close() open for seconds.
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
