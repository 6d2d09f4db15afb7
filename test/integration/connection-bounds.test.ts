import { execFileSync } from "node:child_process";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SpawnedNode, spawnNode } from "../../node/dist/cli/spawn-node.js";
import type { HermesClient } from "../../node/dist/index.js";
import { requireBuild } from "./cli.js";
import { connectApp, exchange, metric, openChat, readyzStatus, sleep } from "./mesh-helpers.js";

// A real node process whose soft descriptor limit is 256 (prlimit), flooded with HTTP/2
// connections that open no stream, from another process and address. It keeps its reserve:
// the admin port answers, the keystore flushes, a chat between two apps loses nothing, and the
// flood is closed once idle.

const LIMIT = 256;
const RESERVE = 64;
const IDLE_MS = 4000;
const FLOOD = 300;

let node: SpawnedNode;
const apps: HermesClient[] = [];
const flood: Socket[] = [];

function requirePrlimit(): void {
  try {
    execFileSync("prlimit", ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error("prlimit is missing: install util-linux (apt-get install util-linux)");
  }
}

beforeAll(async () => {
  requireBuild();
  requirePrlimit();
  node = await spawnNode({
    wrapper: ["prlimit", `--nofile=${LIMIT}:${LIMIT}`, "--"],
    flags: [
      `--limits.reservedFileDescriptors=${RESERVE}`,
      `--timeouts.connectionIdleMs=${IDLE_MS}`,
      "--keystore.flushIntervalMs=100",
    ],
  });
});

afterAll(async () => {
  for (const socket of flood) socket.destroy();
  await Promise.all(apps.map((a) => a.close()));
  await node?.stop();
});

const PREFACE = Buffer.concat([
  Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]), // an empty SETTINGS frame
]);

/** Completes the HTTP/2 preface from 127.0.0.2 and opens no stream; resolves once connected. */
function idleConnection(port: number): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect(
      { port, host: "127.0.0.1", localAddress: "127.0.0.2", allowHalfOpen: true },
      () => {
        socket.write(PREFACE);
        resolve(socket);
      },
    );
    socket.on("data", () => undefined);
    socket.on("error", () => undefined);
    flood.push(socket);
  });
}

const isGone = (s: Socket) => s.destroyed || s.readableEnded;
const appPort = () => Number(node.appEndpoint.split(":").at(-1));

describe("a node at its descriptor limit", () => {
  it("states its descriptor budget at start", () => {
    expect(node.logs.find((l) => l.limit !== undefined && l.reserve !== undefined)).toMatchObject({
      limit: LIMIT,
      reserve: RESERVE,
    });
  });

  it("keeps its reserve under a connection flood: admin answers, keystore flushes, the chat loses nothing", async () => {
    const [a, b] = await Promise.all([connectApp(node.appEndpoint), connectApp(node.appEndpoint)]);
    apps.push(a, b);
    const [ab, ba] = await openChat(a, b);
    const flushesBefore = await metric(node, "hermes_keystore_flushes_total", { result: "ok" });
    const appConnections = await metric(node, "hermes_connections", { port: "app" });

    await Promise.all(Array.from({ length: FLOOD }, () => idleConnection(appPort())));
    // Each flood connection is refused at once, or taken (and closed once idle).
    const refused = () =>
      metric(node, "hermes_connections_refused_total", { port: "app", reason: "fd_reserve" });
    const taken = async () =>
      (await metric(node, "hermes_connections", { port: "app" })) -
      appConnections +
      (await metric(node, "hermes_connections_idle_closed_total", { port: "app" }));
    for (let waited = 0; (await refused()) + (await taken()) < FLOOD && waited < 10_000; waited += 100)
      await sleep(100);
    expect((await refused()) + (await taken())).toBe(FLOOD);
    expect(await refused()).toBeGreaterThan(0);
    expect(await taken()).toBeGreaterThan(0);
    expect(flood.filter(isGone).length).toBeGreaterThanOrEqual(await refused());
    // The node never came near its limit.
    expect(await metric(node, "hermes_process_open_fds")).toBeLessThan(LIMIT - RESERVE / 2);

    // While the flood holds every descriptor it may: the admin port, the keystore and the chat.
    expect(await readyzStatus(node)).toBe(200);
    const result = await exchange(ab, ba, 100);
    for (const way of [result.ab, result.ba])
      expect(way).toEqual({ sent: 100, delivered: 100, acked: 100, inOrder: true });
    for (
      let waited = 0;
      (await metric(node, "hermes_keystore_flushes_total", { result: "ok" })) <= flushesBefore &&
      waited < 5000;
      waited += 100
    )
      await sleep(100);
    expect(await metric(node, "hermes_keystore_flushes_total", { result: "ok" })).toBeGreaterThan(
      flushesBefore,
    );
    expect(await metric(node, "hermes_keystore_flushes_total", { result: "error" })).toBe(0);
    expect(node.logs.find((l) => l.msg === "connection refused" && l.reason === "fd_reserve")).toMatchObject({
      level: "warn",
      port: "app",
      remote: "127.0.0.2",
    });
    expect(node.logs.some((l) => /EMFILE/.test(JSON.stringify(l)))).toBe(false);
  });

  it("closes the flood once idle, and takes new apps again", async () => {
    for (let waited = 0; flood.some((s) => !isGone(s)) && waited < 4 * IDLE_MS; waited += 100)
      await sleep(100);
    expect(flood.filter((s) => !isGone(s))).toHaveLength(0);
    expect(await metric(node, "hermes_connections_idle_closed_total", { port: "app" })).toBeGreaterThan(0);
    expect(node.logs.some((l) => l.msg === "idle connection closed" && l.remote === "127.0.0.2")).toBe(true);
    const late = await connectApp(node.appEndpoint);
    apps.push(late);
    expect(late.appId).toBeTruthy();
  });
});
