import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { type AdminServer, type HealthReport, startAdminServer } from "../../src/admin/index.js";
import { createLogger, Metrics } from "../../src/telemetry/index.js";

const logLines: string[] = [];
const logger = createLogger({
  level: "info",
  destination: new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  }),
});

let server: AdminServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(health: HealthReport, routes?: Record<string, () => unknown>) {
  const metrics = new Metrics();
  metrics.sessions.set(2);
  server = await startAdminServer({
    host: "127.0.0.1",
    port: 0,
    metrics,
    health: () => health,
    routes,
    logger,
  });
  const base = `http://127.0.0.1:${server.port}`;
  return (path: string, init?: RequestInit) => fetch(base + path, init);
}

const healthy: HealthReport = { live: true, ready: true, checks: { keystore: { ok: true } } };
const starting: HealthReport = {
  live: true,
  ready: false,
  checks: { keystore: { ok: true }, mesh: { ok: false, detail: "joining" } },
};

describe("admin server", () => {
  it("binds port 0 to a real port", async () => {
    await start(healthy);
    expect(server!.port).toBeGreaterThan(0);
  });

  it("answers /healthz and /readyz when ready", async () => {
    const get = await start(healthy);
    const health = await get("/healthz");
    expect(health.status).toBe(200);
    expect(health.headers.get("content-type")).toContain("application/json");
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await get("/readyz");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", checks: healthy.checks });
  });

  it("answers 503 when not ready or not live", async () => {
    const get = await start(starting);
    expect((await get("/healthz")).status).toBe(200);
    const ready = await get("/readyz");
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: "not_ready", checks: starting.checks });
    await server!.close();

    const dead = await start({ live: false, ready: true, checks: { loop: { ok: false, detail: "stuck" } } });
    const health = await dead("/healthz");
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: "not_live" });
    expect((await dead("/readyz")).status).toBe(503);
  });

  it("serves Prometheus text on /metrics", async () => {
    const get = await start(healthy);
    const res = await get("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toContain("hermes_app_sessions 2");
    expect(text).toContain("# TYPE hermes_app_connects_total counter");
  });

  it("serves extra routes as JSON, including async ones", async () => {
    const get = await start(healthy, {
      "/mesh/members": () => [{ id: "n1", state: "alive" }],
      "/mesh/routes": async () => ({ routes: [] }),
    });
    const members = await get("/mesh/members?verbose=1");
    expect(members.status).toBe(200);
    expect(await members.json()).toEqual([{ id: "n1", state: "alive" }]);
    expect(await (await get("/mesh/routes")).json()).toEqual({ routes: [] });
  });

  it("answers 404 for unknown paths and 405 for other methods", async () => {
    const get = await start(healthy);
    const missing = await get("/nope");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "not found", path: "/nope" });
    const post = await get("/healthz", { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    const head = await get("/healthz", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("answers 500 without a stack trace when a handler throws, and logs it", async () => {
    const get = await start(healthy, {
      "/boom": () => {
        throw new Error("kaboom at secret place");
      },
    });
    const res = await get("/boom");
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(JSON.parse(body)).toEqual({ error: "internal error" });
    expect(body).not.toContain("kaboom");
    expect(logLines.some((l) => l.includes("kaboom") && l.includes('"path":"/boom"'))).toBe(true);
  });

  it("closes promptly despite keep-alive connections", async () => {
    const get = await start(healthy);
    expect((await get("/healthz")).status).toBe(200); // leaves a pooled keep-alive socket
    const started = Date.now();
    await server!.close();
    expect(Date.now() - started).toBeLessThan(1000);
    server = undefined;
  });
});
