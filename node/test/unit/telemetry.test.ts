import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, Metrics } from "../../src/telemetry/index.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, destination };
}

describe("logger", () => {
  it("writes JSON with base fields, ISO time and a level name", () => {
    const { lines, destination } = capture();
    createLogger({ level: "info", name: "node-a", destination }).info({ chatId: "c1" }, "chat ready");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      service: "hermes",
      node: "node-a",
      level: "info",
      chatId: "c1",
      msg: "chat ready",
    });
    expect(String(lines[0]!.time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it("redacts secrets at the top level and one level down", () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: "debug", destination });
    log.warn({ passphrase: "hunter2", app: { secretKey: "s3cr3t", id: "app1" }, ciphertext: "xyz" }, "oops");
    const text = JSON.stringify(lines);
    for (const secret of ["hunter2", "s3cr3t", "xyz"]) expect(text).not.toContain(secret);
    expect(lines[0]).toMatchObject({
      passphrase: "[redacted]",
      app: { secretKey: "[redacted]", id: "app1" },
    });
  });

  it("honours the level", () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: "warn", destination });
    log.info("hidden");
    log.error("shown");
    expect(lines.map((l) => l.msg)).toEqual(["shown"]);
  });
});

describe("metrics", () => {
  it("exposes every node metric with the hermes_ prefix", async () => {
    const metrics = new Metrics();
    metrics.sessions.set(3);
    metrics.connects.inc({ result: "ok" });
    metrics.refusedFrames.inc({ code: "out_of_order" });
    metrics.ackLatency.observe(0.002);
    metrics.setInfo("abc", "0.1.0");
    const text = await metrics.text();
    for (const name of [
      "hermes_app_sessions 3",
      'hermes_app_connects_total{result="ok"} 1',
      'hermes_app_connects_total{result="auth_failed"} 0',
      'hermes_chats{state="pending"} 0',
      "hermes_chats_started_total",
      'hermes_chats_ended_total{reason="offer_expired"} 0',
      'hermes_messages_relayed_total{scope="mesh"} 0',
      "hermes_relayed_bytes_total",
      "hermes_acks_relayed_total",
      'hermes_ack_latency_seconds_bucket{le="0.0005"} 0',
      'hermes_ack_latency_seconds_bucket{le="10"} 1',
      'hermes_refused_frames_total{code="out_of_order"} 1',
      'hermes_limit_refusals_total{limit="bad_frames"} 0',
      'hermes_keystore_flushes_total{result="error"} 0',
      "hermes_keystore_flush_seconds_bucket",
      "hermes_keystore_entries",
      'hermes_node_info{node_id="abc",version="0.1.0"} 1',
      "hermes_process_cpu_user_seconds_total",
    ]) {
      expect(text).toContain(name);
    }
    expect(metrics.contentType).toContain("text/plain");
  });

  it("folds per-message counts into their counters when read, once", async () => {
    const m = new Metrics();
    const local = m.hot(m.messagesRelayed, { scope: "local" });
    const mesh = m.hot(m.messagesRelayed, { scope: "mesh" });
    local.inc();
    local.inc(2);
    mesh.inc();
    const read = async () => {
      const text = await m.text();
      return ["local", "mesh"].map((scope) =>
        Number(new RegExp(`hermes_messages_relayed_total\\{scope="${scope}"\\} (\\d+)`).exec(text)?.[1]),
      );
    };
    expect(await read()).toEqual([3, 1]);
    expect(await read()).toEqual([3, 1]);
    local.inc();
    expect(await read()).toEqual([4, 1]);
  });

  it("keeps registries separate and lets later code declare metrics", async () => {
    const a = new Metrics();
    const b = new Metrics();
    const members = a.gauge("hermes_mesh_members", "Mesh members by state", ["state"]);
    members.set({ state: "alive" }, 2);
    expect(await a.text()).toContain('hermes_mesh_members{state="alive"} 2');
    expect(await b.text()).not.toContain("hermes_mesh_members");
    expect(() => a.counter("mesh_probes_total", "no prefix")).toThrow(/hermes_/);
  });
});
